"""The business figures, each defined once: the dashboard (SPEC D1, D2, D6) and the reports (Rep1–Rep3).

Every figure is a plain function of a branch (`branch_id`; None for every
branch the caller may see) and, where it covers a span of time, of `start`
and `end`: dates in the branch's own calendar, both included. A gym's day runs
from midnight to midnight in its branch's timezone (app.services.clock), so a
payment at 00:10 on 1 March in Dhaka (18:10 on 28 February in UTC) is March's.
When the branches asked about live in different timezones, each is read in
its own days and the results are added up by period.

Money is integer poisha. Nothing here writes.

How periods are counted on three databases: the UTC boundaries of each local
period are computed here, in Python, from the branch's timezone, and the
database puts each row into its period with a CASE over those boundaries (a
balanced tree of comparisons, so a row costs about log2(periods) of them). No
database's own date functions are used for periods, so SQLite, PostgreSQL and MariaDB
agree (the one exception, SecondsBetween, measures rental lengths and is written
for each database), and the row's time column is compared with plain values, which the
(branch_id, paid_at)-style indexes answer. Rows are grouped in Python only
where their number is bounded by something other than the history's length
(lockers, current holders, one period's rentals).

What counts as revenue (cash basis, one definition for the dashboard, the
collections report, revenue by zone/size/term, the method breakdown and the
top payers):

* a payment received (Paid, or Refunded later: the money did come in) counts
  on the branch day of its `paid_at`, whatever its method;
* a refund (a Refund row) is taken off on the branch day of its `refunded_at`,
  under the method of the payment it gives back on;
* a payment "from the key deposit" (method DEPOSIT) counts: it is written when
  dues are paid from a deposit at key return, and at that moment the money the
  gym held for the client becomes the gym's. It is kept under its own method,
  so the cash drawer is never expected to hold it;
* a lost-key fee kept from a deposit (deposit ledger line FEE_DEDUCTED) counts
  the same way, on the day it was kept, under DEPOSIT: there is no Payment row
  for it, but the held money became the gym's;
* a key deposit taken (ledger line TAKEN) and a deposit refunded are never
  revenue: the gym holds that money for the client (a liability, SPEC P5).
  See deposit_ledger().
"""

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import Instalment
from app.models import Invoice
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import Locker
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import PaymentMethod
from app.models import Refund
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import TicketStatus
from app.models import Zone
from app.models.base import local_name
from app.models.clients import client_tags
from app.models.day_figures import BranchDay
from app.models.day_figures import DaysCounted
from app.models.day_figures import LockerWeek
from app.models.day_figures import RetentionMonth
from app.models.day_figures import TermsDay
from app.services import billing
from app.services import clock
from app.services import handover
from app.services import rentals as rentals_service
from app.services import reports
from app.services import settings
from app.services.transactions import in_slices

PERIODS = ("day", "week", "month", "year")
# The longest one rental row can run: a custom term of 730 days (yearly is 365); a renewal is
# a new row. Lets "rentals overlapping this range" be read through the starts_at indexes.
MAX_TERM = timedelta(days=731)
# Statuses of a locker that count as taken and as out of use: those of
# app.services.reports.occupancy_percent, which computes the percentage itself.
TAKEN = (LockerStatus.ASSIGNED, LockerStatus.RESERVED, LockerStatus.EXPIRED)
OUT_OF_USE = (LockerStatus.MAINTENANCE, LockerStatus.OUT_OF_SERVICE)
# Rentals that held a locker (reservations and cancelled rentals never did).
RENTED = (RentalStatus.ACTIVE, RentalStatus.EXPIRED, RentalStatus.RELEASED, RentalStatus.ABANDONED)
# Rentals holding a locker now whose term may still be renewed.
HOLDING_TERMS = (RentalStatus.ACTIVE, RentalStatus.EXPIRED)
DAY_SECONDS = 86400


# --- periods and branches ------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """One local period of a range: its calendar key, the days of the range in it, its UTC span.

    `key` names the whole calendar period (the day, the Monday of the week, the
    1st of the month, 1 January); `first` and `last` are the range's days in it
    (a range starting on 10 March has a March period from the 10th).
    """

    key: date
    first: date
    last: date
    starts_at: datetime  # naive UTC, included
    ends_at: datetime    # naive UTC, excluded


def last_sunday(day):
    """The Sunday on or before `day`: the end of the last whole week (Monday to Sunday) by then."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def period_key(day, by):
    """The key (first day) of the day/week/month/year period `day` falls in."""
    if by == "day":
        return day
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    if by == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown period {by!r}; one of {PERIODS}")


