"""Figures for the dashboard and the financial report, scoped to a branch."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import func

from app.extensions import db
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalStatus
from app.services import clock


def _in_branch(stmt, column, branch_id):
    return stmt if branch_id is None else stmt.where(column == branch_id)


def locker_status_counts(branch_id=None):
    """{LockerStatus: count} including zeros, for the dashboard cards."""
    stmt = _in_branch(db.select(Locker.status, func.count()).group_by(Locker.status),
                      Locker.branch_id, branch_id)
    counts = dict.fromkeys(LockerStatus, 0)
    counts.update(dict(db.session.execute(stmt).all()))
    return counts


def occupancy_percent(counts):
    """Share of usable lockers (not in maintenance/out of service) that are taken."""
    usable = sum(n for status, n in counts.items()
                 if status not in (LockerStatus.MAINTENANCE, LockerStatus.OUT_OF_SERVICE))
    taken = counts[LockerStatus.ASSIGNED] + counts[LockerStatus.RESERVED] + counts[LockerStatus.EXPIRED]
    return round(100 * taken / usable) if usable else 0


def expiring_soon_condition(days=7):
    """Active rentals ending today or in the next `days` days, in branch days (SPEC R4)."""
    return sa.and_(Rental.status == RentalStatus.ACTIVE, clock.branch_days_condition(
        Rental.ends_at, Rental.branch_id, timedelta(0), timedelta(days=days)))

