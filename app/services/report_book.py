"""The catalogue of reports (SPEC Rep1–Rep3), each a table built from app.services.figures.

A report is a small declaration: its key (the slug in URLs and export file
names), its title, whether it is financial, which filters it takes, and how
its table is built from figures. Nothing here computes a figure of its own: a
number in a report is the number on the dashboard.

A Table is columns (key, label, kind) and rows of plain values: money as
integer poisha, counts as ints, percentages and days as numbers, dates as
dates, text as text (or a lazy label). How a kind is shown (৳ with lakh
grouping, Bengali digits, dd/mm/yyyy) is the screen's and the export's
business; they all read the same Table (SPEC Rep4).

Who may run what: every report needs "reports-view"; a financial one also
needs "payments-view" (the Manager and the Accountant have both; the Front
Desk has neither). Staff limited to a branch see that branch only, whatever
the filters said (ReportParams.parse).
"""

from collections import OrderedDict
from dataclasses import dataclass
from dataclasses import field
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Branch
from app.models import DepositEntryKind
from app.models import Locker
from app.models import LockerSize
from app.models import PaymentMethod
from app.models import RentalTerm
from app.models import Zone
from app.services import clock
from app.services import figures
from app.services.digits import ascii_digits
from app.services.exports import taka_cell
from app.services.typed_dates import parse_typed_date

KINDS = ("text", "taka", "count", "percent", "days", "date")
# The filters a report may take: a range of branch days, a branch, a zone.
DATES, BRANCH, ZONE = "dates", "branch", "zone"
# At most three years (and the leap days in them) in one report.
MAX_DAYS = 366 * 3
# A table longer than this is not drawn on a screen (nobody reads 5,000 rows there); it is
# offered as a file, which a worker writes when it is long.
SCREEN_ROWS = 1000
VIEW_REPORTS = "reports-view"
VIEW_PAYMENTS = "payments-view"
TOTAL = _l("Total")


