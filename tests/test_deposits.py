"""The key-deposit ledger (SPEC P5): held apart from revenue, always balancing, never negative."""

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from admin_views.key_desk import DepositHolderFilter
from app.extensions import db
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import Key
from app.models import LockerStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import clock
from app.services import figures
from app.services import handover
from app.services import keys
from app.services import rentals
from app.services.handover import HandoverError


def _rented_locker(desk, branch=None, name="Karim Uddin"):
    """A family-zone locker with one key, rented for a month to a new client."""
    locker = desk.make_locker(zone=desk.make_zone(branch=branch, kind=ZoneKind.FAMILY))
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    client = desk.make_client(branch=locker.branch, name=name)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    return locker, key, client, rental


def _amounts(client=None):
    stmt = db.select(DepositEntry.amount_poisha).order_by(DepositEntry.id)
    if client is not None:
        stmt = stmt.where(DepositEntry.client_id == client.id)
    return list(db.session.execute(stmt).scalars())


def _assert_balanced(*clients):
    """Each balance and the total are the sums of the lines; no line is 0; none is negative."""
    db.session.expire_all()
    for client in clients:
        assert handover.deposit_balance(client.id) == sum(_amounts(client)) >= 0
    assert handover.deposits_total() == sum(_amounts())
    assert 0 not in _amounts()


def _view(desk, endpoint):
    return next(v for v in desk.app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == endpoint)


