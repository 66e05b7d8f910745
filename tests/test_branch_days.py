"""Do day filters and "expires …" lists count in the branch's days, not UTC days (R4)?

Dhaka is UTC+6: a rental ending at 00:30 on 17 March in Dhaka ends at 18:30 on
16 March in UTC, and must be listed under 17 March.
"""

import re
from datetime import datetime
from datetime import timedelta

import pytest

from admin_views.filters import BranchDayBetween
from admin_views.filters import BranchDayFrom
from admin_views.filters import BranchDayOn
from admin_views.filters import BranchDayRelative
from admin_views.filters import BranchDayUntil
from app.extensions import db
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.services import clock
from app.services import figures

# 17 March 2026, 00:30 in Dhaka, and 16 March, 23:30 in Dhaka, as naive UTC.
JUST_AFTER_MIDNIGHT = datetime(2026, 3, 16, 18, 30)
JUST_BEFORE_MIDNIGHT = datetime(2026, 3, 16, 17, 30)


def _rental(desk, number, ends_at, *, branch=None, status=RentalStatus.ACTIVE):
    """A rental of a new locker numbered `number`, ending at `ends_at` (naive UTC)."""
    zone = desk.make_zone(branch=branch) if branch is not None else None
    locker = desk.make_locker(zone=zone, number=number)
    client = desk.make_client(branch=locker.branch)
    rental = Rental(branch=locker.branch, locker=locker, client=client, term=RentalTerm.MONTHLY,
                    days=30, starts_at=ends_at - timedelta(days=30), ends_at=ends_at,
                    status=status, price_poisha=80000)
    db.session.add(rental)
    db.session.commit()
    return rental


def _filter_arg(app, endpoint, kind, column):
    """The URL key of the `kind` filter on `column` of the list at `endpoint`."""
    view = next(view for view in app.extensions["admin"][0]._views if view.endpoint == endpoint)
    return next(key for key, (_index, flt) in view._filter_args.items()
                if type(flt) is kind and flt.column.key == column)


def _listed(browser, app, kind, value, endpoint="rentals", column="ends_at"):
    """The locker numbers the rentals list shows with one filter set to `value`."""
    url = f"/admin/{endpoint}/?flt0_{_filter_arg(app, endpoint, kind, column)}={value}"
    response = browser.get(url)
    assert response.status_code == 200, url
    return set(re.findall(r"\b(?:LATE|EARLY|KOL|DHK)-\d+\b", response.get_data(as_text=True)))


def test_a_rental_ending_at_half_past_midnight_is_listed_under_that_dhaka_day(app, desk):
    """Filtering rentals ending on 17 March finds the one ending 00:30 on the 17th in Dhaka."""
    _rental(desk, "LATE-1", JUST_AFTER_MIDNIGHT)
    _rental(desk, "EARLY-1", JUST_BEFORE_MIDNIGHT)
    browser = desk.login_as("Manager")
    assert _listed(browser, app, BranchDayOn, "2026-03-17") == {"LATE-1"}
    assert _listed(browser, app, BranchDayOn, "2026-03-16") == {"EARLY-1"}


@pytest.mark.parametrize(("kind", "value", "expected"), [
    (BranchDayBetween, "2026-03-17 to 2026-03-18", {"LATE-1"}),
    (BranchDayBetween, "2026-03-15 to 2026-03-16", {"EARLY-1"}),
    (BranchDayFrom, "2026-03-17", {"LATE-1"}),
    (BranchDayUntil, "2026-03-16", {"EARLY-1"}),
])
def test_ranges_of_days_start_and_end_at_dhaka_midnight(app, desk, kind, value, expected):
    """"From", "until" and "between" days split the two rentals at Dhaka's midnight."""
    _rental(desk, "LATE-1", JUST_AFTER_MIDNIGHT)
    _rental(desk, "EARLY-1", JUST_BEFORE_MIDNIGHT)
    browser = desk.login_as("Front Desk")
    assert _listed(browser, app, kind, value) == expected


