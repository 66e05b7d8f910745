"""Key handover (SPEC K2): issue, return, lost key and re-key, as the desk lives them."""

import re

import pytest
from flask_security import hash_password

from app.extensions import db
from app.extensions import security
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import KeyState
from app.models import LockerStatus
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import TicketPriority
from app.models import TicketStatus
from app.models import ZoneKind
from app.services import billing
from app.services import handover
from app.services import keys
from app.services import lockers
from app.services import rentals
from app.services.handover import HandoverError
from app.services.rentals import RentalError
from tests.factories import PASSWORD


def _rented_locker(desk, branch=None, number=None, **client_fields):
    """A family-zone locker with one key, rented for a month to a new client."""
    zone = desk.make_zone(branch=branch, kind=ZoneKind.FAMILY)
    locker = desk.make_locker(zone=zone, number=number)
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    client = desk.make_client(branch=locker.branch, **client_fields)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    return locker, key, client, rental


def _fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def _entries(client=None):
    stmt = db.select(DepositEntry).order_by(DepositEntry.id)
    if client is not None:
        stmt = stmt.where(DepositEntry.client_id == client.id)
    return list(db.session.execute(stmt).scalars())


def _events(key):
    return [event.kind for event in db.session.execute(
        db.select(KeyEvent).where(KeyEvent.key_id == key.id).order_by(KeyEvent.id)).scalars()]


def _tickets(locker):
    return list(db.session.execute(db.select(MaintenanceTicket).where(
        MaintenanceTicket.locker_id == locker.id).order_by(MaintenanceTicket.id)).scalars())


def _url(action, locker):
    return f"/admin/key_desk/{action}/?locker_id={locker.id}"


def _text(response):
    return response.get_data(as_text=True)


def _field_value(html, name):
    match = re.search(rf'name="{re.escape(name)}" type="text" value="([^"]*)"', html)
    return match.group(1) if match else None


def _pay_in_full(rental, leave_owing=0):
    """Cash for the rental's invoice, all of it but `leave_owing` poisha."""
    invoice = billing.invoice_of(rental.id)
    billing.record_payment(invoice.id, billing.balance(invoice) - leave_owing, PaymentMethod.CASH,
                           by_user_id=None)
    return invoice


# --- issue and return --------------------------------------------------------------------

def test_issue_with_deposit_then_return_with_full_refund(desk):
    """The desk hands out the key for ৳500, takes it back, refunds ৳500: locker to Cleaning."""
    locker, key, client, rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert _field_value(screen, "issue-deposit") == "500.00"  # the settings' key deposit
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": "500"})
    assert response.status_code == 302, _text(response)[:3000]
    assert _fresh(key).state is KeyState.WITH_CLIENT
    (taken,) = _entries(client)
    assert (taken.kind, taken.amount_poisha, taken.rental_id, taken.key_id, taken.staff_id) == (
        DepositEntryKind.TAKEN, 50000, rental.id, key.id, browser.user.id)
    issued = db.session.execute(db.select(KeyEvent).where(
        KeyEvent.kind == KeyEventKind.ISSUED)).scalar_one()
    assert (issued.client_id, issued.staff_id) == (client.id, browser.user.id)

    _pay_in_full(rental)
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert _field_value(screen, "return-refund") == "500.00"  # the refund is prompted
    assert 'id="return-dues"' not in screen
    response = browser.post(_url("return", locker), data={
        "return-key": str(key.id), "return-refund": "500.00", "return-locker_to": "CLEANING"})
    assert response.status_code == 302, _text(response)[:3000]
    assert _fresh(key).state is KeyState.IN_OFFICE
    assert _fresh(locker).status is LockerStatus.CLEANING
    assert _fresh(rental).status is RentalStatus.RELEASED
    assert [(e.kind, e.amount_poisha) for e in _entries(client)] == [
        (DepositEntryKind.TAKEN, 50000), (DepositEntryKind.REFUNDED, -50000)]
    assert handover.deposit_balance(client.id) == 0
    assert _events(key) == [KeyEventKind.ISSUED, KeyEventKind.RETURNED]


