"""Dark and light mode per staff member

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:30:00

Each user gets a theme, "light" or "dark" (SPEC U2). Everyone starts in light
mode, the only look the desk had, so existing accounts get "light" from the
column's server default.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('theme', sa.String(length=24), nullable=False,
                                      server_default='light'))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('theme')