def next_period_key(key, by):
    if by == "day":
        return key + timedelta(days=1)
    if by == "week":
        return key + timedelta(days=7)
    if by == "month":
        return date(key.year + key.month // 12, key.month % 12 + 1, 1)
    return date(key.year + 1, 1, 1)


def periods(start, end, by="month", timezone_name=None):
    """The local periods covering `start`…`end` (inclusive) in `timezone_name`, oldest first."""
    out = []
    if start is None or end is None or start > end:
        return out
    key = period_key(start, by)
    while key <= end:
        following = next_period_key(key, by)
        first, last = max(key, start), min(following - timedelta(days=1), end)
        out.append(Period(key, first, last, clock.day_start_utc(first, timezone_name),
                          clock.day_start_utc(last + timedelta(days=1), timezone_name)))
        key = following
    return out


def _branch_groups(branch_id):
    """[(timezone name, branch ids or None)]: the branches asked about, by timezone.

    None as the ids means "every branch" (one timezone for all): the query then
    needs no branch condition and reads the time index alone.
    """
    if branch_id is not None:
        return [(clock.branch_timezone(branch_id), [branch_id])]
    by_timezone = {}
    for found_id, timezone_name in db.session.execute(sa.select(Branch.id, Branch.timezone)):
        by_timezone.setdefault(timezone_name or clock.default_timezone(), []).append(found_id)
    if len(by_timezone) <= 1:
        return [(next(iter(by_timezone), None) or clock.default_timezone(), None)]
    return sorted(by_timezone.items())


def _scoped(stmt, column, branch_ids):
    if branch_ids is None:
        return stmt
    if len(branch_ids) == 1:
        return stmt.where(column == branch_ids[0])
    return stmt.where(column.in_(branch_ids))


def _bucket(column, spans):
    """SQL: the index of the period of `spans` (contiguous, oldest first) that `column` falls in.

    A balanced CASE tree over the UTC boundaries: the same SQL on every database.
    Rows outside the spans must be excluded by the caller's WHERE.
    """
    def tree(low, high):
        if low == high:
            return sa.literal_column(str(int(low)), sa.Integer)
        middle = (low + high + 1) // 2
        return sa.case((column < spans[middle].starts_at, tree(low, middle - 1)),
                       else_=tree(middle, high))

    return tree(0, len(spans) - 1)


def _grouped(inner, keys):
    """[(key values…, sum)] of a select labelled with `keys` and "amount", summed in SQL."""
    sub = inner.subquery()
    columns = [sub.c[key] for key in keys]
    stmt = sa.select(*columns, sa.func.sum(sub.c.amount)).group_by(*columns)
    return [(*row[:-1], int(row[-1] or 0)) for row in db.session.execute(stmt)]


def _utc_range(start, end, timezone_name):
    return clock.day_range_utc(start, end, timezone_name)


def month_so_far(branch_id=None):
    """(first of the month, today) at the branch: the range of the dashboard's "this month" cards."""
    today = clock.today(clock.branch_timezone(branch_id))
    return today.replace(day=1), today


def _locker_numbers(locker_ids):
    numbers = {}
    for chunk in in_slices(locker_ids):
        numbers.update(db.session.execute(
            sa.select(Locker.id, Locker.number).where(Locker.id.in_(chunk))).all())
    return numbers


# --- revenue (cash basis) --------------------------------------------------------------------

@dataclass(frozen=True)
class Collected:
    """Money earned in one local period (see the module's definition of revenue), in poisha.

    `by_method` is net of refunds, per method; DEPOSIT holds dues paid from
    deposits and lost-key fees kept from them. `total` is the sum of `by_method`.
    """

    period: date
    by_method: dict
    received: int
    refunded: int
    kept_from_deposits: int

    @property
    def total(self):
        return self.received - self.refunded + self.kept_from_deposits


def _received_rows(branch_ids, spans, extra=(), joins=None):
    """Rows (bucket, method, *extra, amount) of payments received in `spans`."""
    inner = sa.select(_bucket(Payment.paid_at, spans).label("bucket"),
                      Payment.method.label("method"), *extra,
                      Payment.amount_poisha.label("amount")).select_from(Payment)
    if joins is not None:
        inner = joins(inner, Payment.rental_id)
    inner = inner.where(Payment.status.in_(billing.RECEIVED),
                        Payment.paid_at >= spans[0].starts_at, Payment.paid_at < spans[-1].ends_at)
    return _grouped(_scoped(inner, Payment.branch_id, branch_ids),
                    ("bucket", "method", *[column.name for column in extra]))


def _refund_rows(branch_ids, spans, extra=(), joins=None):
    """Rows (bucket, method, *extra, amount) of refunds given in `spans` (positive amounts)."""
    inner = sa.select(_bucket(Refund.refunded_at, spans).label("bucket"),
                      Payment.method.label("method"), *extra,
                      Refund.amount_poisha.label("amount")).select_from(Refund).join(
        Payment, Refund.payment_id == Payment.id)
    if joins is not None:
        inner = joins(inner, Payment.rental_id)
    inner = inner.where(Refund.refunded_at >= spans[0].starts_at,
                        Refund.refunded_at < spans[-1].ends_at)
    return _grouped(_scoped(inner, Payment.branch_id, branch_ids),
                    ("bucket", "method", *[column.name for column in extra]))


def _kept_fee_rows(branch_ids, spans, extra=(), joins=None):
    """Rows (bucket, *extra, amount) of lost-key fees kept from deposits in `spans` (positive)."""
    inner = sa.select(_bucket(DepositEntry.at, spans).label("bucket"), *extra,
                      (-DepositEntry.amount_poisha).label("amount")).select_from(DepositEntry)
    if joins is not None:
        inner = joins(inner, DepositEntry.rental_id)
    inner = inner.where(DepositEntry.kind == DepositEntryKind.FEE_DEDUCTED,
                        DepositEntry.at >= spans[0].starts_at, DepositEntry.at < spans[-1].ends_at)
    return _grouped(_scoped(inner, DepositEntry.branch_id, branch_ids),
                    ("bucket", *[column.name for column in extra]))


def collections(branch_id, start, end, by="day"):
    """[Collected] per local day/week/month/year of `start`…`end`, every period (zeros included).

    Cash basis (see the module docstring): payments received on their paid_at
    day, less refunds on their refunded_at day, plus lost-key fees kept from
    deposits; deposits taken are never counted.
    """
    keyed = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        spans = periods(start, end, by, timezone_name)
        if not spans:
            return []
        for span in spans:
            keyed.setdefault(span.key, {"by_method": {}, "received": 0, "refunded": 0, "kept": 0})
        for bucket, method, amount in _received_rows(branch_ids, spans):
            part = keyed[spans[bucket].key]
            part["received"] += amount
            part["by_method"][method] = part["by_method"].get(method, 0) + amount
        for bucket, method, amount in _refund_rows(branch_ids, spans):
            part = keyed[spans[bucket].key]
            part["refunded"] += amount
            part["by_method"][method] = part["by_method"].get(method, 0) - amount
        for bucket, amount in _kept_fee_rows(branch_ids, spans):
            part = keyed[spans[bucket].key]
            part["kept"] += amount
            deposit = PaymentMethod.DEPOSIT
            part["by_method"][deposit] = part["by_method"].get(deposit, 0) + amount
    return [Collected(key, {method: part["by_method"].get(method, 0) for method in PaymentMethod},
                      part["received"], part["refunded"], part["kept"])
            for key, part in sorted(keyed.items())]


def revenue(branch_id, start, end):
    """Revenue of the local days `start`…`end` in poisha: the total of collections()."""
    return sum(row.total for row in collections(branch_id, start, end, by="year"))


def revenue_today(branch_id=None):
    """Revenue of today at the branch (each branch's own today when several are asked about)."""
    total = 0
    for timezone_name, branch_ids in _branch_groups(branch_id):
        today = clock.today(timezone_name)
        total += _revenue_of(branch_ids, today, today, timezone_name)
    return total


def revenue_this_month(branch_id=None):
    """Revenue of the branch's current calendar month up to today, in poisha."""
    total = 0
    for timezone_name, branch_ids in _branch_groups(branch_id):
        today = clock.today(timezone_name)
        total += _revenue_of(branch_ids, today.replace(day=1), today, timezone_name)
    return total


def _revenue_of(branch_ids, start, end, timezone_name):
    spans = periods(start, end, "year", timezone_name)
    received = sum(row[-1] for row in _received_rows(branch_ids, spans))
    refunded = sum(row[-1] for row in _refund_rows(branch_ids, spans))
    kept = sum(row[-1] for row in _kept_fee_rows(branch_ids, spans))
    return received - refunded + kept


# The dimensions revenue can be split by: the locker (zone, size) or the term of the rental
# each payment, refund or kept fee belongs to. Money with no rental falls under None.
REVENUE_DIMENSIONS = ("zone", "size", "term")


def _rental_joins(dimension):
    def joins(stmt, rental_id_column):
        stmt = stmt.outerjoin(Rental, rental_id_column == Rental.id)
        if dimension in ("zone", "size"):
            stmt = stmt.outerjoin(Locker, Rental.locker_id == Locker.id)
        if dimension == "zone":
            stmt = stmt.outerjoin(Zone, Locker.zone_id == Zone.id)
        return stmt
    return joins


def _dimension_columns(dimension):
    if dimension == "zone":
        return (Zone.id.label("zone_id"),)
    if dimension == "size":
        return (Locker.size.label("size"),)
    if dimension == "term":
        return (Rental.term.label("term"),)
    raise ValueError(f"unknown dimension {dimension!r}; one of {REVENUE_DIMENSIONS}")


def revenue_by(branch_id, start, end, dimension):
    """{zone id | LockerSize | RentalTerm | None: poisha} of revenue in `start`…`end`.

    The same money as collections(), split by the rental each payment, refund or
    kept fee belongs to (a lost-key fee charged in cash has the rental of the
    locker whose key was lost). None collects money with no rental.
    """
    extra = _dimension_columns(dimension)
    joins = _rental_joins(dimension)
    totals = defaultdict(int)
    for timezone_name, branch_ids in _branch_groups(branch_id):
        spans = periods(start, end, "year", timezone_name)
        if not spans:
            return {}
        for _bucket_index, _method, key, amount in _received_rows(branch_ids, spans, extra, joins):
            totals[key] += amount
        for _bucket_index, _method, key, amount in _refund_rows(branch_ids, spans, extra, joins):
            totals[key] -= amount
        for _bucket_index, key, amount in _kept_fee_rows(branch_ids, spans, extra, joins):
            totals[key] += amount
    return dict(totals)


@dataclass(frozen=True)
class MethodTotal:
    """Money per payment method in a range: lines counted, received, refunded, net (poisha).

    DEPOSIT also counts the lost-key fees kept from deposits (as received).
    """

    method: PaymentMethod
    count: int
    received: int
    refunded: int

    @property
    def net(self):
        return self.received - self.refunded


def payment_methods(branch_id, start, end):
    """[MethodTotal] for every method, in PaymentMethod order; nets add up to revenue()."""
    counts = defaultdict(int)
    received = defaultdict(int)
    refunded = defaultdict(int)
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(Payment.method, sa.func.count(), sa.func.sum(Payment.amount_poisha))
                       .where(Payment.status.in_(billing.RECEIVED), Payment.paid_at >= lo,
                              Payment.paid_at < hi).group_by(Payment.method),
                       Payment.branch_id, branch_ids)
        for method, count, amount in db.session.execute(stmt):
            counts[method] += int(count)
            received[method] += int(amount or 0)
        spans = periods(start, end, "year", timezone_name)
        for _bucket_index, method, amount in _refund_rows(branch_ids, spans):
            refunded[method] += amount
        kept = _scoped(sa.select(sa.func.count(), sa.func.sum(-DepositEntry.amount_poisha))
                       .where(DepositEntry.kind == DepositEntryKind.FEE_DEDUCTED,
                              DepositEntry.at >= lo, DepositEntry.at < hi),
                       DepositEntry.branch_id, branch_ids)
        count, amount = db.session.execute(kept).one()
        counts[PaymentMethod.DEPOSIT] += int(count or 0)
        received[PaymentMethod.DEPOSIT] += int(amount or 0)
    return [MethodTotal(method, counts[method], received[method], refunded[method])
            for method in PaymentMethod]


@dataclass(frozen=True)
class TopPayer:
    """A client's share of revenue in a range (poisha) and how many payments it took."""

    client_id: int
    name: str
    phone: str
    payments: int
    net_poisha: int


def top_payers(branch_id, start, end, limit=20):
    """[TopPayer] by revenue from each client in `start`…`end` (same definition as revenue())."""
    net = defaultdict(int)
    counts = defaultdict(int)
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        paid = _scoped(sa.select(Payment.client_id, sa.func.count(), sa.func.sum(Payment.amount_poisha))
                       .where(Payment.status.in_(billing.RECEIVED), Payment.paid_at >= lo,
                              Payment.paid_at < hi).group_by(Payment.client_id),
                       Payment.branch_id, branch_ids)
        for client_id, count, amount in db.session.execute(paid):
            net[client_id] += int(amount or 0)
            counts[client_id] += int(count)
        given_back = _scoped(sa.select(Payment.client_id, sa.func.sum(Refund.amount_poisha))
                             .join(Payment, Refund.payment_id == Payment.id)
                             .where(Refund.refunded_at >= lo, Refund.refunded_at < hi)
                             .group_by(Payment.client_id), Payment.branch_id, branch_ids)
        for client_id, amount in db.session.execute(given_back):
            net[client_id] -= int(amount or 0)
        kept = _scoped(sa.select(DepositEntry.client_id, sa.func.sum(-DepositEntry.amount_poisha))
                       .where(DepositEntry.kind == DepositEntryKind.FEE_DEDUCTED,
                              DepositEntry.at >= lo, DepositEntry.at < hi)
                       .group_by(DepositEntry.client_id), DepositEntry.branch_id, branch_ids)
        for client_id, amount in db.session.execute(kept):
            net[client_id] += int(amount or 0)
    best = sorted(net.items(), key=lambda item: (-item[1], item[0]))[:limit]
    names = _client_names([client_id for client_id, _amount in best])
    return [TopPayer(client_id, *names.get(client_id, ("", "")), counts[client_id], amount)
            for client_id, amount in best]


def _client_names(client_ids):
    names = {}
    for ids in in_slices(client_ids):
        for client_id, name, phone in db.session.execute(
                sa.select(Client.id, Client.full_name, Client.phone).where(Client.id.in_(ids))):
            names[client_id] = (name, phone)
    return names


# --- dues and invoices ------------------------------------------------------------------------

@dataclass(frozen=True)
class Dues:
    """What clients owe now: the open balance of uncancelled invoices (app.services.billing)."""

    owed_poisha: int
    clients: int
    invoices: int


