"""A client's history read from indexes in its order

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 18:10:00

A client's profile shows their rentals and payments newest first, a page at a
time, and their open invoices. By the client alone, a regular's thousands of
rows were each read and then sorted (on MariaDB, with its small default buffer
pool, half a second a profile); by client and date the page is read in order
and the reading stops there. Each new index starts with client_id, so the
client_id index it replaces (and the foreign key that needs one) is covered.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# (table, the index replaced, the new one, its columns)
INDEXES = [
    ("rental", "ix_rental_client_id", "ix_rental_client_starts_at", ["client_id", "starts_at"]),
    ("payment", "ix_payment_client_id", "ix_payment_client_paid_at", ["client_id", "paid_at"]),
    ("invoice", "ix_invoice_client_id", "ix_invoice_client_owed", ["client_id", "owed_poisha"]),
]


def upgrade():
    for table, old, new, columns in INDEXES:
        # The new index first: MariaDB keeps the foreign key's index until another covers it.
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(new, columns, unique=False)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(old)


def downgrade():
    for table, old, new, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(old, [columns[0]], unique=False)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(new)