def test_a_zero_deposit_issues_the_key_without_a_ledger_line(desk):
    """Typing 0 means no deposit: the key goes out and no 0 line is written."""
    locker, key, client, _rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk")
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": "0"})
    assert response.status_code == 302
    assert _fresh(key).state is KeyState.WITH_CLIENT and _entries() == []


@pytest.mark.parametrize("typed, message", [
    ("-50", "The amount cannot be negative."),
    ("500.555", "An amount has at most two decimals (poisha)."),
    ("five hundred", "Enter the amount in taka, for example 500 or 500.50."),
    ("", "Enter an amount in taka (0 for none)."),
])
def test_a_bad_deposit_amount_is_refused_and_changes_nothing(desk, typed, message):
    """Negative, over-precise or non-numeric deposits get a field error; the key stays in."""
    locker, key, _client, _rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk")
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": typed})
    assert response.status_code == 200 and message in _text(response)
    assert _fresh(key).state is KeyState.IN_OFFICE and _entries() == []
    assert _events(key) == []


def test_taka_are_converted_to_poisha_exactly(app):
    """'1,250.50' and Bengali digits become exact integer poisha, never a float."""
    assert handover.parse_taka("1,250.50", "deposit") == 125050
    assert handover.parse_taka("৳ ৫০০", "deposit") == 50000
    assert handover.parse_taka("0.1", "deposit") == 10


def test_a_key_is_issued_only_for_an_active_rental(desk):
    """A locker nobody rents gets no key out."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    key = Key(locker=locker, tag="K-FREE-1")
    db.session.add(key)
    db.session.commit()
    with pytest.raises(HandoverError, match="has no active rental"):
        handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    assert _fresh(key).state is KeyState.IN_OFFICE and _entries() == []


def test_a_second_key_of_the_same_locker_is_refused_while_one_is_out(desk):
    """With the main key out, the spare stays in the office."""
    locker, key, _client, _rental = _rented_locker(desk)
    spare = Key(locker=locker, tag="K-SPARE-1", is_spare=True)
    db.session.add(spare)
    db.session.commit()
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    with pytest.raises(HandoverError, match="already with a client"):
        handover.issue_key(locker.id, spare.id, deposit_poisha=50000, by_user_id=None)
    assert _fresh(spare).state is KeyState.IN_OFFICE
    assert len(_entries()) == 1


def test_a_refund_larger_than_the_held_deposit_is_refused(desk):
    """Refunding ৳600 of a ৳500 deposit is refused; the key, rental and ledger stay as they were."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    browser = desk.login_as("Front Desk")
    response = browser.post(_url("return", locker), data={
        "return-key": str(key.id), "return-refund": "600", "return-locker_to": "CLEANING"})
    assert response.status_code == 200
    assert ("Only ৳500.00 of deposit is held for this client on this locker; refund at most "
            "that.") in _text(response)
    assert _fresh(key).state is KeyState.WITH_CLIENT
    assert _fresh(rental).status is RentalStatus.ACTIVE
    assert _fresh(locker).status is LockerStatus.ASSIGNED
    assert handover.deposit_balance(client.id) == 50000 and len(_entries()) == 1


def test_a_partial_refund_keeps_the_rest_held(desk):
    """Refunding ৳300 of ৳500 leaves ৳200 held and the locker straight to Available."""
    locker, key, client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    result = handover.return_key(key.id, refund_poisha=30000, by_user_id=None,
                                 locker_to=LockerStatus.AVAILABLE)
    assert result.refunded_poisha == 30000 and result.released is not None
    assert handover.deposit_balance(client.id) == 20000
    assert _fresh(locker).status is LockerStatus.AVAILABLE


