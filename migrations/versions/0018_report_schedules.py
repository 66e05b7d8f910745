"""Scheduled reports, emailed daily, weekly or monthly

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 15:00:00

A member of staff has a report emailed to them for the period just ended.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('report_key', sa.String(length=40), nullable=False),
    sa.Column('params', sa.Text(), nullable=True),
    sa.Column('frequency', sa.Enum('DAILY', 'WEEKLY', 'MONTHLY', name='reportfrequency', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('next_run_at', sa.DateTime(), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_report_schedule_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_schedule'))
    )
    with op.batch_alter_table('report_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_schedule_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_schedule_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_schedule_user_id'))
        batch_op.drop_index(batch_op.f('ix_report_schedule_next_run_at'))
    op.drop_table('report_schedule')