def _open_invoices(branch_ids, today):
    """[(invoice id, client id, due_on, total, owed, overdue)] of invoices with a balance.

    The balance and "overdue" are billing's own SQL (open_balance_sql, overdue_sql).
    """
    inner = _scoped(sa.select(Invoice.id.label("id"), Invoice.client_id.label("client_id"),
                              Invoice.due_on.label("due_on"), Invoice.total_poisha.label("total"),
                              billing.open_balance_sql().label("owed"),
                              sa.case((billing.overdue_sql(today), 1), else_=0).label("overdue"))
                    .where(Invoice.cancelled_at.is_(None), billing.open_balance_sql() > 0),
                    Invoice.branch_id, branch_ids).subquery()
    stmt = sa.select(inner).where(inner.c.owed > 0).order_by(inner.c.id)
    return [(row.id, row.client_id, row.due_on, int(row.total), int(row.owed), bool(row.overdue))
            for row in db.session.execute(stmt)]


def dues(branch_id=None):
    """Dues now: what is owed on uncancelled invoices, by how many clients, on how many invoices.

    Read from the amount owed billing keeps on each invoice (its index holds the open ones),
    not summed from every invoice's payments; no day enters into it.
    """
    stmt = sa.select(sa.func.coalesce(sa.func.sum(billing.open_balance_sql()), 0),
                     sa.func.count(sa.distinct(Invoice.client_id)), sa.func.count()).where(
        billing.open_balance_sql() > 0)
    if branch_id is not None:
        stmt = stmt.where(Invoice.branch_id == branch_id)
    owed, clients, invoices = db.session.execute(stmt).one()
    return Dues(int(owed), int(clients), int(invoices))


# (key, label, first day late, last day late); None: not yet due / no end.
AGEING = (
    ("not_due", _l("Not yet due"), None, 0),
    ("1_30", _l("1–30 days late"), 1, 30),
    ("31_60", _l("31–60 days late"), 31, 60),
    ("61_90", _l("61–90 days late"), 61, 90),
    ("over_90", _l("More than 90 days late"), 91, None),
)


@dataclass(frozen=True)
class AgeBucket:
    """Dues of one age: invoices, clients and what they owe (poisha)."""

    key: str
    label: object
    invoices: int
    clients: int
    owed_poisha: int


def _late_since(rows, today):
    """{invoice id: the day it fell due}: the first unpaid instalment's date, or due_on."""
    with_instalments = defaultdict(list)
    ids = [row[0] for row in rows if row[5]]
    for chunk in in_slices(ids):
        for invoice_id, due_on, amount in db.session.execute(
                sa.select(Instalment.invoice_id, Instalment.due_on, Instalment.amount_poisha)
                .where(Instalment.invoice_id.in_(chunk))
                .order_by(Instalment.invoice_id, Instalment.due_on, Instalment.id)):
            with_instalments[invoice_id].append((due_on, int(amount)))
    since = {}
    for invoice_id, _client_id, due_on, total, owed, _overdue in rows:
        parts = with_instalments.get(invoice_id)
        if not parts:
            since[invoice_id] = due_on
            continue
        # billing.overdue_sql: the first instalment whose running total exceeds what was paid.
        paid, covered = total - owed, 0
        for instalment_due, amount in parts:
            covered += amount
            if covered > paid:
                since[invoice_id] = instalment_due
                break
        else:
            since[invoice_id] = due_on
    return since


def dues_ageing(branch_id=None):
    """[AgeBucket] of dues now, by days past due (not yet due, 1–30, 31–60, 61–90, over 90).

    An invoice is late when billing.overdue_sql says so; its age counts from the
    day it fell due (for instalments, the first one not covered by what was paid).
    """
    tally = {key: [0, set(), 0] for key, *_rest in AGEING}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        today = clock.today(timezone_name)
        rows = _open_invoices(branch_ids, today)
        since = _late_since(rows, today)
        for invoice_id, client_id, _due_on, _total, owed, overdue in rows:
            late = max(1, (today - since[invoice_id]).days) if overdue else 0
            key = next(key for key, _label, low, high in AGEING
                       if (low is None or late >= low) and (high is None or late <= high))
            tally[key][0] += 1
            tally[key][1].add(client_id)
            tally[key][2] += owed
    return [AgeBucket(key, label, tally[key][0], len(tally[key][1]), tally[key][2])
            for key, label, _low, _high in AGEING]


@dataclass(frozen=True)
class InvoiceStates:
    """Invoices issued in a range by where they stand now: counts and poisha.

    Paid: nothing left to pay (amount: their totals). Unpaid: a balance, not yet
    past due. Overdue: a balance past due (billing.overdue_sql). Amounts of the
    last two are what is still owed. Cancelled invoices are left out.
    """

    paid: int
    paid_poisha: int
    unpaid: int
    unpaid_poisha: int
    overdue: int
    overdue_poisha: int


def invoice_states(branch_id, start, end):
    """InvoiceStates of the invoices issued on the local days `start`…`end`."""
    counts = defaultdict(int)
    amounts = defaultdict(int)
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        today = clock.today(timezone_name)
        inner = _scoped(sa.select(Invoice.total_poisha.label("total"),
                                  billing.open_balance_sql().label("owed"),
                                  sa.case((billing.overdue_sql(today), 1), else_=0).label("late"))
                        .where(Invoice.cancelled_at.is_(None), Invoice.issued_at >= lo,
                               Invoice.issued_at < hi),
                        Invoice.branch_id, branch_ids).subquery()
        state = sa.case((inner.c.owed <= 0, "paid"), (inner.c.late == 1, "overdue"),
                        else_="unpaid").label("state")
        amount = sa.case((inner.c.owed <= 0, inner.c.total), else_=inner.c.owed)
        grouped = sa.select(state, sa.func.count(), sa.func.sum(amount)).group_by(state)
        for name, count, total in db.session.execute(grouped):
            counts[name] += int(count)
            amounts[name] += int(total or 0)
    return InvoiceStates(counts["paid"], amounts["paid"], counts["unpaid"], amounts["unpaid"],
                         counts["overdue"], amounts["overdue"])


@dataclass(frozen=True)
class VatPeriod:
    """VAT charged on the invoices issued in one local period (accrual basis), in poisha."""

    period: date
    invoices: int
    net_poisha: int
    vat_poisha: int
    total_poisha: int


def vat(branch_id, start, end, by="month"):
    """[VatPeriod] of uncancelled invoices issued in `start`…`end`, every period.

    VAT is owed on what is invoiced (the invoice's vat_poisha, the sum of its VAT
    line), on the day it is issued, whether or not it has been paid yet.
    """
    keyed = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        spans = periods(start, end, by, timezone_name)
        if not spans:
            return []
        for span in spans:
            keyed.setdefault(span.key, [0, 0, 0])
        inner = _scoped(sa.select(_bucket(Invoice.issued_at, spans).label("bucket"),
                                  Invoice.vat_poisha.label("vat"),
                                  Invoice.total_poisha.label("total"))
                        .where(Invoice.cancelled_at.is_(None),
                               Invoice.issued_at >= spans[0].starts_at,
                               Invoice.issued_at < spans[-1].ends_at),
                        Invoice.branch_id, branch_ids).subquery()
        stmt = sa.select(inner.c.bucket, sa.func.count(), sa.func.sum(inner.c.vat),
                         sa.func.sum(inner.c.total)).group_by(inner.c.bucket)
        for bucket, count, vat_total, total in db.session.execute(stmt):
            part = keyed[spans[bucket].key]
            part[0] += int(count)
            part[1] += int(vat_total or 0)
            part[2] += int(total or 0)
    return [VatPeriod(key, count, total - vat_total, vat_total, total)
            for key, (count, vat_total, total) in sorted(keyed.items())]


# --- deposits, refunds, lost keys -----------------------------------------------------------

@dataclass(frozen=True)
class DepositLedger:
    """Key deposits over a range (SPEC P5): a liability, never revenue. Positive poisha.

    held_at_start + taken − refunded − kept_as_fees − applied_to_dues = held_at_end.
    Fees kept and dues paid from deposits leave the liability and become revenue
    (collections() counts them); what is refunded goes back to clients.
    """

    held_at_start: int
    taken: int
    refunded: int
    kept_as_fees: int
    applied_to_dues: int
    held_at_end: int
    lines: dict = field(default_factory=dict)  # {DepositEntryKind: ledger lines in the range}


def deposit_ledger(branch_id, start, end):
    """DepositLedger of the local days `start`…`end`.

    What is held at the end is the branch's running total (DepositsHeld, kept by
    app.services.handover) less the lines written after the range, so no query
    sums the whole ledger.
    """
    sums = defaultdict(int)
    lines = defaultdict(int)
    held_now = 0
    after = 0
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        if branch_ids is None:
            held_now += handover.deposits_total(None)
        else:
            held_now += sum(handover.deposits_total(one) for one in branch_ids)
        later = _scoped(sa.select(sa.func.sum(DepositEntry.amount_poisha))
                        .where(DepositEntry.at >= hi), DepositEntry.branch_id, branch_ids)
        after += int(db.session.execute(later).scalar_one() or 0)
        within = _scoped(sa.select(DepositEntry.kind, sa.func.count(),
                                   sa.func.sum(DepositEntry.amount_poisha))
                         .where(DepositEntry.at >= lo, DepositEntry.at < hi)
                         .group_by(DepositEntry.kind), DepositEntry.branch_id, branch_ids)
        for kind, count, amount in db.session.execute(within):
            sums[kind] += int(amount or 0)
            lines[kind] += int(count)
    held_at_end = held_now - after
    moved = sum(sums.values())
    return DepositLedger(
        held_at_start=held_at_end - moved, taken=sums[DepositEntryKind.TAKEN],
        refunded=-sums[DepositEntryKind.REFUNDED], kept_as_fees=-sums[DepositEntryKind.FEE_DEDUCTED],
        applied_to_dues=-sums[DepositEntryKind.APPLIED_TO_DUES], held_at_end=held_at_end,
        lines={kind: lines[kind] for kind in DepositEntryKind})


