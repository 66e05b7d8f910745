"""Invoices, payments against them, refunds, cancellations and desk shifts (SPEC P2, P3, P6).

An invoice's state is never stored: invoice_state() derives it from the
invoice, its payments and their refunds, so every screen, export and PDF
agrees. Invoice numbers come from a counter row per series, locked while the
number is taken and incremented in the same transaction as the invoice, so a
rollback gives the number back (no gap) and two desks never share one.
"""

import calendar
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from app.extensions import db
from app.i18n import money
from app.models import ActivityAction
from app.models import Instalment
from app.models import Invoice
from app.models import InvoiceCounter
from app.models import InvoiceLine
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Refund
from app.models import Rental
from app.models import Shift
from app.models import utcnow
from app.models.base import LabelledEnum
from app.services import audit
from app.services import clock
from app.services import events
from app.services import locking
from app.services import pricing
from app.services import settings
from app.services.errors import Refusal
from app.services.transactions import desk_action
from app.services.transactions import show_kept_values

MAX_INSTALMENTS = 24
# Payments whose money came in (a refunded payment was still received first).
RECEIVED = (PaymentStatus.PAID, PaymentStatus.REFUNDED)


class BillingError(Refusal):
    """The rules refuse this; `message` is shown to staff and nothing was saved."""


class InvoiceState(LabelledEnum):
    """What an invoice looks like to the desk (SPEC P2), derived by invoice_state()."""

    PAID = "paid"
    DUE = "due"
    PARTIAL = "partial"
    OVERDUE = "overdue"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    PENDING = "pending"

    @classmethod
    def _labels(cls):
        return {
            cls.PAID: _l("Paid"),
            cls.DUE: _l("Due"),
            cls.PARTIAL: _l("Partial"),
            cls.OVERDUE: _l("Overdue"),
            cls.REFUNDED: _l("Refunded"),
            cls.CANCELLED: _l("Cancelled"),
            cls.PENDING: _l("Pending"),
        }


@dataclass(frozen=True)
class Totals:
    """Money received on an invoice, in poisha."""

    paid: int
    refunded: int
    total: int

    @property
    def net_paid(self):
        return self.paid - self.refunded

    @property
    def balance(self):
        """The running balance: total − paid + refunded."""
        return self.total - self.paid + self.refunded


# --- numbering -----------------------------------------------------------------------

class _NoSequence:
    """Formats as nothing, whatever the format spec: the series key of a format."""

    def __format__(self, spec):
        return ""


def _format_number(fmt, prefix, day, seq):
    try:
        return fmt.format(prefix=prefix, YYYY=f"{day.year:04d}", YY=f"{day.year % 100:02d}",
                          MM=f"{day.month:02d}", seq=seq)
    except (KeyError, IndexError, ValueError) as exc:
        raise BillingError(_l("The invoice number format in the settings is not valid: "
                              "%(format)s", format=fmt)) from exc


def series_for(day):
    """The series an invoice issued on `day` belongs to: the number without its sequence."""
    fmt = settings.get("invoice_format")
    if "{seq" not in fmt:
        raise BillingError(_l("The invoice number format in the settings is not valid: "
                              "%(format)s", format=fmt))
    key = _format_number(fmt, settings.get("invoice_prefix"), day, _NoSequence())
    return key.rstrip("-/_ .") or key


def _create_counter_apart(series):
    """Create the counter row of a new series in its own short, committed transaction.

    On PostgreSQL and MariaDB many desks may start a series at once; InnoDB can
    settle such duplicate inserts with a deadlock that rolls back a whole
    transaction, so the row is made apart from the desk's work, and retried.
    """
    row = {"series": series, "next_number": settings.get("invoice_start")}
    for _attempt in range(10):
        with db.engine.connect() as conn:
            try:
                conn.execute(InvoiceCounter.__table__.insert(), row)
                conn.commit()
                return
            except IntegrityError:
                conn.rollback()
                return  # another desk created it
            except OperationalError:
                conn.rollback()  # a deadlock between creators: try again
    raise RuntimeError(f"could not create invoice counter {series}")


