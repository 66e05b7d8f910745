"""Flushes far larger than a statement's parameter limit (a bulk load, a mass correction).

A statement may bind at most 65,535 parameters on PostgreSQL and MariaDB (and
32,766 on SQLite, unless it was built with more, as Debian's is). The hooks
that run on every flush and commit (the activity log, the domain events and
whoever listens to them, such as the grid's change feed) must never build one
statement from every row a flush touched, however many that is.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import utcnow

# PostgreSQL's and MariaDB's limit on bound parameters per statement.
MAX_PARAMETERS = 65_535
# More rows than that, with a margin.
ROWS = 66_000


@contextmanager
def largest_statement():
    """Yields [n]: the most parameters any one statement bound inside the block.

    Checked on every database, so a SQLite built with a higher limit still
    catches a statement that PostgreSQL and MariaDB would refuse.
    """
    largest = [0]

    def count(conn, cursor, statement, parameters, context, executemany):
        for one in (parameters if executemany else [parameters]):
            largest[0] = max(largest[0], len(one or ()))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield largest
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def _rentals_with_payments(locker, client, count):
    """`count` ended rentals of `locker`, each with one payment, inserted in bulk."""
    now = utcnow()
    starts = now - timedelta(days=40)
    rental = Rental.__table__
    db.session.execute(rental.insert(), [
        {"branch_id": client.branch_id, "locker_id": locker.id,
         "client_id": client.id, "term": RentalTerm.DAILY, "days": 1, "starts_at": starts,
         "ends_at": starts + timedelta(days=1), "status": RentalStatus.RELEASED,
         "price_poisha": 5000, "created_at": now, "updated_at": now}
        for _ in range(count)])
    rental_ids = db.session.execute(sa.select(rental.c.id).order_by(rental.c.id)).scalars().all()
    db.session.execute(Payment.__table__.insert(), [
        {"branch_id": client.branch_id, "client_id": client.id, "rental_id": rental_id,
         "amount_poisha": 5000, "method": PaymentMethod.CASH, "status": PaymentStatus.PAID,
         "paid_at": starts, "created_at": now, "updated_at": now}
        for rental_id in rental_ids])
    db.session.commit()


# Run where the limit bites: PostgreSQL binds parameters on the server, at most 65,535
# per statement, while PyMySQL writes them into the statement's text and Debian's
# SQLite allows more. Elsewhere the 66,000-row flush cost 35-75 s a run and could only
# fail for a reason this run already catches (largest_statement counts on any database).
@pytest.mark.slow
@pytest.mark.databases("postgresql")
def test_a_flush_touching_more_rows_than_a_statement_can_bind_is_saved_and_logged(desk):
    """Correcting 66,000 payments in one transaction saves and logs each one, statement by statement."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    _rentals_with_payments(locker, client, ROWS)

    # Only the payments are in the session, not the rentals or the locker behind them.
    payments = db.session.execute(sa.select(Payment)).scalars().all()
    assert len(payments) == ROWS
    for payment in payments:
        payment.reference = "corrected"
    with largest_statement() as largest:
        db.session.flush()
        db.session.commit()
    del payments
    assert largest[0] <= MAX_PARAMETERS

    assert db.session.execute(sa.select(sa.func.count()).select_from(Payment)
                              .where(Payment.reference == "corrected")).scalar_one() == ROWS
    logged = db.session.execute(sa.select(sa.func.count()).select_from(ActivityLog).where(
        ActivityLog.action == ActivityAction.UPDATE, ActivityLog.model == "Payment")).scalar_one()
    assert logged == ROWS