@dataclass(frozen=True)
class RefundLine:
    """One refund given: when (UTC and branch day), to whom, on what payment, why."""

    refund_id: int
    refunded_at: datetime
    day: date
    client_id: int
    client_name: str
    method: PaymentMethod
    amount_poisha: int
    reason: str


def refunds(branch_id, start, end):
    """[RefundLine] of refunds given on the local days `start`…`end`, oldest first."""
    out = []
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(Refund.id, Refund.refunded_at, Payment.client_id, Client.full_name,
                                 Payment.method, Refund.amount_poisha, Refund.reason)
                       .join(Payment, Refund.payment_id == Payment.id)
                       .join(Client, Payment.client_id == Client.id)
                       .where(Refund.refunded_at >= lo, Refund.refunded_at < hi),
                       Payment.branch_id, branch_ids)
        for refund_id, at, client_id, name, method, amount, reason in db.session.execute(stmt):
            out.append(RefundLine(refund_id, at, clock.local_day(at, timezone_name), client_id, name,
                                  method, int(amount), reason))
    return sorted(out, key=lambda line: (line.refunded_at, line.refund_id))


@dataclass(frozen=True)
class LostKeyFee:
    """A lost-key fee: kept from the deposit ("deposit") or charged as a payment ("charged")."""

    at: datetime
    day: date
    client_id: int | None
    client_name: str
    locker_number: str
    settled: str
    amount_poisha: int


def lost_key_fees(branch_id, start, end):
    """[LostKeyFee] taken on the local days `start`…`end`, oldest first.

    Fees kept from deposits are FEE_DEDUCTED ledger lines; fees charged are the
    payments app.services.handover writes without an invoice, referenced
    handover.LOST_KEY_FEE_REFERENCE. Refunds of a fee are in refunds().
    """
    out = []
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        kept = _scoped(sa.select(DepositEntry.at, DepositEntry.client_id, Client.full_name,
                                 Locker.number, -DepositEntry.amount_poisha)
                       .join(Client, DepositEntry.client_id == Client.id)
                       .outerjoin(Key, DepositEntry.key_id == Key.id)
                       .outerjoin(Locker, Key.locker_id == Locker.id)
                       .where(DepositEntry.kind == DepositEntryKind.FEE_DEDUCTED,
                              DepositEntry.at >= lo, DepositEntry.at < hi),
                       DepositEntry.branch_id, branch_ids)
        charged = _scoped(sa.select(Payment.paid_at, Payment.client_id, Client.full_name,
                                    Locker.number, Payment.amount_poisha)
                          .join(Client, Payment.client_id == Client.id)
                          .outerjoin(Rental, Payment.rental_id == Rental.id)
                          .outerjoin(Locker, Rental.locker_id == Locker.id)
                          .where(Payment.invoice_id.is_(None),
                                 Payment.reference == handover.LOST_KEY_FEE_REFERENCE,
                                 Payment.status.in_(billing.RECEIVED),
                                 Payment.paid_at >= lo, Payment.paid_at < hi),
                          Payment.branch_id, branch_ids)
        for settled, stmt in (("deposit", kept), ("charged", charged)):
            for at, client_id, name, number, amount in db.session.execute(stmt):
                out.append(LostKeyFee(at, clock.local_day(at, timezone_name), client_id, name,
                                      number or "", settled, int(amount)))
    return sorted(out, key=lambda fee: (fee.at, fee.client_name))


@dataclass(frozen=True)
class LostKeyIncidents:
    """How many keys a client lost in a range, and the last time (UTC and branch day)."""

    client_id: int
    client_name: str
    phone: str
    incidents: int
    last_at: datetime
    last_day: date


def lost_key_incidents(branch_id, start, end):
    """[LostKeyIncidents] per client of keys reported lost on `start`…`end`, most first."""
    counts = defaultdict(int)
    last = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(KeyEvent.client_id, sa.func.count(), sa.func.max(KeyEvent.at))
                       .join(Key, KeyEvent.key_id == Key.id)
                       .join(Locker, Key.locker_id == Locker.id)
                       .where(KeyEvent.kind == KeyEventKind.LOST, KeyEvent.client_id.is_not(None),
                              KeyEvent.at >= lo, KeyEvent.at < hi)
                       .group_by(KeyEvent.client_id), Locker.branch_id, branch_ids)
        for client_id, count, at in db.session.execute(stmt):
            counts[client_id] += int(count)
            if client_id not in last or at > last[client_id][0]:
                last[client_id] = (at, clock.local_day(at, timezone_name))
    names = _client_names(counts)
    rows = [LostKeyIncidents(client_id, *names.get(client_id, ("", "")), count, *last[client_id])
            for client_id, count in counts.items()]
    return sorted(rows, key=lambda row: (-row.incidents, row.client_name, row.client_id))


# --- lockers --------------------------------------------------------------------------------

def lockers_by_status(branch_id=None):
    """{LockerStatus: count} including zeros (app.services.reports.locker_status_counts)."""
    return reports.locker_status_counts(branch_id)


@dataclass(frozen=True)
class Occupancy:
    """Lockers taken of those usable now; `percent` is reports.occupancy_percent's."""

    lockers: int
    usable: int
    taken: int
    percent: int
    zone_id: int | None = None
    name: str = ""


def _occupancy(counts, **where):
    usable = sum(n for status, n in counts.items() if status not in OUT_OF_USE)
    taken = sum(counts[status] for status in TAKEN)
    return Occupancy(sum(counts.values()), usable, taken, reports.occupancy_percent(counts), **where)


def occupancy(branch_id=None):
    """Occupancy now over the branch's lockers: taken / usable (not in maintenance or out of service)."""
    return _occupancy(lockers_by_status(branch_id))


def occupancy_by_zone(branch_id=None, zone_id=None):
    """[Occupancy] per zone now (by floor level, then zone name)."""
    stmt = _scoped(sa.select(Locker.zone_id, Locker.status, sa.func.count())
                   .group_by(Locker.zone_id, Locker.status), Locker.branch_id,
                   None if branch_id is None else [branch_id])
    if zone_id is not None:
        stmt = stmt.where(Locker.zone_id == zone_id)
    per_zone = defaultdict(lambda: dict.fromkeys(LockerStatus, 0))
    for found_zone, status, count in db.session.execute(stmt):
        per_zone[found_zone][status] = int(count)
    zones = _zones(per_zone)
    return [_occupancy(per_zone[found_zone], zone_id=found_zone, name=zones[found_zone][0])
            for found_zone in sorted(per_zone, key=lambda z: zones[z][1])]


def zone_names(zone_ids):
    """{zone id: name in the reader's language} of `zone_ids`, by branch, floor and name."""
    zones = _zones(zone_ids)
    return {zone_id: zones[zone_id][0] for zone_id in sorted(zones, key=lambda z: zones[z][1])}


def _zones(zone_ids):
    """{zone id: (local name, sort key)}."""
    found = {}
    ids = list(zone_ids)
    for chunk in in_slices(ids):
        stmt = sa.select(Zone.id, Zone.name, Zone.name_bn, Branch.name, Zone.floor_id).join(
            Branch, Zone.branch_id == Branch.id).where(Zone.id.in_(chunk))
        for zone_id, name, name_bn, branch_name, floor_id in db.session.execute(stmt):
            found[zone_id] = (local_name(name, name_bn), (branch_name, floor_id, name, zone_id))
    return found


@dataclass(frozen=True)
class LockerRef:
    """A locker as lists name it."""

    locker_id: int
    number: str
    zone_id: int
    zone_name: str


def lockers_never_rented(branch_id=None, zone_id=None, since=None):
    """[LockerRef] of lockers never rented (reservations that lapsed do not count), by number.

    With `since` (naive UTC): no rental started since then.
    """
    rented = sa.exists().where(Rental.locker_id == Locker.id, Rental.status.in_(RENTED))
    if since is not None:
        rented = rented.where(Rental.starts_at >= since)
    stmt = _scoped(sa.select(Locker.id, Locker.number, Locker.zone_id).where(~rented),
                   Locker.branch_id, None if branch_id is None else [branch_id])
    if zone_id is not None:
        stmt = stmt.where(Locker.zone_id == zone_id)
    rows = db.session.execute(stmt.order_by(Locker.number, Locker.id)).all()
    zones = _zones({row.zone_id for row in rows})
    return [LockerRef(row.id, row.number, row.zone_id, zones[row.zone_id][0]) for row in rows]


# --- time on lockers: utilisation -----------------------------------------------------------

def _merge(intervals):
    """Sorted, non-overlapping union of (start, end) intervals."""
    out = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _intersect(first, second):
    """Intersection of two sorted, non-overlapping interval lists."""
    out, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        start = max(first[i][0], second[j][0])
        end = min(first[i][1], second[j][1])
        if start < end:
            out.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def _seconds_in(intervals, spans):
    """[seconds of `intervals` inside each span]."""
    out = []
    for span in spans:
        total = 0
        for start, end in intervals:
            overlap = (min(end, span.ends_at) - max(start, span.starts_at)).total_seconds()
            if overlap > 0:
                total += overlap
        out.append(total)
    return out


