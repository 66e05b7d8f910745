"""Figures of days that are over, counted once and kept

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 18:40:00

A year's utilisation, heatmap or renewal rate walked every rental of the year:
seconds at a chain's size. The worker now counts each finished day once per
locker-week and per branch-day (app.services.day_figures) and the reports add up days;
DaysCounted says how far each branch is counted. Nothing is filled in here:
the worker counts the past on its first runs, and until then the reports count
live as before. Terms ending in a range are found per branch by a new index.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('locker_week',
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('occupied_seconds', sa.Integer(), nullable=False),
    sa.Column('usable_seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_locker_week_branch_id_branch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['locker_id'], ['locker.id'], name=op.f('fk_locker_week_locker_id_locker'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('locker_id', 'week', name=op.f('pk_locker_week'))
    )
    with op.batch_alter_table('locker_week', schema=None) as batch_op:
        batch_op.create_index('ix_locker_week_branch_week', ['branch_id', 'week'], unique=False)

    op.create_table('branch_day',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('occupied_seconds', sa.BigInteger(), nullable=False),
    sa.Column('usable_seconds', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_branch_day_branch_id_branch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', 'day', name=op.f('pk_branch_day'))
    )
    op.create_table('terms_day',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('ended', sa.Integer(), nullable=False),
    sa.Column('renewed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_terms_day_branch_id_branch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', 'day', name=op.f('pk_terms_day'))
    )
    op.create_table('retention_month',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('clients_at_start', sa.Integer(), nullable=False),
    sa.Column('clients_still', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_retention_month_branch_id_branch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', 'month', name=op.f('pk_retention_month'))
    )
    with op.batch_alter_table('rental', schema=None) as batch_op:
        batch_op.create_index('ix_rental_branch_ends_at', ['branch_id', 'ends_at'], unique=False)
        batch_op.create_index('ix_rental_ended_at', ['ended_at'], unique=False)
    op.create_table('days_counted',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('time_through', sa.Date(), nullable=False),
    sa.Column('terms_through', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_days_counted_branch_id_branch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', name=op.f('pk_days_counted'))
    )


def downgrade():
    op.drop_table('days_counted')
    op.drop_table('retention_month')
    with op.batch_alter_table('rental', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_ended_at')
        batch_op.drop_index('ix_rental_branch_ends_at')
    op.drop_table('terms_day')
    op.drop_table('branch_day')
    with op.batch_alter_table('locker_week', schema=None) as batch_op:
        batch_op.drop_index('ix_locker_week_branch_week')
    op.drop_table('locker_week')
