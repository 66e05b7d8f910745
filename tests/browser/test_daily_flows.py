"""The desk's daily flows in a real browser, in Bengali and in English, counted as the desk lives them.

Each flow counts its interactions: a click, a field typed or chosen, a file picked,
a signature drawn; the pages' own loading is not one. The counts and the scripted
time are printed (run with -s to see them); issue 10's targets are a new client
registered with a locker, cash taken, the receipt printed and the key issued in at
most 12 interactions (45 s scripted), and a renewal with its cash and receipt in at
most 4. The counts are asserted, the times are not: times belong to bench/.
"""

import re
import time

import pytest

from app.extensions import db
from app.models import Client
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import billing
from app.services import clients
from app.services import handover
from app.services import rentals
from tests.browser.conftest import log_in
from tests.browser.test_registration import _draw_signature
from tests.test_registration import jpeg_bytes

pytestmark = pytest.mark.browser

LANGUAGES = ["bn", "en"]
NEW_CLIENT_TARGET = 12
RENEWAL_TARGET = 4


class CountedDesk:
    """The page, with every interaction counted; `report` prints what a flow took."""

    def __init__(self, page):
        self.page = page
        self.count = 0
        self.started = time.perf_counter()

    def click(self, selector, **kwargs):
        self.count += 1
        self.page.click(selector, **kwargs)

    def fill(self, selector, value):
        self.count += 1
        self.page.fill(selector, value)

    def choose(self, selector, value):
        self.count += 1
        self.page.select_option(selector, value)

    def pick_file(self, selector, files):
        self.count += 1
        self.page.set_input_files(selector, files=files)

    def sign(self):
        self.count += 1
        _draw_signature(self.page)

    def open_in_new_tab(self, selector):
        """Click a link that opens in a new tab (a PDF to print); the new tab's response."""
        self.count += 1
        with self.page.expect_popup() as popup:
            self.page.click(selector)
        return popup.value

    def report(self, flow, language):
        seconds = time.perf_counter() - self.started
        print(f"\n[daily flow] {flow} ({language}): {self.count} interactions, {seconds:.1f} s scripted")
        return self.count, seconds


def _fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def _gym(desk, language, series):
    """A men's locker with its key, a client and a Front Desk user in `language`.

    Each flow and language gets its own locker number and phone (`series`), as the
    flows share one live desk.
    """
    which = "1" if language == "bn" else "2"
    zone = desk.make_zone(kind=ZoneKind.MEN)
    locker = desk.make_locker(zone=zone, number=f"M-{series:02d}{which}")
    key = Key(locker=locker, tag=f"K-{locker.number}")
    db.session.add(key)
    db.session.commit()
    client = desk.make_client(branch=zone.branch, phone=f"+880171100{series:02d}{which}1")
    staff = desk.make_user("Front Desk", branch=zone.branch, locale=language)
    return locker, key, client, staff


