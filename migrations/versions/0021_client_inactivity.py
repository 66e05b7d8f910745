"""Whether each client has gone inactive, kept with the client

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 17:10:00

The inactive-clients report probed every term that ended in its range for a
renewal, a later rental and a locker still held: five seconds over a chain's
year. The client row now keeps the rental after which the client went inactive
and when its term ended (app.services.inactivity keeps them with every change to
a client's rentals); they are filled in here from the rentals, and the date is
indexed so the report reads its range alone.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# app.services.inactivity.inactive_rental_sql and inactive_since_sql, as SQL: migrations
# do not import the app.
RENTED = "('ACTIVE', 'EXPIRED', 'RELEASED', 'ABANDONED')"
TERM_END = ("CASE WHEN r.ended_at IS NOT NULL AND r.ended_at < r.ends_at "
            "THEN r.ended_at ELSE r.ends_at END")
INACTIVE_RENTAL = f"""
UPDATE client SET inactive_rental_id = CASE
    WHEN EXISTS (SELECT 1 FROM rental h WHERE h.client_id = client.id
                 AND h.holding_locker_id IS NOT NULL) THEN NULL
    ELSE (SELECT r.id FROM rental r
          WHERE r.client_id = client.id AND r.status IN {RENTED} AND r.days > 0
          AND NOT EXISTS (SELECT 1 FROM rental n WHERE n.renewed_from_id = r.id)
          AND NOT EXISTS (SELECT 1 FROM rental l WHERE l.client_id = r.client_id
                          AND l.status IN {RENTED} AND l.starts_at > r.starts_at)
          ORDER BY {TERM_END} DESC, r.id DESC LIMIT 1)
END
"""
INACTIVE_SINCE = f"""
UPDATE client SET inactive_since =
    (SELECT {TERM_END} FROM rental r WHERE r.id = client.inactive_rental_id)
"""


def upgrade():
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inactive_rental_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('inactive_since', sa.DateTime(), nullable=True))
    op.execute(INACTIVE_RENTAL)
    op.execute(INACTIVE_SINCE)
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_inactive_since'), ['inactive_since'], unique=False)


def downgrade():
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_inactive_since'))
        batch_op.drop_column('inactive_since')
        batch_op.drop_column('inactive_rental_id')