def _counter_locked(series):
    """The counter row of `series`, locked for the rest of the transaction (created if new)."""
    stmt = (db.select(InvoiceCounter).where(InvoiceCounter.series == series)
            .with_for_update().execution_options(populate_existing=True))
    if db.session.get_bind().dialect.name == "sqlite":
        # One writer at a time on SQLite, and this session may already hold the
        # write lock, so a new series' row is added right here.
        counter = db.session.execute(stmt).scalar_one_or_none()
        if counter is None:
            counter = InvoiceCounter(series=series, next_number=settings.get("invoice_start"))
            db.session.add(counter)
            db.session.flush()
        return counter
    # A plain read first: on MariaDB a locking read of a missing row takes a gap
    # lock that would block the row's creation in its own transaction.
    exists = db.session.execute(
        db.select(InvoiceCounter.series).where(InvoiceCounter.series == series)).first()
    if exists is None:
        _create_counter_apart(series)
    return db.session.execute(stmt).scalar_one()


def next_invoice_number(day):
    """Take the next number of `day`'s series; part of the caller's transaction."""
    counter = _counter_locked(series_for(day))
    number = _format_number(settings.get("invoice_format"), settings.get("invoice_prefix"), day,
                            counter.next_number)
    counter.next_number += 1
    return number


# --- invoices --------------------------------------------------------------------------

def _add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def split_instalments(total_poisha, count, first_due_on):
    """[(due_on, poisha)] monthly from `first_due_on`; the last takes the remainder."""
    share = total_poisha // count
    amounts = [share] * (count - 1) + [total_poisha - share * (count - 1)]
    return [(_add_months(first_due_on, n), amount) for n, amount in enumerate(amounts)]


def add_invoice(rental, quote, *, by_user_id, due_on=None, instalments=None):
    """Add the invoice of `rental` to the caller's transaction (which commits it).

    The number is taken from the locked counter row; a coupon in the quote is
    redeemed on the new invoice, and a refused coupon raises BillingError so the
    caller rolls the whole thing back.
    """
    timezone = rental.branch.timezone
    today = clock.today(timezone)
    due_on = due_on or today
    count = int(instalments or 0)
    if count > 1:
        if rental.days < settings.get("instalments_from_days"):
            raise BillingError(_l("Only terms of %(days)d days or more can be paid in "
                                  "instalments.", days=settings.get("instalments_from_days")),
                               field="instalments")
        if count > MAX_INSTALMENTS:
            raise BillingError(_l("At most %(count)d instalments.", count=MAX_INSTALMENTS),
                               field="instalments")
    invoice = Invoice(
        number=next_invoice_number(today), branch_id=rental.branch_id,
        client_id=rental.client_id, rental_id=rental.id, coupon_id=quote.coupon_id,
        due_on=due_on, subtotal_poisha=int(quote.subtotal_poisha),
        discount_poisha=int(quote.discount_poisha), vat_poisha=int(quote.vat_poisha),
        total_poisha=int(quote.total_poisha), issued_by_id=by_user_id)
    invoice.lines = [InvoiceLine(position=n, kind=line.kind, description=str(line.description),
                                 amount_poisha=int(line.amount_poisha))
                     for n, line in enumerate(quote.lines, start=1)]
    if count > 1:
        invoice.instalments = [Instalment(due_on=day, amount_poisha=amount) for day, amount
                               in split_instalments(invoice.total_poisha, count, due_on)]
    db.session.add(invoice)
    db.session.flush()
    if quote.coupon_id:
        try:
            pricing.redeem_coupon(quote.coupon_id, rental.client_id, invoice.id)
        except pricing.PricingError as exc:
            raise BillingError(exc.message, field="coupon_code") from exc
    _event(events.INVOICE_ISSUED, invoice, by_user_id, number=invoice.number,
           total_poisha=invoice.total_poisha)
    return invoice


def _event(name, invoice, by_user_id, **data):
    locker_id = db.session.execute(db.select(Rental.locker_id).where(
        Rental.id == invoice.rental_id)).scalar_one_or_none() if invoice.rental_id else None
    events.record(name, branch_id=invoice.branch_id, locker_id=locker_id,
                  client_id=invoice.client_id, rental_id=invoice.rental_id,
                  by_user_id=by_user_id, invoice_id=invoice.id, **data)


