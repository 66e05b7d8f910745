"""Domain events: the outbox every desk action writes to

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('domain_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('locker_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('rental_id', sa.Integer(), nullable=True),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_event'))
    )
    with op.batch_alter_table('domain_event', schema=None) as batch_op:
        batch_op.create_index('ix_domain_event_branch_occurred', ['branch_id', 'occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_domain_event_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_domain_event_locker_id'), ['locker_id'], unique=False)
        batch_op.create_index('ix_domain_event_undelivered', ['dispatched_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('domain_event', schema=None) as batch_op:
        batch_op.drop_index('ix_domain_event_undelivered')
        batch_op.drop_index(batch_op.f('ix_domain_event_locker_id'))
        batch_op.drop_index(batch_op.f('ix_domain_event_client_id'))
        batch_op.drop_index('ix_domain_event_branch_occurred')

    op.drop_table('domain_event')
