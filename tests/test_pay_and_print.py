"""Print and pay from where the desk is (issue 10): after assigning or renewing, on the profile,
on the invoice list and from Ctrl+K, the invoice, the payment and the receipt are one click away."""

import re

import pytest

from admin_views.base import local_target
from app.extensions import db
from app.models import ActivityLog
from app.models import Key
from app.models import KeyState
from app.models import Payment
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import billing
from app.services import handover
from app.services import keys
from app.services import rentals

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def _setup(desk):
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.MEN), number="M-021")
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    client = desk.make_client(branch=locker.branch, name="Karim Uddin", phone="+8801711123456")
    return locker, key, client


def _text(response):
    return response.get_data(as_text=True)


def _assign(browser, locker, client, confirm):
    return browser.post("/admin/rental_desk/assign/", data={
        "locker_number": locker.number, "client_id": str(client.id), "term": "MONTHLY",
        "confirm": confirm})


def _href(page, element_id):
    match = re.search(rf'id="{element_id}" href="([^"]+)"', page) or re.search(
        rf'href="([^"]+)"[^>]*id="{element_id}"', page)
    assert match, f"no #{element_id} link on the page"
    return match.group(1).replace("&amp;", "&")


def test_assign_and_take_cash_lands_on_the_receipt_and_the_key(desk):
    """One button assigns and takes the cash; the summary offers the receipt and the key."""
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    checked = _text(browser.post("/admin/rental_desk/assign/", data={
        "locker_number": locker.number, "client_id": str(client.id), "term": "MONTHLY",
        "check": "1"}))
    assert "Assign and take ৳920.00 cash" in checked
    response = _assign(browser, locker, client, "cash")
    rental = db.session.execute(db.select(Rental)).scalar_one()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/rental_desk/rental/?rental_id={rental.id}")
    invoice = billing.invoice_of(rental.id)
    payment = db.session.execute(db.select(Payment)).scalar_one()
    assert (payment.invoice_id, payment.amount_poisha, payment.method, payment.received_by_id) == (
        invoice.id, 92000, PaymentMethod.CASH, browser.user.id)
    assert billing.balance(invoice) == 0

    summary = _text(browser.get(response.headers["Location"]))
    assert invoice.number in summary and 'id="pay-now"' not in summary
    assert _href(summary, "print-receipt") == f"/admin/documents/receipt/{payment.id}.pdf"
    assert _href(summary, "print-invoice") == f"/admin/documents/invoice/{invoice.id}.pdf"
    assert f"Issue key {key.tag} with a deposit of ৳500.00" in summary
    receipt = browser.get(_href(summary, "print-receipt"))
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    # One press hands the key over with the settings' deposit and comes back here.
    issued = browser.post(f"/admin/key_desk/issue/?locker_id={locker.id}", data={
        "issue-key": str(key.id), "issue-deposit": "500.00", "next": response.headers["Location"]})
    assert issued.status_code == 302 and issued.headers["Location"] == response.headers["Location"]
    assert db.session.get(Key, key.id).state is KeyState.WITH_CLIENT
    assert handover.deposit_balance(client.id) == 50000
    again = _text(browser.get(response.headers["Location"]))
    assert "Issue key" not in again
    logged = {(row.model, row.user_id) for row in db.session.execute(db.select(ActivityLog)).scalars()}
    assert {("Rental", browser.user.id), ("Invoice", browser.user.id),
            ("Payment", browser.user.id)} <= logged


def test_a_refused_payment_leaves_no_rental_behind(desk, monkeypatch):
    """Assign-and-pay is one transaction: if the payment is refused, nothing is assigned."""
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)

    def refuse(*args, **kwargs):
        raise billing.BillingError("The drawer is jammed.")

    monkeypatch.setattr(billing, "record_payment", refuse)
    page = _text(_assign(browser, locker, client, "cash"))
    assert "The drawer is jammed." in page
    assert db.session.execute(db.select(Rental)).first() is None
    assert db.session.execute(db.select(billing.Invoice)).first() is None