def test_if_the_release_fails_nothing_of_the_return_is_saved(desk):
    """A locker that cannot go to Cleaning stops the whole return: key, refund, rental unchanged."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    for status in (LockerStatus.MAINTENANCE, LockerStatus.OUT_OF_SERVICE):
        lockers.change_status(locker.id, status, by_user_id=None, reason="test", manual=True)
    db.session.commit()
    with pytest.raises(HandoverError, match="cannot go from Out of service to Cleaning"):
        handover.return_key(key.id, refund_poisha=50000, by_user_id=None)
    assert _fresh(key).state is KeyState.WITH_CLIENT
    assert _events(key) == [KeyEventKind.ISSUED]
    assert handover.deposit_balance(client.id) == 50000
    assert _fresh(rental).status is RentalStatus.ACTIVE


def test_a_key_returned_after_the_rental_ended_is_just_taken_back(desk):
    """The rental was released at the rental desk; the key comes back later with its deposit."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    rentals.release(rental.id, by_user_id=None, locker_to=LockerStatus.CLEANING)
    result = handover.return_key(key.id, refund_poisha=50000, by_user_id=None,
                                 locker_to=LockerStatus.AVAILABLE)
    assert result.released is None
    assert _fresh(key).state is KeyState.IN_OFFICE
    assert _fresh(locker).status is LockerStatus.CLEANING  # not touched by the key return
    refund = _entries(client)[-1]
    assert (refund.kind, refund.amount_poisha, refund.rental_id) == (
        DepositEntryKind.REFUNDED, -50000, rental.id)


def test_the_same_key_cannot_be_returned_twice(desk):
    """Two desks returning the same key: the second is refused and only one refund exists."""
    locker, key, client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.return_key(key.id, refund_poisha=50000, by_user_id=None)
    with pytest.raises(HandoverError, match="is not with a client"):
        handover.return_key(key.id, refund_poisha=50000, by_user_id=None)
    assert [e.amount_poisha for e in _entries(client)] == [50000, -50000]


# --- lost key and re-key ------------------------------------------------------------------

def test_lost_key_with_fee_from_deposit_blocks_the_locker_until_rekeyed(desk):
    """Lost key: fee from the deposit, key compromised, no new rental until the new key is in."""
    locker, key, client, rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk")
    browser.post(_url("issue", locker), data={"issue-key": str(key.id), "issue-deposit": "500"})
    response = browser.post(_url("lost", locker), data={
        "lost-key": str(key.id), "lost-fee": "500", "lost-settle": "deposit",
        "lost-note": "Dropped it in the pool"})
    assert response.status_code == 302, _text(response)[:3000]
    assert _fresh(key).state is KeyState.COMPROMISED
    assert _events(key) == [KeyEventKind.ISSUED, KeyEventKind.LOST, KeyEventKind.COMPROMISED]
    locker = _fresh(locker)
    assert locker.needs_rekey and locker.status is LockerStatus.ASSIGNED  # still in use
    assert _fresh(rental).status is RentalStatus.ACTIVE  # the client keeps the rental
    fee = _entries(client)[-1]
    assert (fee.kind, fee.amount_poisha, fee.key_id) == (DepositEntryKind.FEE_DEDUCTED, -50000,
                                                         key.id)
    assert handover.deposit_balance(client.id) == 0
    (ticket,) = _tickets(locker)
    assert (ticket.priority, ticket.client_id, ticket.status) == (
        TicketPriority.HIGH, client.id, TicketStatus.OPEN)
    assert key.tag in ticket.description

    rentals.release(rental.id, by_user_id=None, locker_to=LockerStatus.AVAILABLE)
    newcomer = desk.make_client(branch=locker.branch, name="Nusrat Jahan")
    with pytest.raises(RentalError, match="needs a new key or lock"):
        rentals.assign(locker.id, newcomer.id, RentalTerm.MONTHLY, by_user_id=None)

    response = browser.post(_url("rekey", locker), data={"rekey-tag": "k-new-001"})
    assert response.status_code == 302, _text(response)[:3000]
    new_key = db.session.execute(db.select(Key).where(Key.tag == "K-NEW-001")).scalar_one()
    assert new_key.locker_id == locker.id and new_key.state is KeyState.IN_OFFICE
    assert _events(new_key) == [KeyEventKind.ADDED]
    assert _fresh(key).state is KeyState.COMPROMISED
    assert _events(key)[-1] is KeyEventKind.RETIRED
    assert not _fresh(locker).needs_rekey
    assert _fresh(ticket).status is TicketStatus.RESOLVED
    assert rentals.assign(locker.id, newcomer.id, RentalTerm.MONTHLY, by_user_id=None)