@desk_action
def issue_invoice(rental_id, quote, *, by_user_id, due_on=None, instalments=None):
    """Issue the invoice of a rental from a priced quote, with its number; commits.

    Lines are stored in the quote's order. With `instalments` (a count of 2 or
    more) for a term of at least settings "instalments_from_days" days, the
    total is split into monthly instalments summing exactly to it.
    """
    rental = locking.lock_rental(rental_id).rental
    return add_invoice(rental, quote, by_user_id=by_user_id, due_on=due_on,
                       instalments=instalments)


def invoice_of(rental_id):
    """The invoice of a rental's term (the latest, if it was ever re-issued), or None."""
    return db.session.execute(db.select(Invoice).where(Invoice.rental_id == rental_id)
                              .order_by(Invoice.id.desc()).limit(1)).scalar_one_or_none()


def totals(invoice):
    """What was received and refunded on `invoice`, in poisha."""
    paid = db.session.execute(db.select(db.func.coalesce(db.func.sum(Payment.amount_poisha), 0))
                              .where(Payment.invoice_id == invoice.id,
                                     Payment.status.in_(RECEIVED))).scalar_one()
    refunded = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(Refund.amount_poisha), 0)).join(Payment)
        .where(Payment.invoice_id == invoice.id)).scalar_one()
    return Totals(paid=int(paid), refunded=int(refunded), total=int(invoice.total_poisha))


def balance(invoice):
    """The running balance still owed: total − paid + refunded."""
    return totals(invoice).balance


def _has_pending(invoice):
    return db.session.execute(db.select(Payment.id).where(
        Payment.invoice_id == invoice.id, Payment.status == PaymentStatus.PENDING).limit(1)
    ).first() is not None


def _past_due(invoice, net_paid, today):
    if invoice.instalments:
        covered = 0
        for instalment in invoice.instalments:
            covered += instalment.amount_poisha
            if covered > net_paid and instalment.due_on < today:
                return True
        return False
    return invoice.due_on < today


def invoice_state(invoice, today=None, *, received=None, pending=None):
    """The invoice's state (SPEC P2): the one place it is derived.

    `received` (its Totals) and `pending` (whether a payment is pending) are read
    here unless given, as states_of() gives them for a whole page of invoices.
    """
    if invoice.cancelled_at is not None:
        return InvoiceState.CANCELLED
    received = received or totals(invoice)
    net = received.net_paid
    if received.paid > 0 and received.refunded > 0 and net <= 0:
        return InvoiceState.REFUNDED
    if net >= received.total:
        return InvoiceState.PAID
    if net <= 0 and (_has_pending(invoice) if pending is None else pending):
        return InvoiceState.PENDING
    today = today or clock.today(invoice.branch.timezone)
    if _past_due(invoice, net, today):
        return InvoiceState.OVERDUE
    if net > 0:
        return InvoiceState.PARTIAL
    return InvoiceState.DUE


def states_of(invoices, today=None):
    """{invoice id: state} of many invoices in three statements, whatever their number (a list)."""
    ids = [invoice.id for invoice in invoices]
    if not ids:
        return {}
    paid = dict(db.session.execute(
        db.select(Payment.invoice_id, db.func.sum(Payment.amount_poisha))
        .where(Payment.invoice_id.in_(ids), Payment.status.in_(RECEIVED))
        .group_by(Payment.invoice_id)).all())
    refunded = dict(db.session.execute(
        db.select(Payment.invoice_id, db.func.sum(Refund.amount_poisha)).join(Payment)
        .where(Payment.invoice_id.in_(ids)).group_by(Payment.invoice_id)).all())
    pending = set(db.session.execute(
        db.select(Payment.invoice_id).where(Payment.invoice_id.in_(ids),
                                            Payment.status == PaymentStatus.PENDING)
        .distinct()).scalars())
    return {invoice.id: invoice_state(
        invoice, today, pending=invoice.id in pending,
        received=Totals(paid=int(paid.get(invoice.id) or 0),
                        refunded=int(refunded.get(invoice.id) or 0),
                        total=int(invoice.total_poisha)))
        for invoice in invoices}