@dataclass(frozen=True)
class Column:
    """One column of a report: its key, its heading (lazy), and the kind of its values."""

    key: str
    label: object
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Table:
    """What a report shows: columns, rows (tuples in column order), an optional totals row."""

    columns: list
    rows: list = field(default_factory=list)
    totals: tuple | None = None

    def column(self, key):
        """The column called `key`."""
        return next(column for column in self.columns if column.key == key)

    def file_rows(self):
        """The rows, then the totals row, as a file keeps them: money as a Decimal of taka."""
        kinds = [column.kind for column in self.columns]
        for row in [*self.rows, *([self.totals] if self.totals else [])]:
            yield [taka_cell(value) if kind == "taka" and isinstance(value, int) else value
                   for value, kind in zip(row, kinds, strict=True)]

    def as_dicts(self):
        """The rows as {column key: value}, for tests and JSON."""
        keys = [column.key for column in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class ReportParams:
    """What a report is asked for: branch days start…end, and optionally a branch and a zone."""

    start: date
    end: date
    branch_id: int | None = None
    zone_id: int | None = None

    @classmethod
    def parse(cls, args, limited_branch_id=None):
        """(ReportParams or None, {field: lazy error}) from request arguments; never raises.

        `args` is a mapping of "start", "end" (typed as 31/12/2026 or 2026-12-31,
        in either language's digits), "branch_id" and "zone_id". A missing start
        is the first of the current month, a missing end today (at the branch).
        `limited_branch_id` is the branch the user is limited to: the report is
        of that branch, and asking for another one is an error.
        """
        errors = {}
        branch_id = _parse_id(args.get("branch_id"), "branch_id", errors)
        zone_id = _parse_id(args.get("zone_id"), "zone_id", errors)
        if limited_branch_id is not None:
            if branch_id is not None and branch_id != limited_branch_id:
                errors["branch_id"] = _l("You can only see reports of your own branch.")
            branch_id = limited_branch_id
        if branch_id is not None and "branch_id" not in errors \
                and db.session.get(Branch, branch_id) is None:
            errors["branch_id"] = _l("That branch does not exist.")
        if zone_id is not None and "zone_id" not in errors:
            zone = db.session.get(Zone, zone_id)
            if zone is None:
                errors["zone_id"] = _l("That zone does not exist.")
            elif branch_id is not None and zone.branch_id != branch_id:
                errors["zone_id"] = _l("That zone is not in the chosen branch.")
        today = clock.today(clock.branch_timezone(branch_id) if "branch_id" not in errors else None)
        start = _parse_day(args.get("start"), "start", errors) or today.replace(day=1)
        end = _parse_day(args.get("end"), "end", errors) or today
        if "start" not in errors and "end" not in errors:
            if start > end:
                errors["end"] = _l("The last day comes before the first day.")
            elif (end - start).days + 1 > MAX_DAYS:
                errors["end"] = _l("A report covers at most %(days)d days.", days=MAX_DAYS)
        if errors:
            return None, errors
        return cls(start, end, branch_id, zone_id), {}


def _parse_id(value, name, errors):
    text = ascii_digits(str(value if value is not None else "")).strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 2**31:
        errors[name] = _l("Choose one from the list.")
        return None
    return int(text)


def _parse_day(value, name, errors):
    if isinstance(value, date):
        return value
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        day = parse_typed_date(text)
    except ValueError:
        errors[name] = _l("Enter a date as dd/mm/yyyy, for example 31/12/2026.")
        return None
    # MariaDB's DATETIME starts at the year 1000; the day after 9999-12-31 does not exist.
    if not 1000 <= day.year <= 9998:
        errors[name] = _l("Enter a date as dd/mm/yyyy, for example 31/12/2026.")
        return None
    return day


@dataclass(frozen=True)
class Report:
    """One report of the catalogue; run(params) builds its Table."""

    key: str
    title: object
    section: str
    financial: bool
    filters: tuple
    build: object
    # rows(params) → how many rows the table would have, for a report that can run to
    # thousands (a locker per row): past SCREEN_ROWS it is offered as a file only.
    rows: object = None

    @property
    def permissions(self):
        """Every permission needed to run it."""
        return (VIEW_REPORTS, VIEW_PAYMENTS) if self.financial else (VIEW_REPORTS,)

    @property
    def permission(self):
        """The permission that decides it beyond "reports-view" (payments-view for money)."""
        return self.permissions[-1]

    def allowed(self, user):
        """True if `user` holds every permission the report needs."""
        return user is not None and getattr(user, "is_authenticated", False) and all(
            user.has_permission(permission) for permission in self.permissions)

    def run(self, params):
        """The report's Table for `params` (a ReportParams)."""
        return self.build(params)

    def too_long_for_a_screen(self, params):
        """The rows it would have, when more than a screen shows (SCREEN_ROWS); else None."""
        rows = self.rows(params) if self.rows is not None else 0
        return rows if rows > SCREEN_ROWS else None

    def for_screen(self, params):
        """(Table, None) to show, or (None, its rows) when they are more than a screen shows.

        A report that can say its length beforehand (`rows`) is not run then; any other
        is run, and a table longer than a screen (a chain's year of inactive clients) is
        offered as a file rather than drawn.
        """
        too_long = self.too_long_for_a_screen(params)
        if too_long:
            return None, too_long
        table = self.run(params)
        if len(table.rows) > SCREEN_ROWS:
            return None, len(table.rows)
        return table, None


SECTIONS = OrderedDict([
    ("financial", _l("Money")),
    ("operational", _l("Lockers")),
    ("clients", _l("Clients")),
])


# --- financial (Rep1) -----------------------------------------------------------------------

def _method_columns():
    return [Column(method.name.lower(), method.label, "taka") for method in PaymentMethod]


def _collections(by, period_label):
    def build(params):
        rows = []
        for row in figures.collections(params.branch_id, params.start, params.end, by=by):
            rows.append((row.period, *[row.by_method[method] for method in PaymentMethod],
                         row.refunded, row.total))
        columns = [Column("period", period_label, "date"), *_method_columns(),
                   Column("refunded", _l("Refunds given (included)"), "taka"),
                   Column("total", _l("Revenue"), "taka")]
        return Table(columns, rows, _totals(rows, columns))
    return build


def _totals(rows, columns, label=TOTAL):
    """A totals row: the sum of every taka and count column, `label` in the first."""
    sums = [label]
    for n, column in enumerate(columns[1:], start=1):
        sums.append(sum(row[n] or 0 for row in rows) if column.kind in ("taka", "count") else None)
    return tuple(sums)


def _share(part, whole):
    return round(100 * part / whole, 1) if whole else None


def _revenue_by(dimension, heading):
    def build(params):
        amounts = figures.revenue_by(params.branch_id, params.start, params.end, dimension)
        whole = sum(amounts.values())
        rows = [(_dimension_name(dimension, key), amount, _share(amount, whole))
                for key, amount in _dimension_order(dimension, amounts)]
        columns = [Column(dimension, heading), Column("revenue", _l("Revenue"), "taka"),
                   Column("share", _l("Share"), "percent")]
        return Table(columns, rows, (TOTAL, whole, 100.0 if whole else None))
    return build


def _dimension_order(dimension, amounts):
    members = {"size": list(LockerSize), "term": list(RentalTerm)}.get(dimension)
    keys = [key for key in amounts if key is not None]
    if members is not None:
        keys.sort(key=members.index)
    else:
        keys = [key for key in figures.zone_names(keys) if key in amounts]
    ordered = [(key, amounts[key]) for key in keys]
    if None in amounts:
        ordered.append((None, amounts[None]))
    return ordered


def _dimension_name(dimension, key):
    if key is None:
        return _l("No locker (other income)")
    if dimension == "zone":
        return figures.zone_names([key]).get(key, "")
    return key.label


def _payment_methods(params):
    rows = [(row.method.label, row.count, row.received, row.refunded, row.net)
            for row in figures.payment_methods(params.branch_id, params.start, params.end)]
    columns = [Column("method", _l("Method")), Column("payments", _l("Payments"), "count"),
               Column("received", _l("Received"), "taka"),
               Column("refunded", _l("Refunded"), "taka"), Column("net", _l("Net"), "taka")]
    return Table(columns, rows, _totals(rows, columns))


def _dues(params):
    rows = [(bucket.label, bucket.invoices, bucket.clients, bucket.owed_poisha)
            for bucket in figures.dues_ageing(params.branch_id)]
    dues = figures.dues(params.branch_id)
    columns = [Column("age", _l("Age")), Column("invoices", _l("Invoices"), "count"),
               Column("clients", _l("Clients"), "count"), Column("owed", _l("Owed"), "taka")]
    return Table(columns, rows, (TOTAL, dues.invoices, dues.clients, dues.owed_poisha))


def _deposit_ledger(params):
    ledger = figures.deposit_ledger(params.branch_id, params.start, params.end)
    lines = ledger.lines
    rows = [
        (_l("Held at the start"), None, ledger.held_at_start),
        (DepositEntryKind.TAKEN.label, lines[DepositEntryKind.TAKEN], ledger.taken),
        (DepositEntryKind.REFUNDED.label, lines[DepositEntryKind.REFUNDED], -ledger.refunded),
        (DepositEntryKind.FEE_DEDUCTED.label, lines[DepositEntryKind.FEE_DEDUCTED],
         -ledger.kept_as_fees),
        (DepositEntryKind.APPLIED_TO_DUES.label, lines[DepositEntryKind.APPLIED_TO_DUES],
         -ledger.applied_to_dues),
    ]
    columns = [Column("line", _l("Deposits (held for clients, not revenue)")),
               Column("entries", _l("Entries"), "count"), Column("amount", _l("Amount"), "taka")]
    return Table(columns, rows, (_l("Held at the end"), None, ledger.held_at_end))


def _refunds(params):
    rows = [(line.day, line.client_name, line.method.label, line.amount_poisha, line.reason)
            for line in figures.refunds(params.branch_id, params.start, params.end)]
    columns = [Column("day", _l("Date"), "date"), Column("client", _l("Client")),
               Column("method", _l("Method")), Column("amount", _l("Amount"), "taka"),
               Column("reason", _l("Reason"))]
    return Table(columns, rows, (TOTAL, None, None, sum(row[3] for row in rows), None))


SETTLED = {"deposit": _l("From the deposit"), "charged": _l("Charged")}


def _lost_key_fees(params):
    rows = [(fee.day, fee.client_name, fee.locker_number, SETTLED[fee.settled], fee.amount_poisha)
            for fee in figures.lost_key_fees(params.branch_id, params.start, params.end)]
    columns = [Column("day", _l("Date"), "date"), Column("client", _l("Client")),
               Column("locker", _l("Locker")), Column("settled", _l("Paid")),
               Column("amount", _l("Fee"), "taka")]
    return Table(columns, rows, (TOTAL, None, None, None, sum(row[4] for row in rows)))


def _vat(params):
    rows = [(row.period, row.invoices, row.net_poisha, row.vat_poisha, row.total_poisha)
            for row in figures.vat(params.branch_id, params.start, params.end, by="month")]
    columns = [Column("month", _l("Month"), "date"), Column("invoices", _l("Invoices"), "count"),
               Column("net", _l("Before VAT"), "taka"), Column("vat", _l("VAT"), "taka"),
               Column("total", _l("Invoiced"), "taka")]
    return Table(columns, rows, _totals(rows, columns))


def _top_payers(params):
    rows = [(row.name, row.phone, row.payments, row.net_poisha)
            for row in figures.top_payers(params.branch_id, params.start, params.end, limit=50)]
    columns = [Column("client", _l("Client")), Column("phone", _l("Phone")),
               Column("payments", _l("Payments"), "count"), Column("paid", _l("Paid"), "taka")]
    return Table(columns, rows)


# --- operational (Rep2) ---------------------------------------------------------------------

def _occupancy(params):
    rows = [(row.name, row.lockers, row.usable, row.taken, row.percent)
            for row in figures.occupancy_by_zone(params.branch_id, params.zone_id)]
    columns = [Column("zone", _l("Zone")), Column("lockers", _l("Lockers"), "count"),
               Column("usable", _l("Usable"), "count"), Column("taken", _l("Taken"), "count"),
               Column("percent", _l("Occupancy"), "percent")]
    if params.zone_id is None:
        overall = figures.occupancy(params.branch_id)
        totals = (TOTAL, overall.lockers, overall.usable, overall.taken, overall.percent)
    else:
        totals = None
    return Table(columns, rows, totals)


def _heatmap(params):
    from app.i18n import local_date

    keys, rows = figures.utilisation_by_locker(params.branch_id, params.start, params.end,
                                               by="week", zone_id=params.zone_id)
    columns = [Column("locker", _l("Locker")),
               *[Column(f"w{key.isoformat()}", local_date(key), "percent") for key in keys]]
    return Table(columns, [(number, *cells) for _locker_id, number, cells in rows])


def _lockers_in_scope(params):
    stmt = sa.select(sa.func.count()).select_from(Locker)
    if params.branch_id is not None:
        stmt = stmt.where(Locker.branch_id == params.branch_id)
    if params.zone_id is not None:
        stmt = stmt.where(Locker.zone_id == params.zone_id)
    return db.session.execute(stmt).scalar_one()


def _utilisation(params):
    rows = [(row.period, row.occupied_days, row.usable_days, row.percent)
            for row in figures.utilisation(params.branch_id, params.start, params.end, by="month",
                                           zone_id=params.zone_id)]
    columns = [Column("month", _l("Month"), "date"),
               Column("occupied", _l("Locker-days rented"), "days"),
               Column("usable", _l("Locker-days usable"), "days"),
               Column("percent", _l("Utilisation"), "percent")]
    return Table(columns, rows)


def _maintenance(params):
    rows = [(row.number, row.zone_name, row.tickets, row.still_open, row.resolved, row.cost_poisha)
            for row in figures.maintenance_by_locker(params.branch_id, params.start, params.end,
                                                     params.zone_id)]
    columns = [Column("locker", _l("Locker")), Column("zone", _l("Zone")),
               Column("tickets", _l("Tickets"), "count"), Column("open", _l("Still open"), "count"),
               Column("resolved", _l("Resolved"), "count"), Column("cost", _l("Cost"), "taka")]
    totals = _totals(rows, columns)
    return Table(columns, rows, totals)


def _lost_keys(params):
    rows = [(row.client_name, row.phone, row.incidents, row.last_day)
            for row in figures.lost_key_incidents(params.branch_id, params.start, params.end)]
    columns = [Column("client", _l("Client")), Column("phone", _l("Phone")),
               Column("incidents", _l("Keys lost"), "count"),
               Column("last", _l("Last lost on"), "date")]
    return Table(columns, rows, _totals(rows, columns))


def _rental_length(params):
    rows = [(row.zone_name, row.rentals, row.average_days, row.longest_days)
            for row in figures.average_rental_length(params.branch_id, params.start, params.end,
                                                     params.zone_id)]
    columns = [Column("zone", _l("Zone")), Column("rentals", _l("Rentals started"), "count"),
               Column("average", _l("Average length"), "days"),
               Column("longest", _l("Longest"), "days")]
    return Table(columns, rows)


def _turnover(params):
    rows = [(row.number, row.zone_name, row.rentals, row.clients)
            for row in figures.turnover(params.branch_id, params.start, params.end, params.zone_id)]
    columns = [Column("locker", _l("Locker")), Column("zone", _l("Zone")),
               Column("rentals", _l("Rentals started"), "count"),
               Column("clients", _l("Different clients"), "count")]
    return Table(columns, rows, _totals(rows, columns))


# --- clients (Rep3) -------------------------------------------------------------------------

def _retention(params):
    rows = [(row.period, row.at_start, row.still, row.percent)
            for row in figures.retention(params.branch_id, params.start, params.end)]
    columns = [Column("month", _l("Month"), "date"),
               Column("at_start", _l("Renting on the first day"), "count"),
               Column("still", _l("Still renting at the end"), "count"),
               Column("percent", _l("Retention"), "percent")]
    return Table(columns, rows)


def _inactive(params):
    rows = [(row.client_name, row.phone, row.locker_number, row.ended_on, row.days_since)
            for row in figures.inactive_clients(params.branch_id, params.start, params.end)]
    columns = [Column("client", _l("Client")), Column("phone", _l("Phone")),
               Column("locker", _l("Last locker")), Column("ended", _l("Last rental ended"), "date"),
               Column("days", _l("Days since"), "days")]
    return Table(columns, rows)


def _renewals(params):
    rows = []
    for period in figures.periods(params.start, params.end, "month",
                                  clock.branch_timezone(params.branch_id)):
        rate = figures.renewal_rate(params.branch_id, period.first, period.last)
        rows.append((period.key, rate.ended, rate.renewed, rate.percent))
    columns = [Column("month", _l("Month"), "date"), Column("ended", _l("Terms ended"), "count"),
               Column("renewed", _l("Renewed"), "count"),
               Column("percent", _l("Renewal rate"), "percent")]
    ended, renewed = sum(row[1] for row in rows), sum(row[2] for row in rows)
    return Table(columns, rows, (TOTAL, ended, renewed, figures.RenewalRate(ended, renewed).percent))


_DATED = (DATES, BRANCH)
_DATED_ZONED = (DATES, BRANCH, ZONE)

REPORTS = OrderedDict((report.key, report) for report in (
    Report("collections-day", _l("Collections by day"), "financial", True, _DATED,
           _collections("day", _l("Day"))),
    Report("collections-month", _l("Collections by month"), "financial", True, _DATED,
           _collections("month", _l("Month"))),
    Report("collections-year", _l("Collections by year"), "financial", True, _DATED,
           _collections("year", _l("Year"))),
    Report("revenue-by-zone", _l("Revenue by zone"), "financial", True, _DATED,
           _revenue_by("zone", _l("Zone"))),
    Report("revenue-by-size", _l("Revenue by locker size"), "financial", True, _DATED,
           _revenue_by("size", _l("Size"))),
    Report("revenue-by-term", _l("Revenue by duration"), "financial", True, _DATED,
           _revenue_by("term", _l("Duration"))),
    Report("payment-methods", _l("Payment methods"), "financial", True, _DATED, _payment_methods),
    Report("dues", _l("Dues and their age"), "financial", True, (BRANCH,), _dues),
    Report("deposit-ledger", _l("Key deposit ledger"), "financial", True, _DATED, _deposit_ledger),
    Report("refunds", _l("Refunds"), "financial", True, _DATED, _refunds),
    Report("lost-key-fees", _l("Lost-key fees"), "financial", True, _DATED, _lost_key_fees),
    Report("vat", _l("VAT"), "financial", True, _DATED, _vat),
    Report("occupancy", _l("Occupancy"), "operational", False, (BRANCH, ZONE), _occupancy),
    Report("utilisation", _l("Utilisation by month"), "operational", False, _DATED_ZONED,
           _utilisation),
    Report("utilisation-heatmap", _l("Utilisation heatmap (locker × week)"), "operational", False,
           _DATED_ZONED, _heatmap, rows=_lockers_in_scope),
    Report("maintenance", _l("Maintenance per locker"), "operational", False, _DATED_ZONED,
           _maintenance),
    Report("lost-keys", _l("Lost keys per client"), "operational", False, _DATED, _lost_keys),
    Report("rental-length", _l("Average rental length"), "operational", False, _DATED_ZONED,
           _rental_length),
    Report("turnover", _l("Locker turnover"), "operational", False, _DATED_ZONED, _turnover),
    Report("renewals", _l("Renewal rate"), "clients", False, _DATED, _renewals),
    Report("retention", _l("Retention"), "clients", False, _DATED, _retention),
    Report("inactive-clients", _l("Inactive clients"), "clients", False, _DATED, _inactive),
    Report("top-payers", _l("Top payers"), "clients", True, _DATED, _top_payers),
))


def report(key):
    """The report called `key`, or None."""
    return REPORTS.get(key)


def allowed_reports(user):
    """The reports `user` may run, in catalogue order."""
    return [entry for entry in REPORTS.values() if entry.allowed(user)]


def default_params(branch_id=None):
    """This month so far at the branch: what a report opens with."""
    today = clock.today(clock.branch_timezone(branch_id))
    return ReportParams(today.replace(day=1), today, branch_id)