def test_a_lost_key_fee_can_be_charged_as_a_cash_payment(desk):
    """Charged now: a paid cash Payment 'lost key fee'; the deposit stays held."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    user = desk.make_user("Front Desk")
    result = handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_CHARGE,
                                      by_user_id=user.id)
    payment = db.session.execute(db.select(Payment)).scalar_one()
    assert (payment.amount_poisha, payment.method, payment.status, payment.reference) == (
        100000, PaymentMethod.CASH, PaymentStatus.PAID, "lost key fee")
    assert (payment.client_id, payment.rental_id, payment.received_by_id) == (
        client.id, rental.id, user.id)
    assert result.payment.id == payment.id
    assert handover.deposit_balance(client.id) == 50000
    assert handover.fees_from_deposits() == 0
    assert _fresh(locker).needs_rekey


def test_a_fee_larger_than_the_deposit_is_refused_and_charging_is_offered(desk):
    """A ৳1000 fee cannot come out of a ৳500 deposit: refused, nothing recorded."""
    locker, key, client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    browser = desk.login_as("Front Desk")
    response = browser.post(_url("lost", locker), data={
        "lost-key": str(key.id), "lost-fee": "1000", "lost-settle": "deposit"})
    assert response.status_code == 200
    assert "Charge the fee instead." in _text(response)
    assert _fresh(key).state is KeyState.WITH_CLIENT
    assert not _fresh(locker).needs_rekey
    assert _tickets(locker) == [] and handover.deposit_balance(client.id) == 50000
    assert _events(key) == [KeyEventKind.ISSUED]


def test_the_screen_offers_charging_when_the_deposit_is_too_small(desk):
    """With no deposit held the lost-key form preselects 'charged now'."""
    locker, key, _client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=0, by_user_id=None)
    browser = desk.login_as("Front Desk")
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert re.search(r'<input checked[^>]*name="lost-settle" type="radio" value="charge"', screen)


def test_a_key_lost_in_the_office_has_no_fee(desk):
    """Staff lose an In-office key: logged and compromised, but nobody can be charged."""
    locker, key, _client, _rental = _rented_locker(desk)
    with pytest.raises(HandoverError, match="no client to pay a fee"):
        handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_CHARGE,
                                 by_user_id=None)
    result = handover.report_lost_key(key.id, fee_poisha=0, settle=None, by_user_id=None)
    assert result.ticket.client_id is None and _fresh(key).state is KeyState.COMPROMISED
    assert db.session.execute(db.select(Payment)).first() is None


def test_rekeying_refuses_a_tag_already_in_use(desk):
    """The new key's tag must be unique; the locker still needs its re-key."""
    locker, key, _client, _rental = _rented_locker(desk)
    handover.report_lost_key(key.id, fee_poisha=0, settle=None, by_user_id=None)
    other = Key(locker=desk.make_locker(), tag="K-TAKEN-9")
    db.session.add(other)
    db.session.commit()
    browser = desk.login_as("Manager")
    response = browser.post(_url("rekey", locker), data={"rekey-tag": "k-taken-9"})
    assert response.status_code == 200
    assert "Key tag K-TAKEN-9 is already in use." in _text(response)
    assert _fresh(locker).needs_rekey
    assert len(_fresh(locker).keys) == 1


def test_rekeying_retires_every_old_key_and_is_refused_while_a_key_is_out(desk):
    """A new lock voids the In-office spare too; with a key still out it is refused."""
    locker, key, _client, _rental = _rented_locker(desk)
    spare = Key(locker=locker, tag="K-SPARE-2", is_spare=True)
    db.session.add(spare)
    db.session.commit()
    handover.issue_key(locker.id, key.id, deposit_poisha=0, by_user_id=None)
    with pytest.raises(HandoverError, match="Take it back before re-keying"):
        handover.rekey_locker(locker.id, "K-LOCK-2", new_lock=True, by_user_id=None)
    handover.report_lost_key(key.id, fee_poisha=0, settle=None, by_user_id=None)
    result = handover.rekey_locker(locker.id, "K-LOCK-2", new_lock=True, by_user_id=None)
    assert {k.tag for k in result.retired} == {key.tag, "K-SPARE-2"}
    assert _fresh(spare).state is KeyState.COMPROMISED
    assert _events(spare) == [KeyEventKind.COMPROMISED, KeyEventKind.RETIRED]
    assert len(result.resolved_tickets) == 1


