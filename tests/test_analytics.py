"""Locker analytics: time on locker, turnover, lockers nobody rents (SPEC L5).

The page shows the reports' figures (app.services.figures) for the last year.
"""

import re
from datetime import timedelta

from app.extensions import db
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import utcnow


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
    page = desk.login_as("Manager").get("/admin/locker_analytics/?months=6").get_data(as_text=True)
    # Time on locker: two rentals in Men, 20 days on average, the longest 30.
    assert _cells(page, "time-on-locker") == [["Men", "2", "20", "30"]]
    # Turnover: M-001 had two clients, M-002 none: one per locker on average.
    assert _cells(page, "busiest") == [["M-001", "Men", "2"]]
    assert '<strong id="average-turnover">1</strong>' in page
    assert ">M-002</a>" in _between(page, '<p id="idle">', "</p>")
    assert ">M-001</a>" not in _between(page, '<p id="idle">', "</p>")
    last_month = desk.login_as("Manager").get("/admin/locker_analytics/?months=1").get_data(
        as_text=True)
    assert ">M-001</a>" in _between(last_month, '<p id="idle">', "</p>")
    assert idle.id


def _between(page, start, end):
    return page.split(start, 1)[1].split(end, 1)[0]


def _cells(page, table_id):
    body = _between(page, f'id="{table_id}"', "</tbody>").split("<tbody>", 1)[1]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in body.split("</tr>") if "<td" in row]


def test_the_analytics_page_is_for_report_readers(desk):
    """Managers and accountants open it; the front desk gets 403."""
    desk.make_locker(number="Z-001")
    assert desk.login_as("Manager").get("/admin/locker_analytics/?months=3").status_code == 200
    assert desk.login_as("Front Desk").get("/admin/locker_analytics/").status_code == 403
