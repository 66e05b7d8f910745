"""The desk's day in a real browser: a locker goes to a client with a key, and back."""

import re

import pytest

from app.extensions import db
from app.models import DepositEntry
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import ZoneKind
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def _refresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def _rental_of(locker):
    db.session.expire_all()
    return db.session.execute(db.select(Rental).where(Rental.holding_locker_id == locker.id)
                              ).scalar_one()


def _submit_action(page, action, fields=None):
    # Each form of the key desk carries its action as a prefix: "issue-deposit".
    card = page.locator(f"#action-{action}")
    for name, value in (fields or {}).items():
        card.locator(f"[name={action}-{name}]").fill(value)
    card.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def test_reserve_assign_key_renew_return_and_clean(live_desk, page):
    """Reserve → assign → issue key with deposit → renew → return with refund → clean."""
    base_url, desk = live_desk
    zone = desk.make_zone(kind=ZoneKind.MEN)
    locker = desk.make_locker(zone=zone, number="M-101")
    db.session.add(Key(locker=locker, tag="K-M-101"))
    client = desk.make_client(branch=zone.branch, name="Rakib Hasan", phone="+8801712345678")
    staff = desk.make_user("Front Desk", full_name="Sohel Rana")
    log_in(page, base_url, staff)

    page.goto(f"{base_url}/admin/rental_desk/reserve/?locker_id={locker.id}")
    page.fill("input[name=client_query]", "01712-345678")
    page.click("button[name=check]")
    assert "Rakib Hasan" in page.inner_text("#chosen-client")
    page.click("button[name=confirm]")
    assert _refresh(Locker, locker.id).status is LockerStatus.RESERVED

    page.goto(f"{base_url}/admin/rental_desk/assign/?locker_id={locker.id}&client_id={client.id}")
    page.select_option("select[name=term]", "MONTHLY")
    page.click("button[name=check]")
    assert "৳800.00" in page.inner_text("#quote")
    page.click("#assign-and-pay")  # assign and take the cash in one step
    page.wait_for_url(re.compile(r".*/rental_desk/rental/\?rental_id=\d+$"))
    assert _refresh(Locker, locker.id).status is LockerStatus.ASSIGNED
    assert page.is_visible("#print-receipt") and page.is_visible("#print-invoice")
    assert "K-M-101" in page.inner_text("#issue-key")  # the key and the settings' deposit
    with page.expect_navigation():
        page.click("#issue-key")
    key = db.session.execute(db.select(Key).where(Key.tag == "K-M-101")).scalar_one()
    assert _refresh(Key, key.id).state is KeyState.WITH_CLIENT
    page.goto(f"{base_url}/admin/key_desk/?locker_id={locker.id}")
    assert page.is_visible("#client-card") and "Rakib Hasan" in page.inner_text("#client-name")
    assert "৳500.00" in page.inner_text("#client-held")

    page.goto(f"{base_url}/admin/client_profile/?id={client.id}")
    page.click(f"#renew-and-pay-{_rental_of(locker).id}")  # one press, at the price it shows
    page.wait_for_url(re.compile(r".*/rental_desk/rental/\?rental_id=\d+$"))
    assert "Renewed until" in page.content() and page.is_visible("#print-receipt")

    page.goto(f"{base_url}/admin/key_desk/?locker_id={locker.id}")
    assert page.input_value("#action-return [name=return-refund]") in ("500", "500.00")
    page.check("#action-return input[value=CLEANING]")
    _submit_action(page, "return")
    assert _refresh(Key, key.id).state is KeyState.IN_OFFICE
    assert _refresh(Locker, locker.id).status is LockerStatus.CLEANING
    balance = sum(e.amount_poisha for e in db.session.execute(
        db.select(DepositEntry).where(DepositEntry.client_id == client.id)).scalars())
    assert balance == 0

    page.goto(f"{base_url}/admin/lockers/status/?ids={locker.id}&status=AVAILABLE")
    page.select_option("select[name=status]", "AVAILABLE")
    page.fill("textarea[name=reason]", "Cleaned and dried")
    page.click("form[action*='/status/'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert _refresh(Locker, locker.id).status is LockerStatus.AVAILABLE


def test_lost_key_with_fee_and_re_key(live_desk, page):
    """A lost key: fee from the deposit, key compromised, locker blocked until re-keyed."""
    from app.models import RentalTerm
    from app.services import handover
    from app.services import rentals

    base_url, desk = live_desk
    zone = desk.make_zone(kind=ZoneKind.FAMILY)
    locker = desk.make_locker(zone=zone, number="F-201")
    db.session.add(Key(locker=locker, tag="K-F-201"))
    client = desk.make_client(branch=zone.branch, name="Nusrat Jahan")
    db.session.commit()
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    staff = desk.make_user("Front Desk")
    log_in(page, base_url, staff)
    page.goto(f"{base_url}/admin/key_desk/?locker_id={locker.id}")
    _submit_action(page, "issue", {"deposit": "500"})

    page.check("#action-lost input[value=" + handover.SETTLE_DEPOSIT + "]")
    _submit_action(page, "lost", {"fee": "300", "note": "Dropped in the pool"})
    assert page.is_visible("#needs-rekey")
    key = db.session.execute(db.select(Key).where(Key.tag == "K-F-201")).scalar_one()
    assert _refresh(Key, key.id).state is KeyState.COMPROMISED
    assert _refresh(Locker, locker.id).needs_rekey is True
    assert "৳200.00" in page.inner_text("#client-held")

    page.fill("form[action*=rekey] input[name=rekey-tag]", "K-F-201-R1")
    page.click("form[action*=rekey] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert _refresh(Locker, locker.id).needs_rekey is False
    assert db.session.execute(db.select(Key).where(Key.tag == "K-F-201-R1")).scalar_one()
