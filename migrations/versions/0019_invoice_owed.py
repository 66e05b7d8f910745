"""What is still owed on each invoice, kept with it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:20:00

Dues, the dashboard's paid / unpaid / overdue invoices and a client's
payment state summed every invoice's payments and refunds each time they
were asked: seconds over a chain's million invoices. The amount owed is now
kept on the invoice by the billing service (total − received + refunded, 0
once cancelled), filled in here from the payments, and indexed so the open
invoices are read alone.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# app.services.billing.owed_from_payments_sql, as SQL: migrations do not import the app.
OWED = """
UPDATE invoice SET owed_poisha = CASE WHEN cancelled_at IS NOT NULL THEN 0 ELSE
    total_poisha
    - (SELECT COALESCE(SUM(payment.amount_poisha), 0) FROM payment
       WHERE payment.invoice_id = invoice.id AND payment.status IN ('PAID', 'REFUNDED'))
    + (SELECT COALESCE(SUM(refund.amount_poisha), 0) FROM refund
       JOIN payment ON refund.payment_id = payment.id WHERE payment.invoice_id = invoice.id)
END
"""


def upgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owed_poisha', sa.BigInteger(), server_default='0', nullable=False))
    op.execute(OWED)
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_owed', ['owed_poisha', 'branch_id'], unique=False)


def downgrade():
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_owed')
        batch_op.drop_column('owed_poisha')
