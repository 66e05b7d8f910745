"""Each user's dashboard layout

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:40:00

A user arranges their own dashboard (which widgets, order, size); a user
without a row sees their role's default.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_layout',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('widgets', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_dashboard_layout_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_dashboard_layout'))
    )


def downgrade():
    op.drop_table('dashboard_layout')