def test_the_summary_takes_the_prefilled_balance_and_comes_back(desk):
    """Assigned without paying: the summary's form holds the balance; paying returns to it."""
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    summary_url = _assign(browser, locker, client, "1").headers["Location"]
    summary = _text(browser.get(summary_url))
    assert 'id="pay-now"' in summary and 'value="920.00"' in summary
    assert 'id="print-receipt"' not in summary
    rental = db.session.execute(db.select(Rental)).scalar_one()
    invoice = billing.invoice_of(rental.id)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', summary)
    response = browser.post("/admin/take_payment/", data={
        "csrf_token": token.group(1) if token else "", "invoice": invoice.number,
        "amount": "920.00", "method": "CASH", "next": summary_url})
    assert response.status_code == 302 and response.headers["Location"].endswith(summary_url)
    after = _text(browser.get(summary_url))
    payment = db.session.execute(db.select(Payment)).scalar_one()
    assert _href(after, "print-receipt") == f"/admin/documents/receipt/{payment.id}.pdf"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", ""])
def test_after_a_payment_the_desk_is_sent_only_within_the_site(target):
    assert local_target(target) is None


def test_a_payment_with_a_foreign_next_goes_back_to_the_payment_desk(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    response = browser.post("/admin/take_payment/", data={
        "invoice": invoice.number, "amount": "100", "method": "CASH",
        "next": "//evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/take_payment/?invoice_id=")


def test_renew_and_take_cash_is_one_step(desk):
    """From the profile: Renew → "Renew and take cash" → the summary with the receipt."""
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    profile = _text(browser.get(f"/admin/client_profile/?id={client.id}"))
    assert f"/admin/rental_desk/renew/?rental_id={rental.id}" in profile
    page = _text(browser.get(f"/admin/rental_desk/renew/?rental_id={rental.id}"))
    assert "Renew and take ৳920.00 cash" in page
    response = browser.post(f"/admin/rental_desk/renew/?rental_id={rental.id}",
                            data={"confirm": "cash"})
    assert response.status_code == 302
    renewal = db.session.execute(db.select(Rental).where(
        Rental.renewed_from_id == rental.id)).scalar_one()
    assert response.headers["Location"].endswith(f"/admin/rental_desk/rental/?rental_id={renewal.id}")
    assert billing.balance(billing.invoice_of(renewal.id)) == 0
    assert 'id="print-receipt"' in _text(browser.get(response.headers["Location"]))


def test_the_profile_header_shows_dues_deposit_and_next_steps(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    billing.record_payment(invoice.id, 50000, PaymentMethod.CASH, by_user_id=None)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    page = _text(browser.get(f"/admin/client_profile/?id={client.id}"))
    assert re.search(r'id="standing-owed">Owed ৳420.00<', page)
    assert re.search(r'id="standing-deposit">৳500.00<', page)
    holding = page[page.index(f'id="holding-{rental.id}"'):]
    assert f"Key {key.tag} with the client" in holding and invoice.number in holding
    assert f"/admin/rental_desk/rental/?rental_id={rental.id}" in holding  # take payment
    assert f"/admin/key_desk/?locker_id={locker.id}" in holding and "Return key" in holding
    assert f"/admin/documents/invoice/{invoice.id}.pdf" in holding
    assert f"/admin/take_payment/?invoice_id={invoice.id}" in page
    assert 'id="assign-locker"' in page


def test_an_accountant_sees_the_money_but_no_desk_buttons(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    browser = desk.login_as("Accountant", branch=locker.branch)
    page = _text(browser.get(f"/admin/client_profile/?id={client.id}"))
    assert "Owed ৳920.00" in page
    assert 'id="assign-locker"' not in page and "/admin/key_desk/" not in page
    assert f"/admin/rental_desk/renew/?rental_id={rental.id}" not in page


def test_a_client_owing_nothing_reads_so(desk):
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    page = _text(browser.get(f"/admin/client_profile/?id={client.id}"))
    assert re.search(r'id="standing-owed">Nothing owed<', page)


def test_ctrl_k_finds_an_invoice_by_its_number_and_opens_it(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    found = browser.get("/admin/quick_search/", query_string={"q": invoice.number.lower()}).get_json()
    (group,) = [group for group in found["groups"] if group["key"] == "invoices"]
    assert [item["title"] for item in group["items"]] == [invoice.number]
    assert found["jump"] == f"/admin/invoices/details/?id={invoice.id}"
    other = desk.make_branch(name="Uttara")
    stranger = desk.login_as("Front Desk", branch=other)
    elsewhere = stranger.get("/admin/quick_search/", query_string={"q": invoice.number}).get_json()
    assert all(group["items"] == [] for group in elsewhere["groups"] if group["key"] == "invoices")


def test_the_invoice_list_and_details_print(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    browser = desk.login_as("Accountant", branch=locker.branch)
    listing = _text(browser.get("/admin/invoices/"))
    assert f"/admin/documents/invoice/{invoice.id}.pdf" in listing
    details = _text(browser.get(f"/admin/invoices/details/?id={invoice.id}"))
    assert _href(details, "print-invoice") == f"/admin/documents/invoice/{invoice.id}.pdf"
    assert rental.status is RentalStatus.ACTIVE


def test_a_locker_typed_at_registration_opens_its_priced_assignment(desk, upload_dir):
    """Register with a locker number: the assign page opens with the price and the cash button."""
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    page = _text(browser.get("/admin/register_client/"))
    assert 'name="locker_number"' in page
    response = browser.post("/admin/register_client/", data={
        "branch": str(locker.branch_id), "full_name": "Rumana Akter", "phone": "01911-222333",
        "preferred_language": "BENGALI", "locker_number": "m-021"})
    assert response.status_code == 302, _text(response)[:2000]
    assert "/admin/rental_desk/assign/" in response.headers["Location"]
    assign = _text(browser.get(response.headers["Location"]))
    assert "Rumana Akter" in assign and 'id="assign-and-pay"' in assign and "৳920.00" in assign


def test_a_wrong_locker_typed_at_registration_is_said_on_the_assign_page(desk, upload_dir):
    locker, key, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    response = browser.post("/admin/register_client/", data={
        "branch": str(locker.branch_id), "full_name": "Rumana Akter", "phone": "01911-222333",
        "preferred_language": "BENGALI", "locker_number": "Z-999"})
    assign = _text(browser.get(response.headers["Location"]))
    assert "There is no locker with that number." in assign and 'id="assign-and-pay"' not in assign


def test_the_profile_renews_and_takes_cash_in_one_press_at_the_price_shown(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    profile = _text(browser.get(f"/admin/client_profile/?id={client.id}"))
    assert f'id="renew-and-pay-{rental.id}"' in profile and "Renew and take ৳920.00 cash" in profile
    stale = browser.post(f"/admin/rental_desk/renew/?rental_id={rental.id}",
                         data={"confirm": "cash", "expected_total": "80000"})
    assert "The price has changed since it was shown." in _text(stale)
    assert db.session.execute(db.select(Rental).where(Rental.renewed_from_id == rental.id)).first() is None
    response = browser.post(f"/admin/rental_desk/renew/?rental_id={rental.id}",
                            data={"confirm": "cash", "expected_total": "92000"})
    assert response.status_code == 302
    again = browser.post(f"/admin/rental_desk/renew/?rental_id={rental.id}",
                         data={"confirm": "cash", "expected_total": "92000"})
    assert "Only an active or expired rental can be renewed." in _text(again)
    assert len(db.session.execute(db.select(Payment)).scalars().all()) == 1


def test_the_rental_and_payment_lists_lead_to_the_invoice_and_the_receipt(desk):
    locker, key, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                            pay_now=PaymentMethod.CASH)
    payment = db.session.execute(db.select(Payment)).scalar_one()
    browser = desk.login_as("Manager", branch=locker.branch)
    assert f"/admin/rental_desk/rental/?rental_id={rental.id}" in _text(browser.get("/admin/rentals/"))
    assert f"/admin/documents/receipt/{payment.id}.pdf" in _text(browser.get("/admin/payments/"))