# --- dues: the one definition ---------------------------------------------------------
# What a client owes is the open balance of their invoices that are not cancelled:
# total − received + refunded, per invoice. The grid's dues mark, the client list's
# payment filter, the profile, the documents and the reports all ask here, in
# Python for one invoice and in SQL for lists, so they never disagree.

def net_received_sql(invoice_id):
    """SQL: money received on the invoice `invoice_id` (a column or value), less refunds."""
    paid = (sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_poisha), 0))
            .where(Payment.invoice_id == invoice_id, Payment.status.in_(RECEIVED))
            .scalar_subquery())
    refunded = (sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_poisha), 0))
                .join(Payment, Refund.payment_id == Payment.id)
                .where(Payment.invoice_id == invoice_id).scalar_subquery())
    return paid - refunded


def open_balance_sql():
    """SQL: what is still owed on an Invoice (0 for a cancelled one): its kept owed_poisha."""
    return Invoice.owed_poisha


def owed_from_payments_sql():
    """SQL, correlated to Invoice: what is owed on it, summed from its payments and refunds.

    The definition of Invoice.owed_poisha, which _keep_owed writes with it.
    """
    return sa.case((Invoice.cancelled_at.is_not(None), 0),
                   else_=Invoice.total_poisha - net_received_sql(Invoice.id))


def _invoices_touched(session):
    """Ids of the invoices whose amount owed this flush may change."""
    ids, payment_ids = set(), set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Invoice):
            ids.add(obj.id)
        elif isinstance(obj, Payment):
            history = sa.inspect(obj).attrs.invoice_id.history
            ids.update(i for i in (obj.invoice_id, *history.deleted) if i is not None)
        elif isinstance(obj, Refund):
            payment_ids.add(obj.payment_id)
    if payment_ids:
        ids.update(session.connection().execute(sa.select(Payment.invoice_id).where(
            Payment.id.in_(payment_ids), Payment.invoice_id.is_not(None))).scalars())
    return ids - {None}


def _keep_owed(session, flush_context):
    """Write owed_poisha of every invoice this flush touched, in the flush's transaction."""
    ids = _invoices_touched(session)
    if not ids:
        return
    connection = session.connection()
    connection.execute(sa.update(Invoice).where(Invoice.id.in_(ids))
                       .values(owed_poisha=owed_from_payments_sql()))
    show_kept_values(session, Invoice, ids, Invoice.owed_poisha)


def keep_owed_again(invoice_ids=None):
    """Write owed_poisha afresh from the payments (all invoices by default); returns how many.

    For rows written around the session (a bulk load) and for checking: the
    session keeps it otherwise.
    """
    stmt = sa.update(Invoice).values(owed_poisha=owed_from_payments_sql())
    if invoice_ids is not None:
        stmt = stmt.where(Invoice.id.in_(list(invoice_ids)))
    return db.session.execute(stmt).rowcount


def install_listeners():
    """Keep invoices' owed_poisha from every session; safe to call again."""
    if not sa.event.contains(Session, "after_flush", _keep_owed):
        sa.event.listen(Session, "after_flush", _keep_owed)


def owed_on_locker_sql(locker_id, client_id):
    """SQL: what `client_id` still owes on their rentals of `locker_id` (columns), renewals included.

    The rentals summed are an alias of their own: given the enclosing query's
    Rental columns, the same entity here would compare each inner row with
    itself and add up what every past holder of the locker still owes.
    """
    owed_for = aliased(Rental)
    return (sa.select(sa.func.coalesce(sa.func.sum(open_balance_sql()), 0))
            .join(owed_for, Invoice.rental_id == owed_for.id)
            .where(owed_for.locker_id == locker_id, owed_for.client_id == client_id)
            .scalar_subquery())


def overdue_sql(today):
    """SQL, correlated to Invoice: owed and past due on `today` (an instalment's date counts).

    The same rule as invoice_state(): without instalments the invoice's due date;
    with them, the first instalment whose running total exceeds what was paid.
    """
    earlier = aliased(Instalment)
    running_total = (sa.select(sa.func.sum(earlier.amount_poisha))
                     .where(earlier.invoice_id == Instalment.invoice_id,
                            earlier.due_on <= Instalment.due_on).scalar_subquery())
    has_instalments = sa.exists().where(Instalment.invoice_id == Invoice.id)
    # Received so far, net: the total less what is owed (the invoice is not cancelled here).
    late_instalment = sa.exists().where(Instalment.invoice_id == Invoice.id,
                                        Instalment.due_on < today,
                                        running_total > Invoice.total_poisha - Invoice.owed_poisha)
    return sa.and_(open_balance_sql() > 0, sa.or_(
        sa.and_(~has_instalments, Invoice.due_on < today), late_instalment))