def test_each_branch_counts_days_in_its_own_timezone(app, desk):
    """Ending at 00:30 on the 17th in Dhaka and in Kolkata: both are listed on the 17th."""
    kolkata = desk.make_branch(timezone="Asia/Kolkata")
    _rental(desk, "DHK-1", JUST_AFTER_MIDNIGHT)
    # 00:30 on 17 March in Kolkata (UTC+5:30) is 19:00 on the 16th in UTC.
    _rental(desk, "KOL-1", datetime(2026, 3, 16, 19, 0), branch=kolkata)
    _rental(desk, "KOL-2", datetime(2026, 3, 16, 18, 0), branch=kolkata)
    browser = desk.login_as("Super Admin")
    assert _listed(browser, app, BranchDayOn, "2026-03-17") == {"DHK-1", "KOL-1"}
    assert _listed(browser, app, BranchDayOn, "2026-03-16") == {"KOL-2"}


def test_expiring_today_and_tomorrow_follow_the_branch_clock(app, desk):
    """"Today" is Dhaka's today: 00:30 tonight is tomorrow, 23:30 yesterday is before today."""
    today = clock.today("Asia/Dhaka")
    midnight = clock.day_start_utc(today, "Asia/Dhaka")
    _rental(desk, "EARLY-1", midnight - timedelta(minutes=30))
    _rental(desk, "LATE-1", midnight + timedelta(minutes=30))
    _rental(desk, "LATE-2", midnight + timedelta(days=1, minutes=30))
    browser = desk.login_as("Accountant")
    assert _listed(browser, app, BranchDayRelative, "overdue") == {"EARLY-1"}
    assert _listed(browser, app, BranchDayRelative, "today") == {"LATE-1"}
    assert _listed(browser, app, BranchDayRelative, "tomorrow") == {"LATE-2"}


def test_the_expiring_card_counts_and_links_to_the_same_branch_days(app, desk):
    """The dashboard's card counts rentals ending by the end of the 7th Dhaka day, and opens them."""
    today = clock.today("Asia/Dhaka")
    after_the_week = clock.day_start_utc(today + timedelta(days=8), "Asia/Dhaka")
    _rental(desk, "LATE-1", after_the_week - timedelta(minutes=30))
    # 00:30 on the 8th day in Dhaka is still the 7th day in UTC: not in the week at the branch.
    _rental(desk, "LATE-2", after_the_week + timedelta(minutes=30))
    _rental(desk, "LATE-3", after_the_week - timedelta(days=2), status=RentalStatus.RELEASED)
    assert [row.locker_number for row in figures.expiring_this_week()] == ["LATE-1"]
    browser = desk.login_as("Manager")
    page = browser.get("/admin/").get_data(as_text=True)
    assert re.search(r'data-figure="expiring">\s*1\s*<', page)
    link = re.search(r'href="(/admin/rentals/[^"]+)"><div class="display-4" data-figure="expiring"',
                     page)
    assert link is not None, page
    listed = browser.get(link[1].replace("&amp;", "&")).get_data(as_text=True)
    assert "LATE-1" in listed
    assert "LATE-2" not in listed and "LATE-3" not in listed


@pytest.mark.parametrize("value", ["2026-02-30", "17/03/2026", "0999-01-01", "9999-12-31",
                                   "2026-03-18 to 2026-03-17", "yesterday"])
def test_a_day_that_cannot_be_is_ignored_not_an_error(app, desk, value):
    """A made-up day in a filter's address shows the whole list, not an error page."""
    _rental(desk, "LATE-1", JUST_AFTER_MIDNIGHT)
    browser = desk.login_as("Manager")
    for kind in (BranchDayOn, BranchDayBetween, BranchDayRelative):
        assert _listed(browser, app, kind, value) == {"LATE-1"}, (kind, value)

