"""Online payments: payment links and the ledger of gateway transactions; backup permissions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:26:19

A gateway's transaction id is unique per gateway (a NULL, before the gateway
gives one, repeats freely on all three databases), so one movement of money is
credited once whatever the number of callbacks, processes and hosts. Staff
send a payment link as a message of its own kind (its templates come with
`flask seed`). Super Admins get the new "backups" permissions, as a fresh install
gives them, and the activity log records a backup downloaded.
"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

MESSAGE_KINDS = ('WELCOME', 'ASSIGNMENT', 'RECEIPT', 'REMINDER', 'OVERDUE', 'RESERVATION_LAPSED',
                 'WAITLIST_OFFER', 'ABANDONED', 'CAMPAIGN')


BACKUP_PERMISSIONS = ('backups-view', 'backups-create', 'backups-edit')


def _grant_backup_permissions(revoke=False):
    role = sa.table('role', sa.column('id', sa.Integer), sa.column('name', sa.String),
                    sa.column('permissions', sa.Text))
    bind = op.get_bind()
    for role_id, permissions in bind.execute(
            sa.select(role.c.id, role.c.permissions).where(role.c.name == 'Super Admin')).all():
        current = set(filter(None, (permissions or '').split(',')))
        wanted = current - set(BACKUP_PERMISSIONS) if revoke else current | set(BACKUP_PERMISSIONS)
        bind.execute(role.update().where(role.c.id == role_id)
                     .values(permissions=','.join(sorted(wanted))))


ACTIVITY_ACTIONS = ('CREATE', 'UPDATE', 'DELETE', 'LOGIN', 'LOGIN_FAILED', 'LOGOUT', 'LOCKED_OUT',
                    'PASSWORD_CHANGED')


def _allow_activity_actions(names):
    quoted = ", ".join(f"'{name}'" for name in names)
    with op.batch_alter_table('activity_log', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_activity_log_activityaction'), type_='check')
        batch_op.create_check_constraint(op.f('ck_activity_log_activityaction'),
                                         sa.text(f"action IN ({quoted})"))


def _allow_message_kinds(names):
    # Enum columns are VARCHARs with a CHECK constraint of the names (app.models.base).
    quoted = ", ".join(f"'{name}'" for name in names)
    for table in ('message_template', 'notification'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_messagekind'), type_='check')
            batch_op.create_check_constraint(op.f(f'ck_{table}_messagekind'),
                                             sa.text(f"kind IN ({quoted})"))


def upgrade():
    _allow_message_kinds(MESSAGE_KINDS + ('PAYMENT_LINK',))
    _grant_backup_permissions()
    _allow_activity_actions(ACTIVITY_ACTIONS + ('DOWNLOADED',))
    op.create_table('payment_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_payment_link_created_by_id_user')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_payment_link_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_link'))
    )
    with op.batch_alter_table('payment_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_link_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('gateway_transaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.Enum('BKASH', 'NAGAD', 'SSLCOMMERZ', name='gateway', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status', sa.Enum('STARTED', 'PENDING', 'COMPLETED', 'UNAPPLIED', 'FAILED', 'CANCELLED', 'EXPIRED', 'REFUNDED', name='gatewaystatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=30), nullable=False),
    sa.Column('gateway_reference', sa.String(length=120), nullable=True),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('amount_poisha', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.Column('next_check_at', sa.DateTime(), nullable=True),
    sa.Column('refund_started_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('exchanges', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_poisha > 0', name=op.f('ck_gateway_transaction_gateway_amount_positive')),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_gateway_transaction_branch_id_branch')),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_gateway_transaction_client_id_client')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_gateway_transaction_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['link_id'], ['payment_link.id'], name=op.f('fk_gateway_transaction_link_id_payment_link')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_gateway_transaction_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_transaction')),
    sa.UniqueConstraint('gateway', 'transaction_id', name=op.f('uq_gateway_transaction_gateway_transaction_id')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_gateway_transaction_payment_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_gateway_transaction_reference'))
    )
    with op.batch_alter_table('gateway_transaction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_transaction_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_gateway_reference'), ['gateway_reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_link_id'), ['link_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_next_check_at'), ['next_check_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gateway_transaction_status'), ['status'], unique=False)



def downgrade():
    _grant_backup_permissions(revoke=True)
    op.execute(sa.text("DELETE FROM activity_log WHERE action = 'DOWNLOADED'"))
    _allow_activity_actions(ACTIVITY_ACTIONS)
    for table in ('notification', 'message_template'):
        op.execute(sa.text(f"DELETE FROM {table} WHERE kind = 'PAYMENT_LINK'"))
    _allow_message_kinds(MESSAGE_KINDS)
    with op.batch_alter_table('gateway_transaction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_status'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_next_check_at'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_link_id'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_gateway_reference'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_client_id'))
        batch_op.drop_index(batch_op.f('ix_gateway_transaction_branch_id'))

    op.drop_table('gateway_transaction')
    with op.batch_alter_table('payment_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_link_invoice_id'))

    op.drop_table('payment_link')