def clients_owing(*, overdue_on=None):
    """SQL: ids of clients with money owed (past due on `overdue_on`, when given)."""
    condition = overdue_sql(overdue_on) if overdue_on is not None else open_balance_sql() > 0
    return sa.select(Invoice.client_id).where(condition)


def client_owes(client_id):
    """What the client still owes on all their invoices, in poisha."""
    return int(db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(open_balance_sql()), 0))
        .where(Invoice.client_id == client_id)).scalar_one())


def received_up_to(invoice, payment=None):
    """Money received on `invoice` less refunds, counting payments up to `payment` (a receipt)."""
    condition = [Payment.invoice_id == invoice.id, Payment.status.in_(RECEIVED)]
    if payment is not None:
        condition.append(sa.or_(Payment.paid_at < payment.paid_at, sa.and_(
            Payment.paid_at == payment.paid_at, Payment.id <= payment.id)))
    paid = db.session.execute(sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_poisha), 0))
                              .where(*condition)).scalar_one()
    refunded = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_poisha), 0))
        .join(Payment, Refund.payment_id == Payment.id).where(*condition)).scalar_one()
    return int(paid) - int(refunded)


# --- payments, refunds, cancellations --------------------------------------------------

def open_shift_of(user_id):
    """The user's open shift, or None."""
    if user_id is None:
        return None
    return db.session.execute(db.select(Shift).where(Shift.staff_id == user_id,
                                                     Shift.closed_at.is_(None))
                              .order_by(Shift.id.desc())).scalars().first()


# Methods the payment desk offers; DEPOSIT is only ever written by settle_from_deposit.
DESK_METHODS = tuple(method for method in PaymentMethod if method is not PaymentMethod.DEPOSIT)


def _take(invoice, amount_poisha, method, by_user_id, reference=None):
    """A payment of `amount_poisha` on the locked `invoice`; refused beyond its balance."""
    if invoice.cancelled_at is not None:
        raise BillingError(_l("Invoice %(number)s is cancelled; it cannot be paid.",
                              number=invoice.number))
    if amount_poisha <= 0:
        raise BillingError(_l("Enter an amount of more than 0."), field="amount")
    owed = balance(invoice)
    if amount_poisha > owed:
        raise BillingError(_l("That is more than the balance of %(balance)s. Nothing was "
                              "saved.", balance=money(owed)), field="amount")
    shift = open_shift_of(by_user_id)
    payment = Payment(
        branch_id=invoice.branch_id, client_id=invoice.client_id, rental_id=invoice.rental_id,
        invoice_id=invoice.id, shift_id=shift.id if shift is not None else None,
        amount_poisha=amount_poisha, method=method, status=PaymentStatus.PAID,
        reference=(reference or "").strip()[:64] or None, received_by_id=by_user_id)
    db.session.add(payment)
    db.session.flush()
    _event(events.PAYMENT_RECORDED, invoice, by_user_id, payment_id=payment.id,
           amount_poisha=amount_poisha, method=method.name)
    return payment


def take_payment(invoice, amount_poisha, method, *, by_user_id, reference=None):
    """A payment on the locked `invoice` within the caller's transaction (a gateway's credit)."""
    return _take(invoice, amount_poisha, method, by_user_id, reference)


@desk_action
def record_payment(invoice_id, amount_poisha, method, *, by_user_id, reference=None):
    """Take a payment against an invoice (at most its balance); commits and returns it.

    The invoice row is locked first, so two desks taking the last taka at once
    are applied one after the other and the second is refused.
    """
    if isinstance(amount_poisha, bool) or not isinstance(amount_poisha, int):
        raise TypeError("amount_poisha must be an int")
    if not isinstance(method, PaymentMethod):
        method = PaymentMethod[method]
    if method not in DESK_METHODS:
        raise BillingError(_l("Dues are paid from the deposit only when the key is returned."),
                           field="method")
    return _take(locking.lock_invoice(invoice_id), amount_poisha, method, by_user_id, reference)