def test_a_rekeyed_locker_issues_its_new_key(desk):
    """After the re-key the client gets the new key; the old deposit still counts."""
    locker, key, client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_CHARGE,
                             by_user_id=None)
    new_key = handover.rekey_locker(locker.id, "K-R-1", by_user_id=None).key
    browser = desk.login_as("Front Desk")
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert _field_value(screen, "issue-deposit") == "0.00"  # ৳500 is already held
    handover.issue_key(locker.id, new_key.id, deposit_poisha=0, by_user_id=None)
    assert handover.held_on_locker(client.id, locker.id) == 50000


# --- who may do what ------------------------------------------------------------------

def test_the_screen_shows_the_client_photo_name_and_phone(desk):
    """Staff check the face: the large photo (not the thumbnail), name and phone are there."""
    locker, _key, client, _rental = _rented_locker(desk, photo_path="clients/face.jpg",
                                                   name="Farhana Akter")
    browser = desk.login_as("Front Desk")
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert 'id="client-photo" src="/uploads/clients/face.jpg"' in screen
    assert "Farhana Akter" in screen and client.phone in screen


def test_an_accountant_gets_403_on_the_key_desk(desk):
    """Accountants have no key permissions: no screen, no action, nothing changes."""
    locker, key, _client, _rental = _rented_locker(desk)
    browser = desk.login_as("Accountant")
    assert browser.get(f"/admin/key_desk/?locker_id={locker.id}").status_code == 403
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": "500"})
    assert response.status_code == 403
    assert _fresh(key).state is KeyState.IN_OFFICE and _entries() == []


def test_viewing_keys_is_not_enough_to_act(desk):
    """A role with keys-view only sees the screen without forms and gets 403 on actions."""
    locker, key, _client, _rental = _rented_locker(desk)
    security.datastore.create_role(name="Key viewer", permissions=["keys-view"])
    user = security.datastore.create_user(email="viewer@gym.local", roles=["Key viewer"],
                                          password=hash_password(PASSWORD), locale="en",
                                          full_name="Viewer")
    db.session.commit()
    browser, _ = desk.login(user.email)
    screen = browser.get(f"/admin/key_desk/?locker_id={locker.id}")
    assert screen.status_code == 200 and 'id="action-issue"' not in _text(screen)
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": "500"})
    assert response.status_code == 403 and _fresh(key).state is KeyState.IN_OFFICE


def test_staff_of_branch_a_cannot_act_on_a_locker_of_branch_b(desk):
    """A locker of another branch is not found, to see or to act on."""
    branch_a = desk.make_branch()
    locker, key, _client, _rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk", branch=branch_a)
    assert browser.get(f"/admin/key_desk/?locker_id={locker.id}").status_code == 404
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": "500"})
    assert response.status_code == 404
    assert _fresh(key).state is KeyState.IN_OFFICE and _entries() == []
    own = desk.login_as("Front Desk", branch=locker.branch).user
    with pytest.raises(HandoverError, match="another branch"):
        handover.issue_key(locker.id, key.id, deposit_poisha=0,
                           by_user_id=desk.make_user("Front Desk", branch=branch_a).id)
    assert handover.issue_key(locker.id, key.id, deposit_poisha=0, by_user_id=own.id)


def test_every_handover_is_in_the_activity_log(desk):
    """Issuing a key logs the key's change and the deposit line under the staff member."""
    from app.models import ActivityLog

    locker, key, _client, _rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk")
    browser.post(_url("issue", locker), data={"issue-key": str(key.id), "issue-deposit": "500"})
    logged = {(row.model, row.user_id) for row in db.session.execute(
        db.select(ActivityLog).where(ActivityLog.user_id == browser.user.id)).scalars()}
    assert {("Key", browser.user.id), ("DepositEntry", browser.user.id),
            ("KeyEvent", browser.user.id)} <= logged