def _rental_end(row, renewed, now):
    """When a rental stopped holding its locker (at most `now`).

    A released or abandoned rental stopped at `ended_at`; one renewed before its
    end is followed by its renewal from `ends_at`, so it counts until then; one
    still holding counts until now.
    """
    if row.ended_at is not None:
        end = row.ended_at
    elif row.status in HOLDING_TERMS:
        end = now
    else:
        end = row.ends_at
    if row.id in renewed:
        end = max(end, row.ends_at)
    return min(end, now)


def _rentals_overlapping(branch_ids, zone_id, lo, hi):
    """Rentals that held a locker at some time in [lo, hi).

    Three reads, each by an index, together every rental whose end (_rental_end)
    can reach `lo`: those whose term ends at or after `lo`; those given back at or
    after `lo` though their term ended before; those still holding their locker.
    """
    columns = (Rental.id, Rental.locker_id, Rental.client_id, Rental.starts_at, Rental.ends_at,
               Rental.ended_at, Rental.status, Rental.renewed_from_id)
    # SQLite plans without histograms: it reads the index of a range bounded on both sides
    # before one bounded on one side, and reads the status index (nearly the whole table)
    # for "status IN (four of six)". So each read bounds its time on both sides (a term is
    # at most MAX_TERM; nothing was given back after now), and the status is checked here.
    started = sa.select(*columns).where(Rental.starts_at < hi)
    reads = (started.where(Rental.ends_at >= lo, Rental.ends_at < hi + MAX_TERM),
             started.where(Rental.ends_at < lo, Rental.ended_at >= lo,
                           Rental.ended_at <= clock.now() + MAX_TERM),
             started.where(Rental.ends_at < lo, Rental.ended_at.is_(None),
                           Rental.holding_locker_id.is_not(None)))
    rows = []
    for stmt in reads:
        stmt = _scoped(stmt, Rental.branch_id, branch_ids)
        if zone_id is not None:
            stmt = stmt.join(Locker, Rental.locker_id == Locker.id).where(Locker.zone_id == zone_id)
        rows.extend(row for row in db.session.execute(stmt) if row.status in RENTED)
    return rows


def _renewed_ids(rental_ids):
    renewed = set()
    for chunk in in_slices(rental_ids):
        renewed.update(db.session.execute(sa.select(Rental.renewed_from_id).where(
            Rental.renewed_from_id.in_(chunk))).scalars())
    return renewed


def _occupied(branch_ids, zone_id, lo, hi, now):
    """{locker id: merged [(start, end)]} of time rented within [lo, min(hi, now))."""
    rows = _rentals_overlapping(branch_ids, zone_id, lo, hi)
    renewed = _renewed_ids([row.id for row in rows])
    top = min(hi, now)
    per_locker = defaultdict(list)
    for row in rows:
        start, end = max(row.starts_at, lo), min(_rental_end(row, renewed, now), top)
        if start < end:
            per_locker[row.locker_id].append((start, end))
    return {locker_id: _merge(intervals) for locker_id, intervals in per_locker.items()}


def _usable(branch_ids, zone_id, lo, hi, now):
    """({locker id: [(start, end)] usable within [lo, min(hi, now))}, {locker id: number}).

    Usable: the locker existed and was not in Maintenance or Out of service, by
    its status history (LockerStatusChange) since `lo`.
    """
    top = min(hi, now)
    lockers = _scoped(sa.select(Locker.id, Locker.number, Locker.status, Locker.created_at),
                      Locker.branch_id, branch_ids)
    changes = _scoped(sa.select(LockerStatusChange.locker_id, LockerStatusChange.changed_at,
                                LockerStatusChange.from_status, LockerStatusChange.to_status)
                      .join(Locker, LockerStatusChange.locker_id == Locker.id)
                      .where(LockerStatusChange.changed_at >= lo)
                      .order_by(LockerStatusChange.locker_id, LockerStatusChange.changed_at,
                                LockerStatusChange.id), Locker.branch_id, branch_ids)
    if zone_id is not None:
        lockers = lockers.where(Locker.zone_id == zone_id)
        changes = changes.where(Locker.zone_id == zone_id)
    history = defaultdict(list)
    for locker_id, at, from_status, to_status in db.session.execute(changes):
        history[locker_id].append((at, from_status, to_status))
    usable, numbers = {}, {}
    for locker_id, number, status, created_at in db.session.execute(lockers.order_by(Locker.number)):
        numbers[locker_id] = number
        moves = history.get(locker_id, [])
        # The status at `lo`: what the first change since then changed from (None: the locker
        # did not exist yet), else the current one.
        current = moves[0][1] if moves else status
        cursor = lo
        intervals = []
        for at, _from_status, to_status in moves:
            if current is not None and current not in OUT_OF_USE:
                intervals.append((cursor, at))
            current, cursor = to_status, max(at, lo)
        if current is not None and current not in OUT_OF_USE:
            intervals.append((cursor, top))
        usable[locker_id] = _merge([(max(s, lo, created_at), min(e, top)) for s, e in intervals])
    return usable, numbers


@dataclass(frozen=True)
class Utilised:
    """Share of usable locker time that was rented in one period.

    occupied_days and usable_days are locker-days (a locker rented for the
    whole of a 30-day month is 30 of each); `percent` is None when no locker
    was usable (a period still to come).
    """

    period: date
    occupied_days: float
    usable_days: float
    percent: float | None


def locker_time(timezone_name, branch_ids, start, end, by, zone_id):
    """Locker time of the branches `branch_ids` (one timezone) on `start`…`end`, counted live.

    (spans, {locker id: [rented seconds per span]}, {locker id: [usable seconds per span]},
    {locker id: number}), or None when the range is empty.
    """
    now = clock.now()
    spans = periods(start, end, by, timezone_name)
    if not spans:
        return None
    lo, hi = spans[0].starts_at, spans[-1].ends_at
    usable, numbers = _usable(branch_ids, zone_id, lo, hi, now)
    occupied = _occupied(branch_ids, zone_id, lo, hi, now)
    used = {locker_id: _seconds_in(_intersect(occupied.get(locker_id, []), intervals), spans)
            for locker_id, intervals in usable.items()}
    open_ = {locker_id: _seconds_in(intervals, spans) for locker_id, intervals in usable.items()}
    return spans, used, open_, numbers


# --- days already counted (app.services.day_figures) ---------------------------------------------

def _counted_split(column, branch_ids, start, end):
    """(last day of `start`…`end` to read from the counted days, or None;
    first day to count live, or None): the counted days are those every branch asked
    about has counted (DaysCounted.time_through or .terms_through)."""
    stmt = sa.select(sa.func.min(getattr(DaysCounted, column)), sa.func.count())
    if branch_ids is None:
        wanted = db.session.execute(sa.select(sa.func.count()).select_from(Branch)).scalar_one()
    else:
        wanted = len(branch_ids)
        stmt = stmt.where(DaysCounted.branch_id.in_(branch_ids))
    through, found = db.session.execute(stmt).one()
    if through is None or found < wanted or through < start:
        return None, start
    last = min(through, end)
    return last, (last + timedelta(days=1) if last < end else None)


def _counted_time(branch_ids, first, last):
    """[(day, rented seconds, usable seconds)] of the counted days `first`…`last`, all lockers."""
    stmt = _scoped(sa.select(BranchDay.day, sa.func.sum(BranchDay.occupied_seconds),
                             sa.func.sum(BranchDay.usable_seconds))
                   .where(BranchDay.day >= first, BranchDay.day <= last)
                   .group_by(BranchDay.day), BranchDay.branch_id, branch_ids)
    return [(day, int(rented or 0), int(open_seconds or 0))
            for day, rented, open_seconds in db.session.execute(stmt)]


def _counted_weeks(branch_ids, start, end):
    """(first Monday, last Sunday) of the whole weeks of `start`…`end` counted per locker, or None."""
    counted_to, _live_from = _counted_split("time_through", branch_ids, start, end)
    if counted_to is None:
        return None
    first_monday = start + timedelta(days=(7 - start.weekday()) % 7)
    week_end = last_sunday(counted_to)
    return (first_monday, week_end) if first_monday < week_end else None


def _lockers_in(branch_ids, zone_id):
    """{locker id: number} of the lockers there now."""
    stmt = _scoped(sa.select(Locker.id, Locker.number), Locker.branch_id, branch_ids)
    if zone_id is not None:
        stmt = stmt.where(Locker.zone_id == zone_id)
    return dict(db.session.execute(stmt).all())


def _percent(part, whole):
    return round(100 * part / whole, 1) if whole else None


def utilisation(branch_id, start, end, by="day", zone_id=None):
    """[Utilised] per local day/week/month of `start`…`end`: occupied / usable locker time.

    Occupied time runs from a rental's start until it stopped holding its locker
    (released, abandoned, or still holding: until now); a rental spanning several
    periods counts in each for the part it overlaps. Usable time is locker time
    outside Maintenance and Out of service. Time after now is neither. Days the
    worker has counted are added up from what it kept; the rest are counted here.
    """
    used = defaultdict(float)
    usable = defaultdict(float)
    keys = [span.key for span in periods(start, end, by)]
    for timezone_name, branch_ids in _branch_groups(branch_id):
        # A zone is part of one branch: small enough to count live.
        counted_to, live_from = (_counted_split("time_through", branch_ids, start, end)
                                 if zone_id is None else (None, start))
        if counted_to is not None:
            for day, rented, open_seconds in _counted_time(branch_ids, start, counted_to):
                used[period_key(day, by)] += rented
                usable[period_key(day, by)] += open_seconds
        parts = live_from and locker_time(timezone_name, branch_ids, live_from, end, by, zone_id)
        if parts:
            spans, per_locker_used, per_locker_usable, _numbers = parts
            for seconds in per_locker_used.values():
                for span, value in zip(spans, seconds, strict=True):
                    used[span.key] += value
            for seconds in per_locker_usable.values():
                for span, value in zip(spans, seconds, strict=True):
                    usable[span.key] += value
    return [Utilised(key, round(used[key] / DAY_SECONDS, 2), round(usable[key] / DAY_SECONDS, 2),
                     _percent(used[key], usable[key])) for key in keys]


