"""Invoices, payments, refunds, cancellations and the end-of-shift count (SPEC P2, P3, P6)."""

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta

import pytest

from admin_views import billing as billing_views
from app.extensions import db
from app.models import ActivityLog
from app.models import Invoice
from app.models import InvoiceCounter
from app.models import Key
from app.models import KeyState
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Refund
from app.models import Rental
from app.models import RentalTerm
from app.models import Shift
from app.models import utcnow
from app.services import billing
from app.services import clock
from app.services import settings
from app.services.billing import InvoiceState
from tests.races import race

RACERS = 12


@dataclass
class Line:
    """Stand-in for pricing.QuoteLine."""

    kind: str
    description: str
    amount_poisha: int


@dataclass
class Quote:
    """Stand-in for pricing.Quote: the shape issue_invoice() reads."""

    lines: list = field(default_factory=list)
    subtotal_poisha: int = 0
    discount_poisha: int = 0
    vat_poisha: int = 0
    total_poisha: int = 0
    coupon_id: int | None = None


def quote(rent=80000, discount=0, vat_percent=15):
    """A quote of `rent` poisha less `discount`, plus VAT, every line explained."""
    net = rent - discount
    vat = net * vat_percent // 100
    lines = [Line("rent", "Monthly rent", rent)]
    if discount:
        lines.append(Line("discount", "Yearly discount", -discount))
    lines.append(Line("vat", "VAT", vat))
    return Quote(lines=lines, subtotal_poisha=rent, discount_poisha=discount, vat_poisha=vat,
                 total_poisha=net + vat)


def make_rental(desk, locker=None, client=None, days=30):
    """A rental record for a client (no locker held: invoices only need the rental)."""
    locker = locker or desk.make_locker()
    client = client or desk.make_client(branch=locker.branch)
    now = utcnow()
    rental = Rental(branch_id=locker.branch_id, locker_id=locker.id, client_id=client.id,
                    term=RentalTerm.MONTHLY, days=days, starts_at=now,
                    ends_at=now + timedelta(days=days), price_poisha=80000)
    db.session.add(rental)
    db.session.commit()
    return rental


def issue(desk, total=1000, **kwargs):
    """An invoice of exactly `total` poisha."""
    rental = kwargs.pop("rental", None) or make_rental(desk)
    q = Quote(lines=[Line("rent", "Rent", total)], subtotal_poisha=total, total_poisha=total)
    return billing.issue_invoice(rental.id, q, by_user_id=None, **kwargs)


def this_year():
    return clock.today("Asia/Dhaka").year


@pytest.fixture
def screens(app):
    """The billing screens, registered as admin_views/__init__.py will register them."""
    if "invoices.index_view" not in app.view_functions:
        billing_views.register(app.extensions["admin"][0])
    return app


# --- numbering -----------------------------------------------------------------------

def test_invoices_are_numbered_from_the_settings_consecutively(desk):
    """The first two invoices of the year are INV-<year>-000001 and …000002."""
    first, second = issue(desk), issue(desk)
    assert first.number == f"INV-{this_year()}-000001"
    assert second.number == f"INV-{this_year()}-000002"
    counter = db.session.get(InvoiceCounter, f"INV-{this_year()}")
    assert counter.next_number == 3


def test_numbering_follows_prefix_format_and_start(desk):
    """A gym that sets prefix LD, its own format and start 500 gets LD/500/<yy>."""
    settings.put("invoice_prefix", "LD")
    settings.put("invoice_format", "{prefix}/{seq}/{YY}")
    settings.put("invoice_start", "500")
    db.session.commit()
    invoice = issue(desk)
    assert invoice.number == f"LD/500/{this_year() % 100:02d}"


def test_a_rolled_back_invoice_leaves_no_gap(desk):
    """An invoice refused half-way gives its number back: the next one takes it."""
    issue(desk)
    rental = make_rental(desk)
    broken = Quote(lines=[Line("rent", "Rent", 100)], subtotal_poisha=100, total_poisha=-5)
    with pytest.raises(Exception):  # noqa: B017 - the database refuses a negative total
        billing.issue_invoice(rental.id, broken, by_user_id=None)
    assert issue(desk).number == f"INV-{this_year()}-000002"
    assert db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one() == 2


def _issue(rental_id):
    return billing.issue_invoice(rental_id, quote(), by_user_id=None).number


