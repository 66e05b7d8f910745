"""Privacy: clients' deletion requests; privacy permissions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00

A deletion request records who asked for a client's data to be deleted, when
and how, and what became of it (SPEC S5); the nightly job anonymises the
client once the retention period is over. Super Admins and Managers get the
new "privacy" permissions (the requests, a client's data export, recording
and cancelling requests) as a fresh install gives them; roles staff made
themselves are left for a Super Admin to decide.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


# The "privacy" permissions of the built-in roles (app.services.access.DEFAULT_ROLES).
PRIVACY_GRANTS = {
    'Super Admin': ('privacy-view', 'privacy-create', 'privacy-edit'),
    'Manager': ('privacy-view', 'privacy-create', 'privacy-edit'),
}


def _grant_privacy_permissions(revoke=False):
    role = sa.table('role', sa.column('id', sa.Integer), sa.column('name', sa.String),
                    sa.column('permissions', sa.Text))
    bind = op.get_bind()
    for role_id, name, permissions in bind.execute(sa.select(role.c.id, role.c.name,
                                                             role.c.permissions)).all():
        if name not in PRIVACY_GRANTS:
            continue
        current = set(filter(None, (permissions or '').split(',')))
        wanted = (current - set(PRIVACY_GRANTS[name]) if revoke
                  else current | set(PRIVACY_GRANTS[name]))
        bind.execute(role.update().where(role.c.id == role_id)
                     .values(permissions=','.join(sorted(wanted))))


def upgrade():
    op.create_table('deletion_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Enum('CLIENT', 'REPRESENTATIVE', name='requester', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('representative', sa.String(length=120), nullable=True),
    sa.Column('received_via', sa.Enum('IN_PERSON', 'PHONE', 'EMAIL', 'LETTER', name='requestchannel', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('PENDING', 'DONE', 'CANCELLED', name='deletionstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('anonymised_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_deletion_request_branch_id_branch')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['user.id'], name=op.f('fk_deletion_request_cancelled_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_deletion_request_client_id_client')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_deletion_request_recorded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_request'))
    )
    with op.batch_alter_table('deletion_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deletion_request_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deletion_request_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deletion_request_status'), ['status'], unique=False)

    _grant_privacy_permissions()


def downgrade():
    _grant_privacy_permissions(revoke=True)
    with op.batch_alter_table('deletion_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deletion_request_status'))
        batch_op.drop_index(batch_op.f('ix_deletion_request_client_id'))
        batch_op.drop_index(batch_op.f('ix_deletion_request_branch_id'))

    op.drop_table('deletion_request')
