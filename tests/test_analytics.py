"""Locker analytics: time on locker, turnover, lockers nobody rents (SPEC L5)."""

from datetime import timedelta

from app.extensions import db
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import utcnow
from app.services import analytics


def _rent(locker, client, started_days_ago, days, status=RentalStatus.RELEASED):
    start = utcnow() - timedelta(days=started_days_ago)
    db.session.add(Rental(branch_id=locker.branch_id, locker=locker, client=client,
                          term=RentalTerm.CUSTOM, days=days, starts_at=start,
                          ends_at=start + timedelta(days=days), status=status, price_poisha=100))


def test_time_turnover_and_idle_lockers_add_up(desk):
    """Two rentals of 30 and 10 days on one locker by two clients; a second locker idle."""
    zone = desk.make_zone(name="Men")
    busy = desk.make_locker(zone=zone, number="M-001")
    idle = desk.make_locker(zone=zone, number="M-002")
    first = desk.make_client(branch=zone.branch)
    second = desk.make_client(branch=zone.branch)
    _rent(busy, first, 100, 30)
    _rent(busy, second, 50, 10)
    _rent(busy, second, 20, 10, status=RentalStatus.CANCELLED)  # never counted
    db.session.commit()
    with desk.app.test_request_context():
        assert analytics.time_on_locker() == [("Men", 2, 20.0, 30)]
        average, busiest = analytics.turnover()
        assert average == 1.0 and busiest == [("M-001", "Men", 2)]
        assert [locker.number for locker in analytics.never_rented(months=6)] == ["M-002"]
        assert [locker.number for locker in analytics.never_rented(months=1)] == ["M-001", "M-002"]
    assert idle.id


def test_the_analytics_page_is_for_report_readers(desk):
    """Managers and accountants open it; the front desk gets 403."""
    desk.make_locker(number="Z-001")
    assert desk.login_as("Manager").get("/admin/locker_analytics/?months=3").status_code == 200
    assert desk.login_as("Front Desk").get("/admin/locker_analytics/").status_code == 403