# --- finding lockers and printing labels -------------------------------------------------

def test_a_scanned_key_tag_opens_its_locker(desk):
    """A USB scanner types the tag; the picker goes straight to the locker."""
    locker, key, _client, _rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk")
    response = browser.get(f"/admin/key_desk/?q={key.tag.lower()}")
    assert response.status_code == 302
    assert response.location.endswith(f"/admin/key_desk/?locker_id={locker.id}")


def test_the_label_page_has_a_qr_code_and_the_text_per_key(desk):
    """Two lockers, three keys: three inline SVG codes with tag and locker number."""
    first, key, _client, _rental = _rented_locker(desk, number="F-101")
    second = desk.make_locker(zone=first.zone, number="F-102")
    db.session.add_all([Key(locker=first, tag="K-F-101-S", is_spare=True),
                        Key(locker=second, tag="K-F-102")])
    db.session.commit()
    browser = desk.login_as("Front Desk")
    page = _text(browser.get(f"/admin/key_desk/labels/?locker_ids={first.id},{second.id}"))
    assert page.count('<svg class="key-qr"') == 3
    for tag in (key.tag, "K-F-101-S", "K-F-102"):
        assert f'aria-label="{tag}"' in page and f'<div class="kd-label-tag">{tag}</div>' in page
    assert "Locker F-101" in page and "Locker F-102" in page
    assert "@media print" in _text(browser.get("/static/css/key_desk.css"))
    zone_page = _text(browser.get(f"/admin/key_desk/labels/?zone_id={first.zone_id}"))
    assert zone_page.count('<svg class="key-qr"') == 3