def open_invoices_on_locker(locker_id, client_id):
    """The client's invoices for rentals of the locker that still have a balance, oldest first."""
    return list(db.session.execute(
        sa.select(Invoice).join(Rental, Invoice.rental_id == Rental.id)
        .where(Rental.locker_id == locker_id, Rental.client_id == client_id,
               open_balance_sql() > 0)
        .order_by(Invoice.issued_at, Invoice.id)).scalars())


def owed_on_locker(locker_id, client_id):
    """What the client still owes on their rentals of the locker, in poisha."""
    return int(db.session.execute(sa.select(owed_on_locker_sql(locker_id, client_id))).scalar_one())


def settle_from_deposit(locker_id, client_id, amount_poisha, *, by_user_id):
    """Pay up to `amount_poisha` of the client's dues on the locker from their deposit.

    Runs inside the caller's transaction (the key return, which has written the
    deposit ledger line); the oldest invoice is paid first. Returns the payments.
    """
    payments = []
    left = amount_poisha
    for invoice in open_invoices_on_locker(locker_id, client_id):
        if left <= 0:
            break
        invoice = locking.lock_invoice(invoice.id)
        part = min(left, balance(invoice))
        if part > 0:
            payments.append(_take(invoice, part, PaymentMethod.DEPOSIT, by_user_id,
                                  reference="deposit"))
            left -= part
    return payments


def _reason(reason):
    text = (reason or "").strip()
    if not text:
        raise BillingError(_l("Give the reason."), field="reason")
    return text[:255]


def refundable(payment):
    """What may still be refunded on `payment`: its amount minus earlier refunds."""
    refunded = db.session.execute(db.select(db.func.coalesce(db.func.sum(Refund.amount_poisha), 0))
                                  .where(Refund.payment_id == payment.id)).scalar_one()
    return int(payment.amount_poisha) - int(refunded)


def check_refund(payment, amount_poisha, reason):
    """Refuse a refund the rules do not allow (BillingError); returns the cleaned reason.

    Called under the payment's lock by refund_payment(), and before a gateway is
    asked to give money back, so a refund the desk would refuse never leaves.
    """
    if payment.status is not PaymentStatus.PAID:
        raise BillingError(_l("Only a paid payment can be refunded."))
    text = _reason(reason)
    if amount_poisha <= 0:
        raise BillingError(_l("Enter an amount of more than 0."), field="amount")
    left = refundable(payment)
    if amount_poisha > left:
        raise BillingError(_l("At most %(amount)s can still be refunded on this payment.",
                              amount=money(left)), field="amount")
    return text


@desk_action
def refund_payment(payment_id, amount_poisha, reason, *, by_user_id):
    """Give money back on a payment, with the reason; commits and returns the Refund.

    A payment refunded in full is marked Refunded. Who may refund (payments-edit)
    is checked by the screen.
    """
    if isinstance(amount_poisha, bool) or not isinstance(amount_poisha, int):
        raise TypeError("amount_poisha must be an int")
    payment = locking.lock_payment(payment_id)
    text = check_refund(payment, amount_poisha, reason)
    left = refundable(payment)
    refund = Refund(payment_id=payment.id, amount_poisha=amount_poisha, reason=text,
                    refunded_by_id=by_user_id)
    db.session.add(refund)
    if amount_poisha == left:
        payment.status = PaymentStatus.REFUNDED
    db.session.flush()
    if payment.invoice is not None:
        _event(events.PAYMENT_REFUNDED, payment.invoice, by_user_id, payment_id=payment.id,
               refund_id=refund.id, amount_poisha=amount_poisha)
    return refund


@desk_action
def cancel_invoice(invoice_id, reason, *, by_user_id):
    """Cancel an invoice nobody has (net) paid anything on, with the reason; commits."""
    invoice = locking.lock_invoice(invoice_id)
    if invoice.cancelled_at is not None:
        raise BillingError(_l("Invoice %(number)s is already cancelled.", number=invoice.number))
    text = _reason(reason)
    if totals(invoice).net_paid > 0:
        raise BillingError(_l("Invoice %(number)s has payments; refund them before "
                              "cancelling it.", number=invoice.number))
    invoice.cancelled_at = utcnow()
    invoice.cancel_reason = text
    _event(events.INVOICE_CANCELLED, invoice, by_user_id, number=invoice.number)
    return invoice


