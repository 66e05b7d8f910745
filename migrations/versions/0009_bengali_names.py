"""Master data named in Bengali too: floors, zones, locker categories and client tags

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:10:00

Each gets a nullable name_bn beside its English name; screens show it to
Bengali readers and fall back to the English name while it is empty, so
existing rows need no value.

The company name no longer defaults to the placeholder "Locker desk gym":
an install that never changed it is set back to empty, so its invoices print
the branch's name until the gym names itself (app.services.settings.company).
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Each table and the length of its English name, which the Bengali one shares.
TABLES = (('floor', 60), ('zone', 60), ('locker_category', 60), ('tag', 40))
# Setting values are JSON text (app.models.base.JSONText).
OLD_PLACEHOLDER = '"Locker desk gym"'


def upgrade():
    for table, length in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('name_bn', sa.String(length=length), nullable=True))
    setting = sa.table('setting', sa.column('key', sa.String), sa.column('value', sa.Text))
    op.execute(setting.update()
               .where(setting.c.key == 'company_name', setting.c.value == OLD_PLACEHOLDER)
               .values(value='""'))


def downgrade():
    for table, _length in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('name_bn')