def utilisation_by_locker(branch_id, start, end, by="week", zone_id=None):
    """(period keys, [(locker id, number, [percent or None per period])]): the heatmap's cells.

    Whole weeks the worker has counted are added up per locker in the database;
    the rest (a part week at either end, the weeks since) are counted here.
    """
    keys = [span.key for span in periods(start, end, by)]
    used = defaultdict(lambda: defaultdict(float))
    usable = defaultdict(lambda: defaultdict(float))
    numbers = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        weeks = _counted_weeks(branch_ids, start, end) if by == "week" else None
        live = [(start, end)]
        if weeks is not None:
            first_monday, week_end = weeks
            numbers.update(_lockers_in(branch_ids, zone_id))
            stmt = _scoped(sa.select(LockerWeek.locker_id, LockerWeek.week, LockerWeek.occupied_seconds,
                                     LockerWeek.usable_seconds)
                           .where(LockerWeek.week >= first_monday, LockerWeek.week <= week_end),
                           LockerWeek.branch_id, branch_ids)
            if zone_id is not None:
                stmt = stmt.join(Locker, LockerWeek.locker_id == Locker.id).where(
                    Locker.zone_id == zone_id)
            for locker_id, week, rented, open_seconds in db.session.execute(stmt):
                used[locker_id][week] += rented
                usable[locker_id][week] += open_seconds
            live = [(first, last) for first, last in (
                (start, first_monday - timedelta(days=1)), (week_end + timedelta(days=1), end))
                if first <= last]
        for first, last in live:
            parts = locker_time(timezone_name, branch_ids, first, last, by, zone_id)
            if not parts:
                continue
            spans, per_locker_used, per_locker_usable, found = parts
            numbers.update(found)
            for locker_id, seconds in per_locker_usable.items():
                for span, open_seconds, rented in zip(spans, seconds, per_locker_used[locker_id],
                                                      strict=True):
                    used[locker_id][span.key] += rented
                    usable[locker_id][span.key] += open_seconds
    rows = [(locker_id, number, [_percent(used[locker_id][key], usable[locker_id][key])
                                 for key in keys]) for locker_id, number in numbers.items()]
    return keys, sorted(rows, key=lambda row: (row[1], row[0]))


# --- rentals and clients ---------------------------------------------------------------------

def new_clients(branch_id, start, end):
    """Clients registered on the local days `start`…`end`."""
    total = 0
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        total += int(db.session.execute(_scoped(
            sa.select(sa.func.count()).select_from(Client)
            .where(Client.registered_at >= lo, Client.registered_at < hi),
            Client.branch_id, branch_ids)).scalar_one())
    return total


def grace_period():
    return timedelta(days=int(settings.get("grace_period_days")))


def _term_end_sql():
    """SQL: _term_end() of the Rental row."""
    return sa.case((sa.and_(Rental.ended_at.is_not(None), Rental.ended_at < Rental.ends_at),
                    Rental.ended_at), else_=Rental.ends_at)


def _term_end(row):
    """When a term ended: its end date, or earlier if it was released before that."""
    if row.ended_at is not None and row.ended_at < row.ends_at:
        return row.ended_at
    return row.ends_at


@dataclass(frozen=True)
class RenewalRate:
    """Terms that ended in a period and how many of them the client continued."""

    ended: int
    renewed: int

    @property
    def percent(self):
        return round(100 * self.renewed / self.ended) if self.ended else None


def renewal_rate(branch_id, start, end):
    """RenewalRate of the rental terms that ended on the local days `start`…`end`.

    A term ends at its end date, or when it was released before that (a key
    returned early). It counts as renewed when a renewal points at it (SPEC R3:
    a renewal is a new rental with renewed_from), or when the same client started
    another rental at the branch, on any locker, after the term started and no
    later than the grace period (settings "grace_period_days") after it ended: a
    client who moved lockers stayed. A term is counted once decided: renewed, or
    its grace period over. Reservations and cancelled rentals are not terms.
    Days the worker has counted (their terms all decided) are added up from what
    it kept; the rest are counted here (terms_by_day).
    """
    ended = renewed = 0
    for timezone_name, branch_ids in _branch_groups(branch_id):
        counted_to, live_from = _counted_split("terms_through", branch_ids, start, end)
        if counted_to is not None:
            kept_ended, kept_renewed = db.session.execute(_scoped(
                sa.select(sa.func.coalesce(sa.func.sum(TermsDay.ended), 0),
                          sa.func.coalesce(sa.func.sum(TermsDay.renewed), 0))
                .where(TermsDay.day >= start, TermsDay.day <= counted_to),
                TermsDay.branch_id, branch_ids)).one()
            ended += int(kept_ended)
            renewed += int(kept_renewed)
        if live_from is not None:
            for day_ended, day_renewed in terms_by_day(timezone_name, branch_ids, live_from,
                                                        end).values():
                ended += day_ended
                renewed += day_renewed
    return RenewalRate(ended, renewed)


def terms_by_day(timezone_name, branch_ids, start, end):
    """{local day: (terms ended, renewed)} of the decided terms that ended on `start`…`end`
    at the branches `branch_ids` (one timezone), counted live: renewal_rate()'s rule."""
    now = clock.now()
    grace = grace_period()
    lo, hi = _utc_range(start, end, timezone_name)
    stmt = _scoped(sa.select(Rental.id, Rental.client_id, Rental.starts_at, Rental.ends_at,
                             Rental.ended_at)
                   .where(Rental.status.in_(RENTED), Rental.days > 0,
                          Rental.ends_at >= lo, Rental.ends_at < hi + MAX_TERM,
                          # The term ended before `hi`: at its end date or when released.
                          sa.or_(Rental.ends_at < hi, Rental.ended_at < hi)),
                   Rental.branch_id, branch_ids)
    terms = [row for row in db.session.execute(stmt)
             if lo <= _term_end(row) < hi and _term_end(row) <= now]
    counts = defaultdict(lambda: [0, 0])
    if not terms:
        return {}
    continued = _renewed_ids([row.id for row in terms])
    later = defaultdict(list)
    for chunk in in_slices({row.client_id for row in terms}):
        for client_id, started in db.session.execute(_scoped(
                sa.select(Rental.client_id, Rental.starts_at)
                .where(Rental.client_id.in_(chunk), Rental.status.in_(RENTED),
                       Rental.starts_at >= lo - MAX_TERM),
                Rental.branch_id, branch_ids)):
            later[client_id].append(started)
    for row in terms:
        window_end = _term_end(row) + grace
        stayed = row.id in continued or any(
            row.starts_at < started <= window_end for started in later[row.client_id])
        if stayed or window_end <= now:
            count = counts[clock.local_day(_term_end(row), timezone_name)]
            count[0] += 1
            count[1] += 1 if stayed else 0
    return {day: tuple(count) for day, count in counts.items()}


@dataclass(frozen=True)
class Tenure:
    """A client holding a locker now, and since when without a break (branch day)."""

    client_id: int
    name: str
    since: date
    days: int


def _holders(branch_ids, extra_where=()):
    stmt = _scoped(sa.select(Rental.id, Rental.client_id, Rental.locker_id, Rental.ends_at,
                             Rental.term, Rental.days, Rental.branch_id)
                   .where(Rental.holding_locker_id.is_not(None), Rental.status.in_(HOLDING_TERMS),
                          *extra_where), Rental.branch_id, branch_ids)
    return db.session.execute(stmt.order_by(Rental.ends_at, Rental.id)).all()


def longest_tenured_clients(branch_id=None, limit=10):
    """[Tenure] of the clients holding a locker now, longest unbroken tenure first.

    Tenure is the current, continuous stay: from the start of the earliest rental
    of an unbroken run of the client's rentals (any locker of the branch) that
    reaches now, where "unbroken" allows a gap of up to the grace period between
    one rental's end and the next one's start. Past stays before a longer break
    do not count: a loyal client who left for a year starts again.
    """
    grace = grace_period()
    now = clock.now()
    out = []
    for timezone_name, branch_ids in _branch_groups(branch_id):
        holder_ids = {row.client_id for row in _holders(branch_ids)}
        history = defaultdict(list)
        for chunk in in_slices(holder_ids):
            for client_id, starts_at, ends_at, ended_at, status in db.session.execute(_scoped(
                    sa.select(Rental.client_id, Rental.starts_at, Rental.ends_at, Rental.ended_at,
                              Rental.status)
                    .where(Rental.client_id.in_(chunk), Rental.status.in_(RENTED)),
                    Rental.branch_id, branch_ids)):
                end = now if status in HOLDING_TERMS else max(ends_at, ended_at or ends_at)
                history[client_id].append((starts_at, end))
        today = clock.today(timezone_name)
        for client_id, stays in history.items():
            stays.sort()
            since = None
            reach = None
            for starts_at, end in stays:
                if reach is None or starts_at > reach + grace:
                    since = starts_at
                reach = end if reach is None else max(reach, end)
            first_day = clock.local_day(since, timezone_name)
            out.append((client_id, first_day, (today - first_day).days))
    names = _client_names([client_id for client_id, *_rest in out])
    rows = [Tenure(client_id, names.get(client_id, ("", ""))[0], since, days)
            for client_id, since, days in out]
    return sorted(rows, key=lambda row: (-row.days, row.name, row.client_id))[:limit]