@pytest.mark.race
def test_desks_issuing_at_once_get_consecutive_numbers(desk, app):
    """12 processes issue one invoice each at the same moment: 000001…000012, no gap, no twin."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    rental_ids = [make_rental(desk, locker=locker, client=client).id for _ in range(RACERS)]
    outcomes = race(app, _issue, [(rental_id,) for rental_id in rental_ids])
    year = this_year()
    assert sorted(outcomes) == [f"INV-{year}-{n:06d}" for n in range(1, RACERS + 1)], outcomes
    numbers = db.session.execute(db.select(Invoice.number).order_by(Invoice.number)).scalars().all()
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, RACERS + 1)]
    assert db.session.get(InvoiceCounter, f"INV-{year}").next_number == RACERS + 1


# --- issuing -------------------------------------------------------------------------

def test_an_invoice_keeps_the_quote_lines_in_order_and_its_totals(desk):
    """Rent, discount and VAT lines are stored as quoted; the totals are integers."""
    rental = make_rental(desk)
    q = quote(rent=80000, discount=8000)
    invoice = billing.issue_invoice(rental.id, q, by_user_id=None)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert [(line.kind, line.amount_poisha) for line in invoice.lines] == [
        ("rent", 80000), ("discount", -8000), ("vat", 10800)]
    assert invoice.total_poisha == 82800 == sum(line.amount_poisha for line in invoice.lines)
    assert invoice.due_on == clock.today(invoice.branch.timezone)
    for value in (invoice.subtotal_poisha, invoice.discount_poisha, invoice.vat_poisha,
                  invoice.total_poisha, *(line.amount_poisha for line in invoice.lines)):
        assert type(value) is int


def test_instalments_sum_exactly_to_the_total(desk):
    """A yearly term in 3 instalments: monthly dates, whole poisha, the last takes the rest."""
    rental = make_rental(desk, days=365)
    invoice = issue(desk, total=100001, rental=rental, due_on=date(2026, 1, 31), instalments=3)
    parts = [(i.due_on, i.amount_poisha) for i in invoice.instalments]
    assert parts == [(date(2026, 1, 31), 33333), (date(2026, 2, 28), 33333),
                     (date(2026, 3, 31), 33335)]
    assert sum(amount for _, amount in parts) == invoice.total_poisha
    assert all(type(amount) is int for _, amount in parts)


def test_a_short_term_cannot_be_split_into_instalments(desk):
    """A monthly term asked in instalments is refused and nothing is issued."""
    rental = make_rental(desk, days=30)
    with pytest.raises(billing.BillingError) as refused:
        issue(desk, rental=rental, instalments=3)
    assert "instalments" in str(refused.value.message)
    assert db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one() == 0


# --- payments and states -----------------------------------------------------------------

def test_partial_payments_keep_a_running_balance(desk):
    """৳10 paid in two parts: balance 7, then 0, and the invoice is Paid."""
    invoice = issue(desk, total=1000)
    billing.record_payment(invoice.id, 300, PaymentMethod.CASH, by_user_id=None)
    assert billing.balance(invoice) == 700
    assert billing.invoice_state(invoice) is InvoiceState.PARTIAL
    payment = billing.record_payment(invoice.id, 700, PaymentMethod.BKASH, by_user_id=None,
                                     reference="TX1")
    assert billing.balance(invoice) == 0
    assert type(billing.balance(invoice)) is int and type(payment.amount_poisha) is int
    assert billing.invoice_state(invoice) is InvoiceState.PAID
    assert payment.status is PaymentStatus.PAID and payment.client_id == invoice.client_id
    assert payment.rental_id == invoice.rental_id and payment.branch_id == invoice.branch_id


def test_overpayment_is_refused_and_nothing_is_saved(desk):
    """Paying more than the balance is refused with the balance in the message."""
    invoice = issue(desk, total=1000)
    billing.record_payment(invoice.id, 600, PaymentMethod.CASH, by_user_id=None)
    with pytest.raises(billing.BillingError) as refused:
        billing.record_payment(invoice.id, 401, PaymentMethod.CASH, by_user_id=None)
    assert "৳4.00" in str(refused.value.message)
    for amount in (0, -5):
        with pytest.raises(billing.BillingError):
            billing.record_payment(invoice.id, amount, PaymentMethod.CASH, by_user_id=None)
    with pytest.raises(TypeError):
        billing.record_payment(invoice.id, 4.0, PaymentMethod.CASH, by_user_id=None)
    assert db.session.execute(db.select(db.func.count(Payment.id))).scalar_one() == 1


def test_every_invoice_state_with_a_fixed_today(desk):
    """Due, Overdue, Partial, Paid, Pending, Refunded and Cancelled, each derived in one place."""
    today = date(2026, 3, 10)
    due = issue(desk, due_on=date(2026, 3, 15))
    assert billing.invoice_state(due, today) is InvoiceState.DUE
    assert billing.invoice_state(due, date(2026, 3, 16)) is InvoiceState.OVERDUE
    billing.record_payment(due.id, 400, PaymentMethod.CASH, by_user_id=None)
    assert billing.invoice_state(due, today) is InvoiceState.PARTIAL
    assert billing.invoice_state(due, date(2026, 3, 16)) is InvoiceState.OVERDUE
    paid = billing.record_payment(due.id, 600, PaymentMethod.CASH, by_user_id=None)
    assert billing.invoice_state(due, date(2027, 1, 1)) is InvoiceState.PAID

    pending = issue(desk, due_on=date(2026, 3, 1))
    db.session.add(Payment(branch_id=pending.branch_id, client_id=pending.client_id,
                           invoice_id=pending.id, amount_poisha=1000, method=PaymentMethod.BKASH,
                           status=PaymentStatus.PENDING))
    db.session.commit()
    assert billing.invoice_state(pending, today) is InvoiceState.PENDING

    refunded = issue(desk)
    payment = billing.record_payment(refunded.id, 1000, PaymentMethod.CASH, by_user_id=None)
    billing.refund_payment(payment.id, 1000, "Client moved away", by_user_id=None)
    assert billing.invoice_state(refunded, today) is InvoiceState.REFUNDED
    billing.refund_payment(paid.id, 100, "Goodwill", by_user_id=None)
    assert billing.invoice_state(due, today) is InvoiceState.PARTIAL

    cancelled = issue(desk)
    billing.cancel_invoice(cancelled.id, "Issued twice", by_user_id=None)
    assert billing.invoice_state(cancelled, today) is InvoiceState.CANCELLED
    assert str(InvoiceState.OVERDUE.label) == "Overdue"


def test_an_unpaid_instalment_past_its_date_makes_the_invoice_overdue(desk):
    """The first instalment paid, the second past due: Overdue; before it: Partial."""
    rental = make_rental(desk, days=365)
    invoice = issue(desk, total=3000, rental=rental, due_on=date(2026, 1, 10), instalments=3)
    assert billing.invoice_state(invoice, date(2026, 1, 20)) is InvoiceState.OVERDUE
    billing.record_payment(invoice.id, 1000, PaymentMethod.CASH, by_user_id=None)
    assert billing.invoice_state(invoice, date(2026, 2, 5)) is InvoiceState.PARTIAL
    assert billing.invoice_state(invoice, date(2026, 2, 11)) is InvoiceState.OVERDUE


# --- refunds and cancellations ------------------------------------------------------------

def test_a_refund_is_limited_to_what_is_left_on_the_payment_and_needs_a_reason(desk):
    """৳10 paid, ৳6 refunded: ৳5 more is refused, a blank reason is refused, ৳4 is allowed."""
    invoice = issue(desk)
    payment = billing.record_payment(invoice.id, 1000, PaymentMethod.CASH, by_user_id=None)
    billing.refund_payment(payment.id, 600, "Partly unused", by_user_id=None)
    with pytest.raises(billing.BillingError):
        billing.refund_payment(payment.id, 500, "Too much", by_user_id=None)
    with pytest.raises(billing.BillingError) as refused:
        billing.refund_payment(payment.id, 400, "  ", by_user_id=None)
    assert refused.value.field == "reason"
    billing.refund_payment(payment.id, 400, "The rest", by_user_id=None)
    assert db.session.get(Payment, payment.id).status is PaymentStatus.REFUNDED
    assert billing.balance(invoice) == 1000


def test_an_invoice_with_payments_cannot_be_cancelled(desk):
    """Cancelling needs no net payment on the invoice, and a reason."""
    invoice = issue(desk)
    with pytest.raises(billing.BillingError):
        billing.cancel_invoice(invoice.id, "", by_user_id=None)
    payment = billing.record_payment(invoice.id, 100, PaymentMethod.CASH, by_user_id=None)
    with pytest.raises(billing.BillingError):
        billing.cancel_invoice(invoice.id, "Wrong client", by_user_id=None)
    billing.refund_payment(payment.id, 100, "Wrong client", by_user_id=None)
    billing.cancel_invoice(invoice.id, "Wrong client", by_user_id=None)
    assert db.session.get(Invoice, invoice.id).cancel_reason == "Wrong client"
    with pytest.raises(billing.BillingError):
        billing.record_payment(invoice.id, 100, PaymentMethod.CASH, by_user_id=None)


def test_front_desk_cannot_refund_but_an_accountant_can(desk, screens):
    """Refunds need payments-edit: Front Desk gets 403, the Accountant refunds with a reason."""
    invoice = issue(desk)
    payment = billing.record_payment(invoice.id, 1000, PaymentMethod.CASH, by_user_id=None)
    front = desk.login_as("Front Desk")
    url = f"/admin/take_payment/refund/{payment.id}/"
    assert front.get(url).status_code == 403
    assert front.post(url, data={"amount": "5", "reason": "x"}).status_code == 403
    assert front.post(f"/admin/take_payment/cancel/{invoice.id}/",
                      data={"reason": "x"}).status_code == 403
    accountant = desk.login_as("Accountant")
    response = accountant.post(url, data={"amount": "4", "reason": ""})
    assert response.status_code == 200 and "Give the reason." in response.get_data(as_text=True)
    response = accountant.post(url, data={"amount": "4.50", "reason": "Locker was broken"})
    assert response.status_code == 302
    refund = db.session.execute(db.select(Refund)).scalar_one()
    assert refund.amount_poisha == 450 and refund.refunded_by_id == accountant.user.id
    assert db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Refund")).first() is not None


def test_an_accountant_cancels_an_unpaid_invoice_with_a_reason(desk, screens):
    """The cancel page records the reason; the row change is in the activity log."""
    invoice = issue(desk)
    accountant = desk.login_as("Accountant")
    response = accountant.post(f"/admin/take_payment/cancel/{invoice.id}/",
                               data={"reason": "Issued twice"})
    assert response.status_code == 302
    db.session.expire_all()
    assert billing.invoice_state(db.session.get(Invoice, invoice.id)) is InvoiceState.CANCELLED
    assert db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Invoice", ActivityLog.object_id == str(invoice.id))).first()


# --- screens ---------------------------------------------------------------------------

def test_the_desk_takes_a_payment_typed_in_taka(desk, screens):
    """Front Desk types 250.50 taka against an invoice number; the balance is shown."""
    invoice = issue(desk, total=100000)
    front = desk.login_as("Front Desk")
    response = front.post("/admin/take_payment/", data={
        "invoice": invoice.number, "amount": "250.50", "method": "CASH", "reference": ""})
    assert response.status_code == 302
    payment = db.session.execute(db.select(Payment)).scalar_one()
    assert payment.amount_poisha == 25050 and type(payment.amount_poisha) is int
    assert payment.received_by_id == front.user.id
    page = front.get(f"/admin/take_payment/?invoice_id={invoice.id}").get_data(as_text=True)
    assert "৳749.50" in page
    response = front.post("/admin/take_payment/", data={
        "invoice": invoice.number, "amount": "2000", "method": "CASH"})
    assert "more than the balance of ৳749.50" in response.get_data(as_text=True)
    response = front.post("/admin/take_payment/", data={
        "invoice": invoice.number, "amount": "1e3", "method": "CASH"})
    assert "Enter the amount in taka" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Payment.id))).scalar_one() == 1


def test_the_invoice_list_shows_number_total_and_state(desk, screens):
    """The Invoices list shows each invoice's total in taka and its derived state."""
    invoice = issue(desk, total=123456)
    accountant = desk.login_as("Accountant")
    page = accountant.get("/admin/invoices/").get_data(as_text=True)
    assert invoice.number in page and "৳1,234.56" in page and "Due" in page
    details = accountant.get(f"/admin/invoices/details/?id={invoice.id}")
    assert details.status_code == 200 and "Rent" in details.get_data(as_text=True)
    assert accountant.get("/admin/invoices/new/").status_code in (403, 302)


