"""List filters that count in branch days, and links to lists already filtered.

Flask-Admin's date filters compare the stored UTC datetime with the UTC day,
so a rental ending at 00:30 in Dhaka (18:30 UTC the evening before) appeared
under the previous day. These filters take a date as the desk means it, a day
at the row's branch, and ask app.services.clock for its UTC range.
"""

from datetime import timedelta

from flask import url_for
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.contrib.sqla.filters import EnumEqualFilter
from flask_admin.model.filters import BaseDateBetweenFilter
from flask_admin.model.filters import BaseDateFilter
from flask_admin.model.filters import BaseDateTimeBetweenFilter
from flask_admin.model.filters import BaseDateTimeFilter
from flask_babel import lazy_gettext as _l

from admin_views.menu import admin_view
from app.models import LockerStatus
from app.models import RentalStatus
from app.services import clock
from app.services.typed_dates import parse_typed_date
from app.services.typed_dates import parse_typed_datetime


def _day(text):
    """A date typed as 31/12/2026 (or ISO, any digits); ValueError for anything else, or a day
    no column can hold."""
    day = parse_typed_date(text)
    # MariaDB's DATETIME starts at the year 1000; the day after 9999-12-31 does not exist.
    if not 1000 <= day.year <= 9998:
        raise ValueError(text)
    return day


# The picker writes a range as "01/03/2026 - 31/03/2026"; Flask-Admin's own picker wrote
# "2026-03-01 to 2026-03-31", which old bookmarks still carry.
RANGE_SEPARATORS = (" - ", " to ")


def _range(text, parse):
    """(first, last) of a range typed with either separator; ValueError unless first <= last."""
    for separator in RANGE_SEPARATORS:
        parts = str(text).split(separator)
        if len(parts) == 2:
            first, last = (parse(part) for part in parts)
            if first > last:
                raise ValueError(text)
            return first, last
    raise ValueError(text)


class _TypedFilter:
    """Flask-Admin's date and time filters reading what the desk types (see typed_filters)."""

    def validate(self, value):
        try:
            self.clean(value)
        except (ValueError, TypeError):
            return False
        return True


class _TypedDate(_TypedFilter):
    def clean(self, value):
        return parse_typed_date(value)


class _TypedDateRange(_TypedFilter):
    def clean(self, value):
        return list(_range(value, parse_typed_date))


class _TypedDateTime(_TypedFilter):
    def clean(self, value):
        return parse_typed_datetime(value)


class _TypedDateTimeRange(_TypedFilter):
    def clean(self, value):
        return list(_range(value, parse_typed_datetime))


_TYPED = ((BaseDateBetweenFilter, _TypedDateRange), (BaseDateFilter, _TypedDate),
          (BaseDateTimeBetweenFilter, _TypedDateTimeRange), (BaseDateTimeFilter, _TypedDateTime))


def typed_filters(filter_classes):
    """Flask-Admin's date and datetime filter classes reading 31/12/2026 (and 31/12/2026 18:30)
    as well as ISO, in either language's digits; other classes (FilterEmpty) as they are."""
    typed = []
    for cls in filter_classes:
        mixin = next((mixin for base, mixin in _TYPED if issubclass(cls, base)), None)
        typed.append(cls if mixin is None else
                     type(cls.__name__, (mixin, cls), {"__module__": cls.__module__}))
    return tuple(typed)


class _BranchDayFilter(BaseSQLAFilter):
    """A filter on a UTC datetime column whose days are the days at the row's branch."""

    def __init__(self, column, branch_column, name, options=None, data_type=None):
        super().__init__(column, name, options=options, data_type=data_type)
        self.branch_column = branch_column

    def days(self, value):
        """(first, last) day the cleaned `value` stands for: a date, a timedelta from the
        branch's today, or None for no bound (see clock.branch_days_condition)."""
        raise NotImplementedError

    def validate(self, value):
        try:
            self.clean(value)
        except (ValueError, KeyError, TypeError):
            return False
        return True

    def apply(self, query, value, alias=None):
        first, last = self.days(value)
        return query.filter(clock.branch_days_condition(
            self.get_column(alias), self.branch_column, first, last))