@dataclass(frozen=True)
class Expiring:
    """A rental ending soon at its branch."""

    rental_id: int
    client_id: int
    client_name: str
    locker_number: str
    ends_at: datetime
    ends_on: date


def expiring_this_week(branch_id=None, days=7):
    """[Expiring] active rentals ending today or in the next `days` branch days, soonest first.

    The same rentals as the dashboard's card (reports.expiring_soon_condition).
    """
    stmt = sa.select(Rental.id, Rental.client_id, Client.full_name, Locker.number, Rental.ends_at,
                     Branch.timezone).join(Client, Rental.client_id == Client.id).join(
        Locker, Rental.locker_id == Locker.id).join(Branch, Rental.branch_id == Branch.id).where(
        reports.expiring_soon_condition(days))
    if branch_id is not None:
        stmt = stmt.where(Rental.branch_id == branch_id)
    return [Expiring(rental_id, client_id, name, number, ends_at, clock.local_day(ends_at, tz))
            for rental_id, client_id, name, number, ends_at, tz in db.session.execute(
                stmt.order_by(Rental.ends_at, Rental.id))]


# --- insights (SPEC D6) --------------------------------------------------------------------

# Points of each part of the at-risk score (higher: more likely to leave). Shown to staff
# part by part, so the score is never a black box.
RISK_DAYS_LEFT = ((0, 40), (3, 30), (7, 20), (14, 10))   # (at most this many days left, points)
RISK_RENEWALS = ((0, 25), (1, 15), (3, 5))                # (at most this many renewals, points)
RISK_PER_LATE_INVOICE, RISK_LATE_MAX = 10, 20
RISK_DUES = 15
RISK_HORIZON_DAYS = 30


def _points(value, table):
    return next((points for limit, points in table if value <= limit), 0)


@dataclass(frozen=True)
class AtRisk:
    """A client whose term ends soon (or ended), with each part of their score.

    `points` is {"days_left", "renewals", "late_payments", "dues"}: the score is
    their sum (0–100).
    """

    client_id: int
    client_name: str
    rental_id: int
    locker_number: str
    ends_on: date
    days_left: int
    past_renewals: int
    late_payments: int
    dues_poisha: int
    points: dict

    @property
    def score(self):
        return sum(self.points.values())


def clients_at_risk(branch_id=None, limit=20):
    """[AtRisk] of clients holding a term that ends within 30 days (or has ended), riskiest first.

    Parts: days left in the term (expired 40 … 14 days 10); past renewals (none
    25, one 15, two or three 5); late payments — invoices now overdue or paid
    in full after their due date (10 each, at most 20); dues now (15 if any).
    """
    out = []
    for timezone_name, branch_ids in _branch_groups(branch_id):
        today = clock.today(timezone_name)
        horizon = clock.day_start_utc(today + timedelta(days=RISK_HORIZON_DAYS + 1), timezone_name)
        holdings = _holders(branch_ids, (Rental.ends_at < horizon,))
        if not holdings:
            continue
        client_ids = {row.client_id for row in holdings}
        renewals, late, owed = defaultdict(int), defaultdict(int), defaultdict(int)
        for chunk in in_slices(client_ids):
            for client_id, count in db.session.execute(
                    sa.select(Rental.client_id, sa.func.count())
                    .where(Rental.client_id.in_(chunk), Rental.renewed_from_id.is_not(None))
                    .group_by(Rental.client_id)):
                renewals[client_id] = int(count)
            last_paid = (sa.select(sa.func.max(Payment.paid_at))
                         .where(Payment.invoice_id == Invoice.id,
                                Payment.status.in_(billing.RECEIVED)).scalar_subquery())
            for client_id, due_on, balance, overdue, paid_at in db.session.execute(
                    sa.select(Invoice.client_id, Invoice.due_on, billing.open_balance_sql(),
                              sa.case((billing.overdue_sql(today), 1), else_=0), last_paid)
                    .where(Invoice.client_id.in_(chunk), Invoice.cancelled_at.is_(None))):
                balance = int(balance)
                if balance > 0:
                    owed[client_id] += balance
                paid_late = (balance <= 0 and paid_at is not None
                             and clock.local_day(paid_at, timezone_name) > due_on)
                if overdue or paid_late:
                    late[client_id] += 1
        numbers = _locker_numbers({row.locker_id for row in holdings})
        names = _client_names(client_ids)
        for row in holdings:
            ends_on = clock.local_day(row.ends_at, timezone_name)
            days_left = (ends_on - today).days
            points = {"days_left": _points(days_left, RISK_DAYS_LEFT),
                      "renewals": _points(renewals[row.client_id], RISK_RENEWALS),
                      "late_payments": min(RISK_LATE_MAX, RISK_PER_LATE_INVOICE * late[row.client_id]),
                      "dues": RISK_DUES if owed[row.client_id] > 0 else 0}
            out.append(AtRisk(row.client_id, names.get(row.client_id, ("", ""))[0], row.id,
                              numbers.get(row.locker_id, ""), ends_on, days_left,
                              renewals[row.client_id], late[row.client_id], owed[row.client_id],
                              points))
    return sorted(out, key=lambda row: (-row.score, row.ends_on, row.rental_id))[:limit]


@dataclass(frozen=True)
class ExpectedRevenue:
    """Renewal prices of the active terms ending in the next 30 days, in poisha."""

    total_poisha: int
    rentals: int
    unpriced: int = 0


def expected_revenue_next_30_days(branch_id=None):
    """ExpectedRevenue if every active term ending today … in 29 days were renewed.

    Each is priced as its renewal would be today (app.services.rentals.renewal_quote:
    the same term, the price matrix in force, the client's discounts and VAT).
    Quotes are shared by rentals that would be priced alike (same locker kind,
    term and client tags). A term that cannot be priced is counted in `unpriced`.
    """
    condition = sa.and_(Rental.status == RentalStatus.ACTIVE, clock.branch_days_condition(
        Rental.ends_at, Rental.branch_id, timedelta(0), timedelta(days=29)))
    stmt = sa.select(Rental.id, Rental.client_id, Rental.term, Rental.days, Rental.branch_id,
                     Locker.category_id, Zone.kind).join(Locker, Rental.locker_id == Locker.id).join(
        Zone, Locker.zone_id == Zone.id).where(condition)
    if branch_id is not None:
        stmt = stmt.where(Rental.branch_id == branch_id)
    rows = db.session.execute(stmt).all()
    tags = defaultdict(set)
    for chunk in in_slices({row.client_id for row in rows}):
        for client_id, tag_id in db.session.execute(sa.select(
                client_tags.c.client_id, client_tags.c.tag_id).where(
                client_tags.c.client_id.in_(chunk))):
            tags[client_id].add(tag_id)
    prices = {}
    total = unpriced = 0
    for row in rows:
        key = (row.branch_id, row.category_id, row.kind, row.term,
               row.days if row.term is RentalTerm.CUSTOM else None, frozenset(tags[row.client_id]))
        if key not in prices:
            try:
                prices[key] = rentals_service.renewal_quote(row.id).total_poisha
            except rentals_service.RentalError:
                prices[key] = None
        if prices[key] is None:
            unpriced += 1
        else:
            total += prices[key]
    return ExpectedRevenue(total, len(rows) - unpriced, unpriced)


# --- operations: maintenance, lengths, turnover, retention, inactive clients ---------------------

@dataclass(frozen=True)
class LockerMaintenance:
    """Tickets of one locker opened in a range: how many, still open, resolved, their cost."""

    locker_id: int
    number: str
    zone_name: str
    tickets: int
    still_open: int
    resolved: int
    cost_poisha: int


def maintenance_by_locker(branch_id, start, end, zone_id=None):
    """[LockerMaintenance] of tickets opened on `start`…`end`, most tickets first."""
    totals = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        resolved = sa.case((MaintenanceTicket.status == TicketStatus.RESOLVED, 1), else_=0)
        stmt = _scoped(sa.select(MaintenanceTicket.locker_id, Locker.number, Locker.zone_id,
                                 sa.func.count(), sa.func.sum(resolved),
                                 sa.func.sum(MaintenanceTicket.cost_poisha))
                       .join(Locker, MaintenanceTicket.locker_id == Locker.id)
                       .where(MaintenanceTicket.opened_at >= lo, MaintenanceTicket.opened_at < hi)
                       .group_by(MaintenanceTicket.locker_id, Locker.number, Locker.zone_id),
                       MaintenanceTicket.branch_id, branch_ids)
        if zone_id is not None:
            stmt = stmt.where(Locker.zone_id == zone_id)
        for locker_id, number, found_zone, count, done, cost in db.session.execute(stmt):
            totals[locker_id] = (number, found_zone, int(count), int(done or 0), int(cost or 0))
    zones = _zones({row[1] for row in totals.values()})
    rows = [LockerMaintenance(locker_id, number, zones[found_zone][0], count, count - done, done, cost)
            for locker_id, (number, found_zone, count, done, cost) in totals.items()]
    return sorted(rows, key=lambda row: (-row.tickets, row.number))


@dataclass(frozen=True)
class RentalLength:
    """How long rentals started in a range held their locker, per zone (days, one decimal)."""

    zone_id: int
    zone_name: str
    rentals: int
    average_days: float
    longest_days: float


class SecondsBetween(FunctionElement):
    """SQL: seconds from `earlier` to `later` (naive UTC datetimes), in each database's words.

    The one date function the figures use: a year of rentals measured in Python
    was most of a second at a chain's size.
    """

    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(SecondsBetween)
def _seconds_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(SecondsBetween, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(SecondsBetween, "mysql")
@compiles(SecondsBetween, "mariadb")
def _seconds_mysql(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {earlier}, {later}) / 1000000.0)"