def _pdf_opened(tab):
    tab.wait_for_load_state()
    return re.search(r"/admin/documents/(receipt|invoice)/\d+\.pdf$", tab.url)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_new_client_gets_a_locker_pays_cash_prints_and_takes_the_key(live_desk, page, language,
                                                                      tmp_path):
    """Register (photo, signature, locker) → assign and take cash → print receipt → issue key."""
    base_url, desk = live_desk
    desk.app.config["UPLOAD_DIR"] = tmp_path
    locker, key, _client, staff = _gym(desk, language, 1)
    number = locker.number
    clients.publish_terms("Locker rules", "Lockers are emptied 3 days after expiry.",
                          by_user_id=staff.id)
    phone = "01711-000101" if language == "bn" else "01711-000202"
    log_in(page, base_url, staff)
    counted = CountedDesk(page)

    counted.click("a.nav-link[href='/admin/register_client/']")
    counted.fill("#full_name", "রুমানা আক্তার" if language == "bn" else "Rumana Akter")
    counted.fill("#phone", phone)
    counted.choose("#gender", "MALE")
    counted.pick_file("#photo", [{"name": "face.jpg", "mimeType": "image/jpeg",
                                  "buffer": jpeg_bytes((320, 320), "orange")}])
    counted.sign()
    counted.fill("#locker_number", number.lower())
    with page.expect_navigation(url=re.compile(r".*/admin/rental_desk/assign/.*")):
        counted.click("#register-form button[type=submit]")
    with page.expect_navigation(url=re.compile(r".*/admin/rental_desk/rental/\?rental_id=\d+$")):
        counted.click("#assign-and-pay")
    receipt = counted.open_in_new_tab("#print-receipt")
    assert _pdf_opened(receipt)
    receipt.close()
    with page.expect_navigation():
        counted.click("#issue-key")
    count, seconds = counted.report("new client: register, assign, cash, receipt, key", language)

    client = db.session.execute(db.select(Client).where(
        Client.phone == "+88" + phone.replace("-", ""))).scalar_one()
    rental = db.session.execute(db.select(Rental).where(Rental.client_id == client.id)).scalar_one()
    assert rental.status is RentalStatus.ACTIVE and client.photo_path and client.signatures
    assert billing.balance(billing.invoice_of(rental.id)) == 0
    assert _fresh(Key, key.id).state is KeyState.WITH_CLIENT
    assert handover.deposit_balance(client.id) == 50000
    assert not page.is_visible("#issue-key")
    if language == "bn":
        assert "লকার" in page.inner_text("h1") and "রসিদ" in page.inner_text("#print-buttons")
    assert count <= NEW_CLIENT_TARGET, f"{count} interactions; the target is {NEW_CLIENT_TARGET}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_renewal_with_cash_and_receipt_from_the_profile(live_desk, page, language):
    base_url, desk = live_desk
    locker, key, client, staff = _gym(desk, language, 3)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                            pay_now=PaymentMethod.CASH)
    log_in(page, base_url, staff)
    page.goto(f"{base_url}/admin/client_profile/?id={client.id}")
    counted = CountedDesk(page)

    with page.expect_navigation(url=re.compile(r".*/admin/rental_desk/rental/\?rental_id=\d+$")):
        counted.click(f"#renew-and-pay-{rental.id}")
    receipt = counted.open_in_new_tab("#print-receipt")
    assert _pdf_opened(receipt)
    count, seconds = counted.report("renewal with cash and receipt, from the profile", language)

    renewal = db.session.execute(db.select(Rental).where(
        Rental.renewed_from_id == rental.id)).scalar_one()
    assert billing.balance(billing.invoice_of(renewal.id)) == 0
    assert count <= RENEWAL_TARGET, f"{count} interactions; the target is {RENEWAL_TARGET}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reservation_from_the_grid_number(live_desk, page, language):
    base_url, desk = live_desk
    locker, key, client, staff = _gym(desk, language, 5)
    log_in(page, base_url, staff)
    page.goto(f"{base_url}/admin/rental_desk/reserve/?locker_id={locker.id}")
    counted = CountedDesk(page)
    counted.fill("input[name=client_query]", client.phone[3:])
    counted.click("button[name=check]")
    counted.click("button[name=confirm]")
    page.wait_for_load_state("networkidle")
    counted.report("reservation", language)
    assert _fresh(Locker, locker.id).status is LockerStatus.RESERVED


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_key_return_settles_the_dues_from_the_deposit(live_desk, page, language):
    """৳420 owed, ৳500 held: the desk returns the key; ৳420 pays the dues, ৳80 goes back."""
    base_url, desk = live_desk
    locker, key, client, staff = _gym(desk, language, 7)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    billing.record_payment(invoice.id, invoice.total_poisha - 42000, PaymentMethod.CASH,
                           by_user_id=None)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    log_in(page, base_url, staff)
    page.goto(f"{base_url}/admin/client_profile/?id={client.id}")
    counted = CountedDesk(page)

    with page.expect_navigation(url=re.compile(r".*/admin/key_desk/.*")):
        counted.click(f"#holding-{rental.id} a[href*='/admin/key_desk/']")
    assert page.is_visible("#return-dues")
    assert page.input_value("#action-return [name=return-refund]") == "80.00"
    assert page.is_checked("#action-return [name=return-settle_dues]")
    with page.expect_navigation():
        counted.click("#action-return button[type=submit]")
    counted.report("key return with dues settled from the deposit", language)

    assert billing.balance(_fresh(type(invoice), invoice.id)) == 0
    assert _fresh(Rental, rental.id).status is RentalStatus.RELEASED
    kinds = [entry.kind for entry in db.session.execute(db.select(DepositEntry).where(
        DepositEntry.client_id == client.id).order_by(DepositEntry.id)).scalars()]
    assert kinds == [DepositEntryKind.TAKEN, DepositEntryKind.APPLIED_TO_DUES,
                     DepositEntryKind.REFUNDED]
    assert db.session.execute(db.select(Payment).where(
        Payment.method == PaymentMethod.DEPOSIT, Payment.invoice_id == invoice.id)).scalar_one()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_lost_key_takes_the_fee_from_the_deposit(live_desk, page, language):
    base_url, desk = live_desk
    locker, key, client, staff = _gym(desk, language, 9)
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                   pay_now=PaymentMethod.CASH)
    handover.issue_key(locker.id, key.id, deposit_poisha=150000, by_user_id=None)
    log_in(page, base_url, staff)
    page.goto(f"{base_url}/admin/key_desk/?locker_id={locker.id}")
    counted = CountedDesk(page)
    counted.fill("#action-lost [name=lost-note]", "সুইমিং পুলে পড়ে গেছে" if language == "bn"
                 else "Dropped in the pool")
    with page.expect_navigation():
        counted.click("#action-lost button[type=submit]")
    counted.report("lost key, fee from the deposit", language)
    assert _fresh(Key, key.id).state is KeyState.COMPROMISED
    assert page.is_visible("#needs-rekey")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_maintenance_ticket_is_opened_for_a_locker(live_desk, page, language):
    base_url, desk = live_desk
    locker, key, _client, _staff = _gym(desk, language, 11)
    manager = desk.make_user("Manager", branch=locker.branch, locale=language)
    log_in(page, base_url, manager)
    page.goto(f"{base_url}/admin/maintenance/new/")
    counted = CountedDesk(page)
    counted.click("#s2id_locker a.select2-choice")  # the locker picker (Select2) opens
    counted.click(f".select2-result-label:has-text('{locker.number}')")
    counted.fill("textarea[name=description], input[name=description]",
                 "কবজা ভাঙা" if language == "bn" else "Broken hinge")
    with page.expect_navigation():
        counted.click("form.admin-form input[type=submit], form.admin-form button[type=submit]")
    counted.report("maintenance ticket", language)
    ticket = db.session.execute(db.select(MaintenanceTicket).where(
        MaintenanceTicket.locker_id == locker.id)).scalar_one()
    assert (ticket.opened_by_id, ticket.description) == (
        manager.id, "কবজা ভাঙা" if language == "bn" else "Broken hinge")