def _modules(svg):
    """The dark modules {(x, y)} drawn by an SVG path of 1×1 squares ("M4,4H5V5H4z")."""
    return {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", svg)}


def _qr_modules(text):
    """The dark modules of a QR code holding exactly `text`, with the same 4-module border."""
    import qrcode

    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    return {(x, y) for y, row in enumerate(code.get_matrix()) for x, dark in enumerate(row)
            if dark}


def test_a_label_encodes_exactly_the_key_tag(app):
    """The QR code is the tag and nothing else, so the scanner types just the tag."""
    drawn = _modules(str(handover.key_label_svg("K-DHN-M-001")))
    assert drawn == _qr_modules("K-DHN-M-001")
    assert drawn != _qr_modules("K-DHN-M-002")


def test_void_keys_get_no_label(desk):
    """A compromised key is not printed; a user of another branch gets no sheet at all."""
    locker, key, _client, _rental = _rented_locker(desk)
    handover.report_lost_key(key.id, fee_poisha=0, settle=None, by_user_id=None)
    browser = desk.login_as("Front Desk")
    page = _text(browser.get(f"/admin/key_desk/labels/?locker_ids={locker.id}"))
    assert 'class="key-qr"' not in page
    stranger = desk.login_as("Front Desk", branch=desk.make_branch())
    assert stranger.get(f"/admin/key_desk/labels/?locker_ids={locker.id}").status_code == 404


# --- dues settled from the deposit on return --------------------------------------------

def _issued(desk, deposit="500"):
    locker, key, client, rental = _rented_locker(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    response = browser.post(_url("issue", locker), data={"issue-key": str(key.id),
                                                         "issue-deposit": deposit})
    assert response.status_code == 302, _text(response)[:3000]
    return locker, key, client, rental, browser


def test_return_pays_the_dues_from_the_deposit_and_refunds_the_rest(desk):
    """৳420 owed, ৳500 held: the screen says so, offers ৳80; the return pays ৳420 and refunds ৳80."""
    locker, key, client, rental, browser = _issued(desk)
    invoice = _pay_in_full(rental, leave_owing=42000)
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert 'id="return-dues"' in screen and "420.00" in screen
    assert _field_value(screen, "return-refund") == "80.00"
    assert re.search(r'<input checked[^>]*name="return-settle_dues"', screen)

    response = browser.post(_url("return", locker), data={
        "return-key": str(key.id), "return-settle_dues": "y", "return-refund": "80",
        "return-locker_to": "CLEANING"}, follow_redirects=True)
    page = _text(response)
    assert "Dues paid from the deposit: ৳420.00" in page and "The rental has ended" in page
    assert billing.balance(_fresh(invoice)) == 0
    from_deposit = db.session.execute(db.select(Payment).where(
        Payment.method == PaymentMethod.DEPOSIT)).scalar_one()
    assert (from_deposit.invoice_id, from_deposit.amount_poisha, from_deposit.received_by_id) == (
        invoice.id, 42000, browser.user.id)
    assert [(e.kind, e.amount_poisha) for e in _entries(client)] == [
        (DepositEntryKind.TAKEN, 50000), (DepositEntryKind.APPLIED_TO_DUES, -42000),
        (DepositEntryKind.REFUNDED, -8000)]
    assert handover.deposit_balance(client.id) == 0
    assert _fresh(rental).status is RentalStatus.RELEASED


def test_a_refund_of_the_whole_deposit_is_refused_once_the_dues_take_their_part(desk):
    """Settling ৳420 and refunding ৳500 is refused and nothing is saved: no payment, no return."""
    locker, key, client, rental, browser = _issued(desk)
    invoice = _pay_in_full(rental, leave_owing=42000)
    response = browser.post(_url("return", locker), data={
        "return-key": str(key.id), "return-settle_dues": "y", "return-refund": "500",
        "return-locker_to": "CLEANING"})
    assert response.status_code == 200
    assert "Only ৳80.00 of deposit is held" in _text(response)
    assert billing.balance(_fresh(invoice)) == 42000
    assert _fresh(key).state is KeyState.WITH_CLIENT
    assert [e.kind for e in _entries(client)] == [DepositEntryKind.TAKEN]


def test_a_return_without_settling_says_what_is_still_owed(desk):
    """Unticked, the whole deposit goes back and the desk is told ৳420 is still owed."""
    locker, key, client, rental, browser = _issued(desk)
    invoice = _pay_in_full(rental, leave_owing=42000)
    response = browser.post(_url("return", locker), data={
        "return-key": str(key.id), "return-refund": "500", "return-locker_to": "CLEANING"},
        follow_redirects=True)
    assert "The client still owes ৳420.00 on this locker." in _text(response)
    assert billing.balance(_fresh(invoice)) == 42000
    assert _fresh(rental).status is RentalStatus.RELEASED


def test_dues_larger_than_the_deposit_take_all_of_it_and_the_rest_stays_owed(desk):
    """৳500 held against more owed: all ৳500 pays the dues, nothing is refunded, the rest is owed."""
    locker, key, client, rental, browser = _issued(desk)
    invoice = billing.invoice_of(rental.id)
    owed = billing.balance(invoice)
    assert owed > 50000
    screen = _text(browser.get(f"/admin/key_desk/?locker_id={locker.id}"))
    assert _field_value(screen, "return-refund") == "0.00"
    result = handover.return_key(key.id, refund_poisha=0, by_user_id=None, settle_dues=True)
    assert (result.settled_poisha, result.still_owed_poisha) == (50000, owed - 50000)
    assert billing.balance(_fresh(invoice)) == owed - 50000


def test_the_payment_desk_cannot_pay_from_a_deposit(desk):
    """DEPOSIT is written only by a key return: the service refuses it and the form does not offer it."""
    locker, key, client, rental = _rented_locker(desk)
    invoice = billing.invoice_of(rental.id)
    with pytest.raises(billing.BillingError):
        billing.record_payment(invoice.id, 100, PaymentMethod.DEPOSIT, by_user_id=None)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    page = _text(browser.get(f"/admin/take_payment/?invoice_id={invoice.id}"))
    assert 'value="CASH"' in page and 'value="DEPOSIT"' not in page
    response = browser.post("/admin/take_payment/", data={
        "invoice": invoice.number, "amount": "1", "method": "DEPOSIT"})
    assert response.status_code == 200
    assert billing.balance(_fresh(invoice)) == invoice.total_poisha
