"""Locker analytics (SPEC L5): time on locker, turnover, lockers nobody rents."""

from collections import defaultdict
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Locker
from app.models import Rental
from app.models import RentalStatus
from app.models import Zone
from app.models import utcnow
from app.models.base import local_name

COUNTED = (RentalStatus.ACTIVE, RentalStatus.EXPIRED, RentalStatus.RELEASED, RentalStatus.ABANDONED)


def _in_branch(stmt, column, branch_id):
    return stmt if branch_id is None else stmt.where(column == branch_id)


def time_on_locker(branch_id=None, months=12):
    """Average and longest time on a locker per zone, for rentals started in the period.

    Returns [(zone name, rentals, average days, longest days)] sorted by zone.
    """
    since = utcnow() - timedelta(days=30 * months)
    stmt = _in_branch(
        sa.select(Zone.name, Zone.name_bn, Rental.starts_at, Rental.ends_at)
        .join(Locker, Rental.locker_id == Locker.id).join(Zone, Locker.zone_id == Zone.id)
        .where(Rental.status.in_(COUNTED), Rental.starts_at >= since),
        Rental.branch_id, branch_id)
    now = utcnow()
    per_zone = defaultdict(list)
    for zone, zone_bn, starts_at, ends_at in db.session.execute(stmt):
        per_zone[local_name(zone, zone_bn)].append(max(0, (min(ends_at, now) - starts_at).days))
    return [(zone, len(days), round(sum(days) / len(days), 1), max(days))
            for zone, days in sorted(per_zone.items())]


def turnover(branch_id=None, months=12, limit=20):
    """Distinct clients per locker in the period: (average over lockers, busiest lockers).

    The busiest list is [(locker number, zone name, distinct clients)], most first.
    """
    since = utcnow() - timedelta(days=30 * months)
    per_locker = _in_branch(
        sa.select(Locker.number, Zone.name, Zone.name_bn,
                  sa.func.count(sa.distinct(Rental.client_id)))
        .join(Rental, Rental.locker_id == Locker.id).join(Zone, Locker.zone_id == Zone.id)
        .where(Rental.status.in_(COUNTED), Rental.starts_at >= since)
        .group_by(Locker.id, Locker.number, Zone.name, Zone.name_bn),
        Locker.branch_id, branch_id)
    rows = [(number, local_name(zone, zone_bn), clients)
            for number, zone, zone_bn, clients in db.session.execute(per_locker)]
    locker_count = db.session.execute(_in_branch(
        sa.select(sa.func.count()).select_from(Locker), Locker.branch_id, branch_id)).scalar_one()
    average = round(sum(r[2] for r in rows) / locker_count, 2) if locker_count else 0
    busiest = sorted(rows, key=lambda r: (-r[2], r[0]))[:limit]
    return average, busiest


def never_rented(branch_id=None, months=6):
    """Lockers with no rental started in the last `months` months, by number."""
    since = utcnow() - timedelta(days=30 * months)
    recent = sa.select(Rental.locker_id).where(Rental.starts_at >= since,
                                               Rental.status != RentalStatus.CANCELLED)
    stmt = _in_branch(sa.select(Locker).where(Locker.id.not_in(recent)).order_by(Locker.number),
                      Locker.branch_id, branch_id)
    return db.session.execute(stmt).scalars().all()