def average_rental_length(branch_id, start, end, zone_id=None):
    """[RentalLength] per zone of rentals started on `start`…`end`.

    A rental's length is the time it held its locker as a term: from its start
    to its end date, or to when it was released if earlier, or to now if it is
    still running. (A renewal is a rental of its own; the stay across renewals
    is longest_tenured_clients'.) Measured and added up per zone in the database.
    """
    now = clock.now()
    term_end = _term_end_sql()
    stop = sa.case((term_end > now, sa.literal(now, sa.DateTime)), else_=term_end)
    held = SecondsBetween(stop, Rental.starts_at)
    length = sa.case((held > 0, held), else_=0.0)
    totals = {}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(Locker.zone_id, sa.func.count(), sa.func.sum(length),
                                 sa.func.max(length))
                       .join(Locker, Rental.locker_id == Locker.id)
                       .where(Rental.status.in_(RENTED), Rental.days > 0,
                              Rental.starts_at >= lo, Rental.starts_at < hi)
                       .group_by(Locker.zone_id), Rental.branch_id, branch_ids)
        if zone_id is not None:
            stmt = stmt.where(Locker.zone_id == zone_id)
        for found_zone, rentals, seconds, longest in db.session.execute(stmt):
            count, total, most = totals.get(found_zone, (0, 0.0, 0.0))
            totals[found_zone] = (count + int(rentals), total + float(seconds or 0),
                                  max(most, float(longest or 0)))
    zones = _zones(totals)
    rows = [RentalLength(found_zone, zones[found_zone][0], count,
                         round(total / count / DAY_SECONDS, 1), round(most / DAY_SECONDS, 1))
            for found_zone, (count, total, most) in totals.items()]
    return sorted(rows, key=lambda row: zones[row.zone_id][1])


@dataclass(frozen=True)
class LockerTurnover:
    """Rentals started on a locker in a range and how many different clients they were."""

    locker_id: int
    number: str
    zone_name: str
    rentals: int
    clients: int


def turnover(branch_id, start, end, zone_id=None):
    """[LockerTurnover] of every locker in scope (zeros included), most clients first.

    Counted per locker in the database: a year of a chain's rentals never comes to Python.
    """
    counts = defaultdict(int)
    clients = defaultdict(int)
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(Rental.locker_id, sa.func.count(),
                                 sa.func.count(sa.distinct(Rental.client_id)))
                       .where(Rental.status.in_(RENTED), Rental.days > 0,
                              Rental.starts_at >= lo, Rental.starts_at < hi)
                       .group_by(Rental.locker_id), Rental.branch_id, branch_ids)
        if zone_id is not None:
            stmt = stmt.join(Locker, Rental.locker_id == Locker.id).where(Locker.zone_id == zone_id)
        for locker_id, rentals, distinct_clients in db.session.execute(stmt):
            counts[locker_id] += int(rentals)
            clients[locker_id] += int(distinct_clients)
    stmt = _scoped(sa.select(Locker.id, Locker.number, Locker.zone_id), Locker.branch_id,
                   None if branch_id is None else [branch_id])
    if zone_id is not None:
        stmt = stmt.where(Locker.zone_id == zone_id)
    lockers = db.session.execute(stmt).all()
    zones = _zones({row.zone_id for row in lockers})
    rows = [LockerTurnover(row.id, row.number, zones[row.zone_id][0], counts[row.id],
                           clients[row.id]) for row in lockers]
    return sorted(rows, key=lambda row: (-row.clients, -row.rentals, row.number))


@dataclass(frozen=True)
class LockerYear:
    """The locker analytics page (SPEC L5): the last year's lengths and turnover, idle lockers."""

    time_on_locker: list
    average_turnover: float
    busiest: list
    idle: list


def locker_year(branch_id, idle_months, busiest=20):
    """LockerYear of the branch (None: every branch): rentals started in the last 365 days,
    the `busiest` lockers by distinct clients, lockers not rented for `idle_months` × 30 days."""
    today = clock.branch_today(branch_id)
    year_ago = today - timedelta(days=365)
    lockers = turnover(branch_id, year_ago, today)
    average = round(sum(row.clients for row in lockers) / len(lockers), 2) if lockers else 0
    idle_since = clock.day_start_utc(today - timedelta(days=30 * idle_months),
                                     clock.branch_timezone(branch_id))
    return LockerYear(average_rental_length(branch_id, year_ago, today), average,
                      [row for row in lockers if row.clients][:busiest],
                      lockers_never_rented(branch_id, since=idle_since))


@dataclass(frozen=True)
class Retained:
    """Clients renting when a period began and how many still rented when it ended (or now)."""

    period: date
    at_start: int
    still: int

    @property
    def percent(self):
        return round(100 * self.still / self.at_start, 1) if self.at_start else None


def retention(branch_id, start, end, by="month"):
    """[Retained] per local period: of the clients holding a locker at its first moment,
    those holding one (any locker) at its last moment, or now for a period not over.

    Whole months the worker has counted are read from what it kept (RetentionMonth);
    the rest (a part month at either end, the months since) are counted here.
    """
    keyed = {span.key: [0, 0] for span in periods(start, end, by)}
    for timezone_name, branch_ids in _branch_groups(branch_id):
        months = _counted_months(branch_ids, start, end) if by == "month" else None
        live = [(start, end)]
        if months is not None:
            first, last = months
            for month, at_start, still in db.session.execute(_scoped(
                    sa.select(RetentionMonth.month, sa.func.sum(RetentionMonth.clients_at_start),
                              sa.func.sum(RetentionMonth.clients_still))
                    .where(RetentionMonth.month >= first, RetentionMonth.month <= last)
                    .group_by(RetentionMonth.month), RetentionMonth.branch_id, branch_ids)):
                keyed[month][0] += int(at_start)
                keyed[month][1] += int(still)
            live = [(low, high) for low, high in (
                (start, first - timedelta(days=1)), (next_period_key(last, "month"), end)) if low <= high]
        for low, high in live:
            for key, (at_start, still) in retained(timezone_name, branch_ids, low, high, by).items():
                keyed[key][0] += at_start
                keyed[key][1] += still
    return [Retained(key, at_start, still) for key, (at_start, still) in sorted(keyed.items())]


def _counted_months(branch_ids, start, end):
    """(first, last) month (their first days) of the whole months of `start`…`end` counted, or None."""
    counted_to, _live_from = _counted_split("time_through", branch_ids, start, end)
    if counted_to is None:
        return None
    first = start if start.day == 1 else next_period_key(start.replace(day=1), "month")
    last = counted_to.replace(day=1)
    if (counted_to + timedelta(days=1)).day != 1:  # counted only part of that month
        last = (last - timedelta(days=1)).replace(day=1)
    return (first, last) if first <= last else None


def retained(timezone_name, branch_ids, start, end, by="month"):
    """{period key: [clients holding at its first moment, of them holding at its last]} of the
    branches `branch_ids` (one timezone) on `start`…`end`, counted live: retention()'s rule."""
    now = clock.now()
    spans = periods(start, end, by, timezone_name)
    keyed = {span.key: [0, 0] for span in spans}
    if not spans:
        return keyed
    # The moments asked about, in time order: each period's first and last (or now).
    moments = []
    for index, span in enumerate(spans):
        if span.starts_at <= now:
            last = min(span.ends_at, now) - timedelta(microseconds=1)
            moments.extend([(span.starts_at, index, 0), (last, index, 1)])
    moments.sort()
    times = [moment for moment, _index, _end in moments]
    holders = [set() for _moment in moments]
    rows = _rentals_overlapping(branch_ids, None, spans[0].starts_at, spans[-1].ends_at)
    renewed = _renewed_ids([row.id for row in rows])
    for row in rows:
        # The moments this stay covers: starts_at <= moment < its end.
        first = bisect_left(times, row.starts_at)
        for position in range(first, bisect_left(times, _rental_end(row, renewed, now))):
            holders[position].add(row.client_id)
    held = {(index, end_): holders[position]
            for position, (_moment, index, end_) in enumerate(moments)}
    for index, span in enumerate(spans):
        if (index, 0) in held:
            begin = held[(index, 0)]
            keyed[span.key][0] += len(begin)
            keyed[span.key][1] += len(begin & held[(index, 1)])
    return keyed


@dataclass(frozen=True)
class Inactive:
    """A client whose last rental ended in the range and who has rented nothing since."""

    client_id: int
    client_name: str
    phone: str
    locker_number: str
    ended_on: date
    days_since: int


def inactive_clients(branch_id, start, end):
    """[Inactive] clients whose last rental ended on `start`…`end`, longest gone first.

    The last rental is the one the client started last; it ended (its term, or
    earlier when released) in the range and was not renewed, and the client
    holds no locker now. The client row keeps that rental and its end
    (app.services.inactivity): the range is read from their index, and the
    branch is the rental's.
    """
    out = []
    for timezone_name, branch_ids in _branch_groups(branch_id):
        lo, hi = _utc_range(start, end, timezone_name)
        stmt = _scoped(sa.select(Client.id, Client.full_name, Client.phone, Client.inactive_since,
                                 Locker.number)
                       .join(Rental, Rental.id == Client.inactive_rental_id)
                       .join(Locker, Locker.id == Rental.locker_id)
                       .where(Client.inactive_since >= lo, Client.inactive_since < hi),
                       Rental.branch_id, branch_ids)
        today = clock.today(timezone_name)
        for row in db.session.execute(stmt):
            ended_on = clock.local_day(row.inactive_since, timezone_name)
            out.append(Inactive(row.id, row.full_name, row.phone, row.number, ended_on,
                                (today - ended_on).days))
    return sorted(out, key=lambda row: (row.ended_on, row.client_name, row.client_id))
