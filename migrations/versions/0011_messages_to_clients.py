"""Messages to clients: templates, the notification outbox and delivery log, campaigns, consent

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:47:26

The shipped Bengali and English templates are added by `flask seed` (which
`make run` calls), not here, so a gym's edited templates are never overwritten.
The four built-in roles get the new "messages" permissions as a fresh install
gives them; roles staff made themselves are left for a Super Admin to decide.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


# The "messages" permissions of each built-in role (app.services.access.DEFAULT_ROLES).
MESSAGE_GRANTS = {
    'Super Admin': ('messages-view', 'messages-create', 'messages-edit'),
    'Manager': ('messages-view', 'messages-create', 'messages-edit'),
    'Front Desk': ('messages-view', 'messages-create'),
    'Accountant': ('messages-view',),
}


def _grant_message_permissions(revoke=False):
    role = sa.table('role', sa.column('id', sa.Integer), sa.column('name', sa.String),
                    sa.column('permissions', sa.Text))
    bind = op.get_bind()
    for role_id, name, permissions in bind.execute(sa.select(role.c.id, role.c.name,
                                                             role.c.permissions)).all():
        if name not in MESSAGE_GRANTS:
            continue
        current = set(filter(None, (permissions or '').split(',')))
        wanted = (current - set(MESSAGE_GRANTS[name]) if revoke
                  else current | set(MESSAGE_GRANTS[name]))
        bind.execute(role.update().where(role.c.id == role_id)
                     .values(permissions=','.join(sorted(wanted))))


def upgrade():
    op.create_table('message_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('WELCOME', 'ASSIGNMENT', 'RECEIPT', 'REMINDER', 'OVERDUE', 'RESERVATION_LAPSED', 'WAITLIST_OFFER', 'ABANDONED', 'CAMPAIGN', name='messagekind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('channel', sa.Enum('EMAIL', 'SMS', 'WHATSAPP', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('language', sa.Enum('BENGALI', 'ENGLISH', name='language', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('whatsapp_name', sa.String(length=120), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_template')),
    sa.UniqueConstraint('kind', 'channel', 'language', name=op.f('uq_message_template_kind_channel_language'))
    )
    op.create_table('consent_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('EMAIL', 'SMS', 'WHATSAPP', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('opted_in', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['user.id'], name=op.f('fk_consent_change_changed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_consent_change_client_id_client'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_change'))
    )
    with op.batch_alter_table('consent_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_change_client_id'), ['client_id'], unique=False)

    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('channel', sa.Enum('EMAIL', 'SMS', 'WHATSAPP', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body_bn', sa.Text(), nullable=False),
    sa.Column('body_en', sa.Text(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('expiring_within_days', sa.Integer(), nullable=True),
    sa.Column('holders_only', sa.Boolean(), nullable=False),
    sa.Column('per_minute', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('DRAFT', 'SENDING', 'CANCELLED', name='campaignstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_campaign_branch_id_branch')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_campaign_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['started_by_id'], ['user.id'], name=op.f('fk_campaign_started_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['zone_id'], ['zone.id'], name=op.f('fk_campaign_zone_id_zone')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign'))
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_status'), ['status'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('WELCOME', 'ASSIGNMENT', 'RECEIPT', 'REMINDER', 'OVERDUE', 'RESERVATION_LAPSED', 'WAITLIST_OFFER', 'ABANDONED', 'CAMPAIGN', name='messagekind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('channel', sa.Enum('EMAIL', 'SMS', 'WHATSAPP', name='channel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('language', sa.Enum('BENGALI', 'ENGLISH', name='language', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('rental_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('facts', sa.Text(), nullable=True),
    sa.Column('respects_quiet_hours', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED', 'UNCERTAIN', 'EXPIRED', 'CANCELLED', name='messagestatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=255), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.String(length=128), nullable=True),
    sa.Column('cost_poisha', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_notification_branch_id_branch')),
    sa.ForeignKeyConstraint(['by_user_id'], ['user.id'], name=op.f('fk_notification_by_user_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_notification_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_notification_client_id_client')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_notification_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_notification_payment_id_payment')),
    sa.ForeignKeyConstraint(['rental_id'], ['rental.id'], name=op.f('fk_notification_rental_id_rental')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notification_dedupe_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_notification_channel_sent', ['channel', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_rental_id'), ['rental_id'], unique=False)
        batch_op.create_index('ix_notification_status_due', ['status', 'due_at'], unique=False)

    _grant_message_permissions()

def downgrade():
    _grant_message_permissions(revoke=True)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_status_due')
        batch_op.drop_index(batch_op.f('ix_notification_rental_id'))
        batch_op.drop_index(batch_op.f('ix_notification_provider_id'))
        batch_op.drop_index(batch_op.f('ix_notification_event_id'))
        batch_op.drop_index(batch_op.f('ix_notification_created_at'))
        batch_op.drop_index(batch_op.f('ix_notification_client_id'))
        batch_op.drop_index('ix_notification_channel_sent')
        batch_op.drop_index(batch_op.f('ix_notification_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_notification_branch_id'))

    op.drop_table('notification')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_status'))
        batch_op.drop_index(batch_op.f('ix_campaign_branch_id'))

    op.drop_table('campaign')
    with op.batch_alter_table('consent_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_change_client_id'))

    op.drop_table('consent_change')
    op.drop_table('message_template')