# --- shifts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expectations:
    """What the app counts for a shift: money by method (poisha) and keys in the office."""

    by_method: dict
    cash_poisha: int
    keys_in_office: int


@desk_action
def open_shift(branch_id, *, by_user_id):
    """Open a shift for the user at a branch; refused while they have one open. Commits."""
    if open_shift_of(by_user_id) is not None:
        raise BillingError(_l("You already have an open shift; close it first."))
    shift = Shift(branch_id=branch_id, staff_id=by_user_id, opened_at=utcnow())
    db.session.add(shift)
    return shift


def shift_expectations(shift_id, *, until=None):
    """Money taken in the shift by method, less refunds its staff paid out, and keys in office."""
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        raise BillingError(_l("That shift does not exist."))
    until = until or shift.closed_at or utcnow()
    by_method = {method.name: 0 for method in PaymentMethod}
    received = db.session.execute(
        db.select(Payment.method, db.func.sum(Payment.amount_poisha))
        .where(Payment.shift_id == shift.id, Payment.status.in_(RECEIVED))
        .group_by(Payment.method)).all()
    for method, amount in received:
        by_method[method.name] += int(amount)
    paid_out = db.session.execute(
        db.select(Payment.method, db.func.sum(Refund.amount_poisha)).join(Payment)
        .where(Refund.refunded_by_id == shift.staff_id, Refund.refunded_at >= shift.opened_at,
               Refund.refunded_at <= until, Payment.branch_id == shift.branch_id)
        .group_by(Payment.method)).all()
    for method, amount in paid_out:
        by_method[method.name] -= int(amount)
    keys = db.session.execute(
        db.select(db.func.count(Key.id)).join(Locker, Key.locker_id == Locker.id)
        .where(Locker.branch_id == shift.branch_id, Key.state == KeyState.IN_OFFICE)).scalar_one()
    return Expectations(by_method=by_method, cash_poisha=by_method[PaymentMethod.CASH.name],
                        keys_in_office=int(keys))


@desk_action
def close_shift(shift_id, counted_cash_poisha, counted_keys, *, by_user_id, note):
    """Close the user's shift with the counted cash and keys; the difference is logged. Commits."""
    if isinstance(counted_cash_poisha, bool) or not isinstance(counted_cash_poisha, int):
        raise TypeError("counted_cash_poisha must be an int")
    shift = db.session.get(Shift, shift_id, with_for_update=True, populate_existing=True)
    if shift is None or shift.staff_id != by_user_id:
        raise BillingError(_l("This is not your open shift."))
    if shift.closed_at is not None:
        raise BillingError(_l("This shift is already closed."))
    if counted_cash_poisha < 0:
        raise BillingError(_l("The amount cannot be negative."), field="cash")
    if counted_keys is None or counted_keys < 0:
        raise BillingError(_l("Enter the number of keys counted."), field="keys")
    now = utcnow()
    expected = shift_expectations(shift.id, until=now)
    shift.closed_at = now
    shift.expected_by_method = {k: v for k, v in expected.by_method.items() if v}
    shift.expected_cash_poisha = expected.cash_poisha
    shift.counted_cash_poisha = counted_cash_poisha
    shift.expected_keys = expected.keys_in_office
    shift.counted_keys = counted_keys
    shift.note = (note or "").strip()[:255] or None
    cash_difference = counted_cash_poisha - expected.cash_poisha
    keys_difference = counted_keys - expected.keys_in_office
    # The log keeps the English wording, like every other entry's summary.
    audit.record(ActivityAction.UPDATE, model="Shift", object_id=shift.id,
                 branch_id=shift.branch_id,
                 summary=(f"Shift closed: cash difference {money(cash_difference)}, "
                          f"keys difference {keys_difference:+d}"),
                 changes={"cash_difference_poisha": cash_difference,
                          "keys_difference": keys_difference})
    return shift