def test_the_ledger_balances_through_issue_lost_key_new_key_and_return(desk):
    """Issue → lost key → new key → return: every step balances and the client ends at ৳0."""
    locker, key, client, _rental = _rented_locker(desk)
    _other_locker, other_key, neighbour, _ = _rented_locker(desk, branch=locker.branch,
                                                             name="Neighbour")
    handover.issue_key(_other_locker.id, other_key.id, deposit_poisha=50000, by_user_id=None)
    browser = desk.login_as("Front Desk")

    browser.post(f"/admin/key_desk/issue/?locker_id={locker.id}",
                 data={"issue-key": str(key.id), "issue-deposit": "500"})
    _assert_balanced(client, neighbour)
    assert handover.deposit_balance(client.id) == 50000

    browser.post(f"/admin/key_desk/lost/?locker_id={locker.id}", data={
        "lost-key": str(key.id), "lost-fee": "200", "lost-settle": "deposit"})
    _assert_balanced(client, neighbour)
    assert handover.deposit_balance(client.id) == 30000

    browser.post(f"/admin/key_desk/rekey/?locker_id={locker.id}", data={"rekey-tag": "K-NEW-7"})
    new_key = db.session.execute(db.select(Key).where(Key.tag == "K-NEW-7")).scalar_one()
    browser.post(f"/admin/key_desk/issue/?locker_id={locker.id}",
                 data={"issue-key": str(new_key.id), "issue-deposit": "200"})
    _assert_balanced(client, neighbour)
    assert handover.held_on_locker(client.id, locker.id) == 50000

    response = browser.post(f"/admin/key_desk/return/?locker_id={locker.id}", data={
        "return-key": str(new_key.id), "return-refund": "500", "return-locker_to": "CLEANING"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    _assert_balanced(client, neighbour)
    assert handover.deposit_balance(client.id) == 0
    assert handover.deposits_total(locker.branch_id) == 50000  # the neighbour's, still held
    kinds = list(db.session.execute(db.select(DepositEntry.kind).where(
        DepositEntry.client_id == client.id).order_by(DepositEntry.id)).scalars())
    assert kinds == [DepositEntryKind.TAKEN, DepositEntryKind.FEE_DEDUCTED,
                     DepositEntryKind.TAKEN, DepositEntryKind.REFUNDED]


def test_two_refunds_of_the_same_deposit_cannot_both_succeed(desk):
    """Two desks refund one held deposit: the second sees ৳0 held and is refused."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_CHARGE,
                             by_user_id=None)
    rentals.release(rental.id, by_user_id=None, locker_to=LockerStatus.CLEANING)
    assert handover.refund_deposit(locker.id, client.id, 50000, by_user_id=None) == 50000
    with pytest.raises(HandoverError, match="Only ৳0.00 of deposit is held"):
        handover.refund_deposit(locker.id, client.id, 50000, by_user_id=None)
    assert _amounts(client) == [50000, -50000]
    _assert_balanced(client)


def test_a_held_deposit_is_refunded_from_the_screen(desk):
    """Key lost and charged, rental ended: the desk refunds the deposit still held."""
    locker, key, client, rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_CHARGE,
                             by_user_id=None)
    rentals.release(rental.id, by_user_id=None, locker_to=LockerStatus.CLEANING)
    browser = desk.login_as("Front Desk")
    screen = browser.get(f"/admin/key_desk/?locker_id={locker.id}").get_data(as_text=True)
    assert 'id="action-refund"' in screen and "Karim Uddin (৳500.00)" in screen
    response = browser.post(f"/admin/key_desk/refund/?locker_id={locker.id}", data={
        "refund-client": str(client.id), "refund-amount": "500"})
    assert response.status_code == 302
    refund = db.session.execute(db.select(DepositEntry).order_by(DepositEntry.id.desc())
                                .limit(1)).scalar_one()
    assert (refund.kind, refund.amount_poisha, refund.rental_id, refund.key_id,
            refund.staff_id) == (DepositEntryKind.REFUNDED, -50000, rental.id, key.id,
                                 browser.user.id)
    assert handover.deposit_balance(client.id) == 0


def test_deposits_are_not_revenue_but_a_deducted_fee_is(desk):
    """A deposit is not revenue; a fee kept from it is (figures' one definition), on that day."""
    locker, key, client, _rental = _rented_locker(desk)
    before = utcnow() - timedelta(seconds=1)
    today = clock.today()
    handover.issue_key(locker.id, key.id, deposit_poisha=150000, by_user_id=None)
    assert figures.revenue(None, today, today) == 0
    handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_DEPOSIT,
                             by_user_id=None)
    assert figures.revenue(None, today, today) == 100000
    assert handover.fees_from_deposits(locker.branch_id, before) == 100000
    assert handover.fees_from_deposits(locker.branch_id, utcnow() + timedelta(days=1)) == 0
    assert handover.fees_from_deposits(desk.make_branch().id, before) == 0
    assert handover.deposits_total(locker.branch_id) == 50000
    assert handover.deposit_balance(client.id) == 50000


def test_a_ledger_line_of_zero_is_refused_by_the_database(desk):
    """Even bypassing the service, an amount of 0 cannot be written."""
    locker, key, client, _rental = _rented_locker(desk)
    db.session.add(DepositEntry(branch_id=locker.branch_id, client_id=client.id, key_id=key.id,
                                kind=DepositEntryKind.TAKEN, amount_poisha=0))
    # PyMySQL reports a failed CHECK on MariaDB as an OperationalError.
    with pytest.raises((IntegrityError, OperationalError)):
        db.session.commit()
    db.session.rollback()


def test_an_accountant_reads_the_ledger_and_balances_but_changes_nothing(desk):
    """Accountants see the lines, the total held and the balances, and export them."""
    locker, key, _client, _rental = _rented_locker(desk, name="Rumana Akter")
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.return_key(key.id, refund_poisha=20000, by_user_id=None)
    browser = desk.login_as("Accountant")
    page = browser.get("/admin/deposits/").get_data(as_text=True)
    assert "Deposits held (a liability, not revenue): ৳300.00" in page
    assert "Rumana Akter" in page and "Deposit refunded" in page
    assert browser.get("/admin/deposits/new/").status_code == 403
    first = db.session.execute(db.select(DepositEntry.id).order_by(DepositEntry.id)).scalars().first()
    assert browser.post("/admin/deposits/delete/", data={"id": str(first)}).status_code == 403

    export = browser.get("/admin/deposits/export/csv/").get_data(as_text=True)
    assert ",500.00," in export and ",-200.00," in export  # numbers, not formula-escaped text

    balances = browser.get("/admin/deposits/balances/").get_data(as_text=True)
    assert "Rumana Akter" in balances and "৳300.00" in balances
    csv = browser.get("/admin/deposits/balances/?export=csv").get_data(as_text=True)
    assert csv.splitlines()[1].endswith(",300.00")
    xlsx = browser.get("/admin/deposits/balances/?export=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [cell.value for cell in sheet[2]][0] == "Rumana Akter"


def test_a_branch_limited_accountant_sees_only_their_branch(desk):
    """Lines, totals and balances of another branch stay out of view."""
    mine, mine_key, _client, _rental = _rented_locker(desk, name="Mine Client")
    theirs, their_key, _, _ = _rented_locker(desk, name="Their Client")
    handover.issue_key(mine.id, mine_key.id, deposit_poisha=50000, by_user_id=None)
    handover.issue_key(theirs.id, their_key.id, deposit_poisha=70000, by_user_id=None)
    browser = desk.login_as("Accountant", branch=mine.branch)
    page = browser.get("/admin/deposits/").get_data(as_text=True)
    assert "Mine Client" in page and "Their Client" not in page and "৳500.00" in page
    balances = browser.get("/admin/deposits/balances/").get_data(as_text=True)
    assert "Mine Client" in balances and "Their Client" not in balances


def test_the_deposit_held_filter_lists_only_clients_still_holding_money(desk):
    """A client fully refunded drops out; one still holding a deposit stays."""
    paid_back, key_a, _, _ = _rented_locker(desk, name="Fully Refunded")
    holding, key_b, _, _ = _rented_locker(desk, name="Still Holding")
    handover.issue_key(paid_back.id, key_a.id, deposit_poisha=50000, by_user_id=None)
    handover.return_key(key_a.id, refund_poisha=50000, by_user_id=None)
    handover.issue_key(holding.id, key_b.id, deposit_poisha=50000, by_user_id=None)
    view = _view(desk, "deposits")
    index = next(i for i, f in enumerate(view._filters) if isinstance(f, DepositHolderFilter))
    browser = desk.login_as("Accountant")
    page = browser.get(f"/admin/deposits/?flt1_{index}=1").get_data(as_text=True)
    assert "Still Holding" in page and "Fully Refunded" not in page