def test_closing_a_shift_logs_the_cash_and_key_difference(desk, screens):
    """Cash taken in the shift is expected; ৳5 short and one key missing are logged."""
    invoice = issue(desk, total=100000)
    locker = invoice.rental.locker
    db.session.add_all([Key(locker_id=locker.id, tag=f"K-{locker.id}-1", state=KeyState.IN_OFFICE),
                        Key(locker_id=locker.id, tag=f"K-{locker.id}-2", state=KeyState.IN_OFFICE)])
    db.session.commit()
    front = desk.login_as("Front Desk", branch=invoice.branch)
    assert front.post("/admin/shift/open/", data={"branch": str(invoice.branch_id)}
                      ).status_code == 302
    shift = db.session.execute(db.select(Shift)).scalar_one()
    front.post("/admin/take_payment/", data={"invoice": invoice.number, "amount": "300",
                                             "method": "CASH"})
    front.post("/admin/take_payment/", data={"invoice": invoice.number, "amount": "100",
                                             "method": "BKASH"})
    assert db.session.execute(db.select(Payment.shift_id)).scalars().all() == [shift.id] * 2
    expected = billing.shift_expectations(shift.id)
    assert expected.cash_poisha == 30000 and expected.by_method["BKASH"] == 10000
    assert expected.keys_in_office == 2
    page = front.get("/admin/shift/").get_data(as_text=True)
    assert "৳300.00" in page
    response = front.post("/admin/shift/close/", data={"cash": "295", "keys": "1",
                                                       "note": "Drawer short"})
    assert response.status_code == 302
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    assert shift.closed_at is not None and shift.counted_cash_poisha == 29500
    assert type(shift.counted_cash_poisha) is int and shift.expected_keys == 2
    entry = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Shift", ActivityLog.summary.like("Shift closed%"))).scalar_one()
    assert "-5.00" in entry.summary and "-1" in entry.summary
    assert entry.user_id == front.user.id
