"""A rental index by locker and client

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:10:00

The locker grid shows, on every tile, what the client holding the locker owes
on it: their invoices of their rentals of that locker. With an index on the
locker alone a locker's whole rental history (hundreds of rentals over ten
years at a chain) was read for each tile; by locker and client it reads only
the holder's.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rental', schema=None) as batch_op:
        batch_op.create_index('ix_rental_locker_client', ['locker_id', 'client_id'], unique=False)


def downgrade():
    with op.batch_alter_table('rental', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_locker_client')