class BranchDayOn(_BranchDayFilter, BaseDateFilter):
    """On that day at the branch."""

    def clean(self, value):
        return _day(value)

    def days(self, value):
        return value, value

    def operation(self):
        return _l("on")


class BranchDayFrom(BranchDayOn):
    """On that day or later."""

    def days(self, value):
        return value, None

    def operation(self):
        return _l("on or after")


class BranchDayUntil(BranchDayOn):
    """On that day or earlier."""

    def days(self, value):
        return None, value

    def operation(self):
        return _l("on or before")


class BranchDayBetween(_BranchDayFilter, BaseDateBetweenFilter):
    """From the first day to the last, both included."""

    def __init__(self, column, branch_column, name):
        super().__init__(column, branch_column, name, data_type="daterangepicker")

    def clean(self, value):
        return _range(value, _day)

    def days(self, value):
        return value

    def operation(self):
        return _l("between")


# Days relative to today at each branch, for the "expires …" lists (SPEC R4). The
# value in the URL is the key; `days` are offsets from the branch's today.
RELATIVE_DAYS = {
    "overdue": (_l("before today"), None, timedelta(days=-1)),
    "today": (_l("today"), timedelta(0), timedelta(0)),
    "tomorrow": (_l("tomorrow"), timedelta(days=1), timedelta(days=1)),
    "week": (_l("within 7 days"), timedelta(0), timedelta(days=7)),
}
# The dashboard's "ending within 7 days" card links here; it counts the same days
# (app.services.reports.expiring_soon_condition).
EXPIRING_SOON = "week"


class BranchDayRelative(_BranchDayFilter):
    """Today, tomorrow, the coming week … as days at each row's branch."""

    def __init__(self, column, branch_column, name):
        super().__init__(column, branch_column, name, options=[
            (key, label) for key, (label, _first, _last) in RELATIVE_DAYS.items()])

    def clean(self, value):
        if value not in RELATIVE_DAYS:
            raise ValueError(value)
        return value

    def days(self, value):
        _label, first, last = RELATIVE_DAYS[value]
        return first, last

    def operation(self):
        return _l("is")


def branch_day_filters(column, branch_column, name):
    """The branch-day filters of one datetime column, for a view's column_filters."""
    return [cls(column, branch_column, name)
            for cls in (BranchDayRelative, BranchDayOn, BranchDayBetween, BranchDayFrom,
                        BranchDayUntil)]


# --- links to filtered lists ------------------------------------------------------------

def _filter_key(view, test):
    """The URL key of the first filter of `view` for which `test(filter)` is true, or None."""
    for key, (_index, flt) in view._filter_args.items():
        if test(flt):
            return key
    return None


def filtered_list_url(endpoint, *wanted):
    """The list at `endpoint` with filters applied; None if the user may not open it.

    `wanted` are (test, value) pairs: the first filter passing `test` gets `value`.
    """
    view = admin_view(endpoint)
    if view is None or not view.is_accessible():
        return None
    args = {}
    for position, (test, value) in enumerate(wanted):
        key = _filter_key(view, test)
        if key is None:
            return None
        args[f"flt{position}_{key}"] = value
    # A list (ModelView) or a page of its own (the locker grid).
    page = "index_view" if hasattr(view, "index_view") else "index"
    return url_for(f"{view.endpoint}.{page}", **args)


def _equals(column_name):
    return lambda flt: isinstance(flt, EnumEqualFilter) and flt.column.key == column_name


def _relative_on(column_name):
    return lambda flt: isinstance(flt, BranchDayRelative) and flt.column.key == column_name


def home_links():
    """Where each dashboard card leads: {"occupancy", "expiring", LockerStatus: url or None}."""
    links = {
        "occupancy": filtered_list_url("locker_grid"),
        "expiring": filtered_list_url(
            "rentals", (_equals("status"), RentalStatus.ACTIVE.name),
            (_relative_on("ends_at"), EXPIRING_SOON)),
    }
    for status in LockerStatus:
        links[status] = filtered_list_url("lockers", (_equals("status"), status.name))
    return links

