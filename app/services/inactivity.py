"""Which clients have gone inactive, kept on each client as their rentals change.

A client is inactive once the term of the rental they started last has ended,
that term was not renewed, and they hold no locker (the "inactive clients"
report, SPEC Rep3). Finding them from the rentals alone means probing every term
that ended for a renewal, a later rental and a locker still held: seconds over a
chain's year, whose tens of thousands of such clients sit among millions of
rentals. So each client row keeps the answer — Client.inactive_rental_id (that
last rental) and Client.inactive_since (when its term ended), both NULL while the
client is active — written by _keep_inactive in the flush that changes any of the
client's rentals, and figures.inactive_clients reads them by one index.

The answer changes only when a rental does (a term that runs out leaves its key
with the client until it is handed back), so no clock-driven job is needed.
"""
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import Client
from app.models import Rental
from app.services.figures import RENTED
from app.services.figures import _term_end_sql
from app.services.transactions import in_slices
from app.services.transactions import show_kept_values


def inactive_rental_sql():
    """SQL, correlated to Client: the rental after which the client is inactive, or NULL.

    The definition of Client.inactive_rental_id: of the rentals the client started
    last (status rented, at least a day), the one whose term ended last, provided
    it was not renewed and the client holds no locker now.
    """
    renewal, later, holding = aliased(Rental), aliased(Rental), aliased(Rental)
    last = (sa.select(Rental.id)
            .where(Rental.client_id == Client.id, Rental.status.in_(RENTED), Rental.days > 0,
                   ~sa.exists().where(renewal.renewed_from_id == Rental.id),
                   ~sa.exists().where(later.client_id == Rental.client_id,
                                      later.status.in_(RENTED),
                                      later.starts_at > Rental.starts_at))
            .order_by(_term_end_sql().desc(), Rental.id.desc())
            .limit(1)
            .scalar_subquery())
    holds_a_locker = sa.exists().where(holding.client_id == Client.id,
                                       holding.holding_locker_id.is_not(None))
    return sa.case((holds_a_locker, sa.null()), else_=last)


def inactive_since_sql():
    """SQL, correlated to Client: when the term of its inactive_rental_id ended (NULL if none)."""
    return (sa.select(_term_end_sql()).where(Rental.id == Client.inactive_rental_id)
            .scalar_subquery())


def keep_inactive_again(client_ids=None, connection=None):
    """Write inactive_rental_id and inactive_since afresh (for every client by default).

    For rentals written around the session (a bulk load, a migration) and for
    checking: the session keeps them otherwise. Returns how many clients were written.
    """
    connection = connection if connection is not None else db.session.connection()
    if client_ids is None:
        slices = [None]
    else:
        slices = in_slices(sorted(set(client_ids) - {None}))
    written = 0
    for ids in slices:
        # Two statements: the second reads the rental the first chose (within one
        # UPDATE, PostgreSQL and SQLite would read the column's old value, MariaDB the new).
        for values in ({"inactive_rental_id": inactive_rental_sql()},
                       {"inactive_since": inactive_since_sql()}):
            # Not an edit of the client: updated_at stays (its onupdate would set it).
            stmt = sa.update(Client).values(**values, updated_at=Client.updated_at)
            if ids is not None:
                stmt = stmt.where(Client.id.in_(ids))
            result = connection.execute(stmt)
        written += result.rowcount
    return written


def _clients_touched(session):
    """Ids of the clients whose rentals this flush adds, changes or removes."""
    ids = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Rental):
            history = sa.inspect(obj).attrs.client_id.history
            ids.update((obj.client_id, *history.deleted))
    return ids - {None}


def _keep_inactive(session, flush_context):
    """Write the inactivity of every client whose rentals this flush touched, in its transaction."""
    ids = _clients_touched(session)
    if not ids:
        return
    connection = session.connection()
    keep_inactive_again(ids, connection)
    show_kept_values(session, Client, ids, Client.inactive_rental_id, Client.inactive_since)


def install_listeners():
    """Keep clients' inactivity from every session; safe to call again."""
    if not sa.event.contains(Session, "after_flush", _keep_inactive):
        sa.event.listen(Session, "after_flush", _keep_inactive)
