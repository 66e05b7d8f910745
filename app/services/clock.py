"""The one clock: now in UTC for the database, days as the branch lives them.

The database holds naive UTC datetimes (app.models.utcnow). A gym's day runs
midnight to midnight in its branch's timezone: a rental ending at 02:00 in
Dhaka ends "on" that Dhaka day, not the UTC day before. Every "today", "ends
on" and day range in services, screens and reports comes from here.
"""

from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import Branch
from app.models import utcnow
from app.models.base import simulated_clock

now = utcnow


class SimulatedClock:
    """A clock that says what `at` says (naive UTC); None: the real time."""

    at = None


@contextmanager
def simulated():
    """Inside the block, every "now" of the app is the `at` of the yielded clock.

    For playing a history at the moments it happened (the demo data): the
    services stamp rows, number invoices and pick the prices in force by the
    time they read here. Only this context (thread) is affected.
    """
    stand_in = SimulatedClock()
    token = simulated_clock.set(stand_in)
    try:
        yield stand_in
    finally:
        simulated_clock.reset(token)


def default_timezone():
    """The timezone of a branch without one (settings → config): Asia/Dhaka out of the box."""
    from app.services import settings

    return settings.get("timezone") or current_app.config["BABEL_DEFAULT_TIMEZONE"]


def zone(timezone_name=None):
    """The ZoneInfo of `timezone_name`; the default one when it is empty or unknown."""
    # The default is looked up only when needed: this runs for every time shown on a page.
    for name in (timezone_name, default_timezone, "Asia/Dhaka"):
        name = name() if callable(name) else name
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def branch_timezone(branch_id):
    """The timezone name of a branch (the default one for None or an unknown branch)."""
    branch = db.session.get(Branch, branch_id) if branch_id is not None else None
    return branch.timezone if branch is not None and branch.timezone else default_timezone()


def today(timezone_name=None):
    """Today's date in `timezone_name` (a branch's timezone; the default one if None)."""
    return to_local(now(), timezone_name).date()


def branch_today(branch_id):
    """Today's date at the branch."""
    return today(branch_timezone(branch_id))


def to_local(utc_naive, timezone_name=None):
    """A naive UTC datetime from the database as an aware datetime in `timezone_name`."""
    return utc_naive.replace(tzinfo=UTC).astimezone(zone(timezone_name))


def local_day(utc_naive, timezone_name=None):
    """The branch day an instant falls on (the day a rental ends on, for example)."""
    return to_local(utc_naive, timezone_name).date()


def day_start_utc(day, timezone_name=None):
    """The naive UTC datetime at which `day` begins in `timezone_name`."""
    start = datetime.combine(day, time(), tzinfo=zone(timezone_name))
    return start.astimezone(UTC).replace(tzinfo=None)


def day_range_utc(first_day, last_day=None, timezone_name=None):
    """[start, end) in naive UTC covering the branch days `first_day`…`last_day` inclusive."""
    last_day = last_day or first_day
    return (day_start_utc(first_day, timezone_name),
            day_start_utc(last_day + timedelta(days=1), timezone_name))


def branch_days_condition(column, branch_column, first_day=None, last_day=None):
    """SQL: `column` (naive UTC) falls on branch days `first_day`…`last_day` of its row's branch.

    Each end is a date, a timedelta from the branch's today (timedelta(days=7):
    a week from today there), or None for no bound. Branches in different
    timezones each get their own UTC range, so a rental ending at 00:30 in
    Dhaka is on that Dhaka day wherever the reader is.
    """
    by_timezone = {}
    for branch_id, timezone_name in db.session.execute(sa.select(Branch.id, Branch.timezone)):
        by_timezone.setdefault(timezone_name or "", []).append(branch_id)
    ranges = []
    for timezone_name, branch_ids in by_timezone.items():
        bounds = []
        branch_today = today(timezone_name or None)
        first = branch_today + first_day if isinstance(first_day, timedelta) else first_day
        last = branch_today + last_day if isinstance(last_day, timedelta) else last_day
        if first is not None:
            bounds.append(column >= day_start_utc(first, timezone_name or None))
        if last is not None:
            bounds.append(column < day_start_utc(last + timedelta(days=1), timezone_name or None))
        # With one timezone (the usual case) every branch shares the range.
        if len(by_timezone) > 1:
            bounds.append(branch_column.in_(branch_ids))
        ranges.append(sa.and_(sa.true(), *bounds))
    return sa.or_(*ranges) if ranges else sa.true()

