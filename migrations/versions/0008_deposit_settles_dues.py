"""Key return settles dues from the deposit: a payment method and a ledger kind for it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:20:00

Enum columns are VARCHARs with a CHECK constraint listing the names
(app.models.base.enum_column), so a new member means a new constraint.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

METHODS = ('CASH', 'BKASH', 'NAGAD', 'SSLCOMMERZ', 'CARD', 'BANK')
KINDS = ('TAKEN', 'REFUNDED', 'FEE_DEDUCTED')


def _allow(table, column, constraint, names):
    quoted = ", ".join(f"'{name}'" for name in names)
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{constraint}'), type_='check')
        batch_op.create_check_constraint(op.f(f'ck_{table}_{constraint}'), sa.text(f"{column} IN ({quoted})"))


def upgrade():
    _allow('payment', 'method', 'paymentmethod', METHODS + ('DEPOSIT',))
    _allow('deposit_entry', 'kind', 'depositentrykind', KINDS + ('APPLIED_TO_DUES',))


def downgrade():
    _allow('deposit_entry', 'kind', 'depositentrykind', KINDS)
    _allow('payment', 'method', 'paymentmethod', METHODS)
