"""Lockers as the desk manages them: bulk create, the status state machine, history."""

import pytest

from app.extensions import db
from app.models import Key
from app.models import KeyEvent
from app.models import Locker
from app.models import LockerSize
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.services import lockers


def _numbers(branch_id):
    return sorted(db.session.execute(
        db.select(Locker.number).where(Locker.branch_id == branch_id)).scalars())


def test_bulk_create_makes_a_zero_padded_run_with_keys(desk):
    """'prefix M-, 1–50, zone Men, size M' creates M-001 … M-050, each with a key tag."""
    zone = desk.make_zone()
    browser = desk.login_as("Manager")
    response = browser.post("/admin/lockers/bulk-create/", data={
        "zone": str(zone.id), "prefix": "m-", "first": "1", "last": "50", "size": "MEDIUM",
        "category": "__None", "with_keys": "y"})
    assert response.status_code == 302
    numbers = _numbers(zone.branch_id)
    assert len(numbers) == 50 and numbers[0] == "M-001" and numbers[-1] == "M-050"
    tags = db.session.execute(db.select(Key.tag).order_by(Key.tag)).scalars().all()
    assert tags[0] == f"K-{zone.branch.code}-M-001" and len(tags) == 50
    assert db.session.execute(db.select(db.func.count()).select_from(KeyEvent)).scalar_one() == 50
    changes = db.session.execute(db.select(LockerStatusChange)).scalars().all()
    assert len(changes) == 50 and {c.changed_by_id for c in changes} == {browser.user.id}


def test_bulk_create_refuses_an_overlap_and_creates_nothing(desk):
    """If M-010 exists, 'M-001 to M-020' is refused with the clashing number named."""
    zone = desk.make_zone()
    desk.make_locker(zone=zone, number="M-010")
    browser = desk.login_as("Manager")
    response = browser.post("/admin/lockers/bulk-create/", data={
        "zone": str(zone.id), "prefix": "M-", "first": "1", "last": "20", "width": "3",
        "size": "SMALL", "category": "__None"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "These locker numbers already exist in this branch: M-010. Nothing was created." in text
    assert _numbers(zone.branch_id) == ["M-010"]


def test_bulk_create_needs_the_create_permission(desk):
    """A Front Desk member cannot open or post the bulk create page."""
    zone = desk.make_zone()
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/lockers/bulk-create/").status_code == 403
    response = browser.post("/admin/lockers/bulk-create/", data={
        "zone": str(zone.id), "prefix": "X-", "first": "1", "last": "2", "size": "SMALL"})
    assert response.status_code == 403 and _numbers(zone.branch_id) == []


def test_a_range_too_large_or_backwards_is_refused(app):
    """No 5,000 lockers by a typo, no 'from 50 to 1'."""
    with pytest.raises(lockers.LockerError):
        lockers.locker_numbers("M-", 1, 5000)
    with pytest.raises(lockers.LockerError):
        lockers.locker_numbers("M-", 50, 1)
    assert lockers.locker_numbers("v", 8, 10, width=2) == ["V08", "V09", "V10"]
    assert lockers.locker_numbers("M-", 1, 2) == ["M-001", "M-002"]


def test_every_status_change_goes_through_the_state_machine(desk):
    """Available → Maintenance → Available is allowed and recorded with who and why."""
    locker = desk.make_locker()
    manager = desk.make_user("Manager")
    lockers.change_status(locker.id, LockerStatus.MAINTENANCE, by_user_id=manager.id,
                          reason="Door hinge broken", manual=True)
    db.session.commit()
    lockers.change_status(locker.id, LockerStatus.AVAILABLE, by_user_id=manager.id,
                          reason="Fixed", manual=True)
    db.session.commit()
    history = db.session.execute(db.select(LockerStatusChange).where(
        LockerStatusChange.locker_id == locker.id).order_by(LockerStatusChange.id)).scalars().all()
    assert [(h.from_status, h.to_status, h.reason) for h in history] == [
        (LockerStatus.AVAILABLE, LockerStatus.MAINTENANCE, "Door hinge broken"),
        (LockerStatus.MAINTENANCE, LockerStatus.AVAILABLE, "Fixed")]
    assert {h.changed_by_id for h in history} == {manager.id}


@pytest.mark.parametrize("start, target", [
    (LockerStatus.OUT_OF_SERVICE, LockerStatus.CLEANING),
    (LockerStatus.CLEANING, LockerStatus.OUT_OF_SERVICE),
    (LockerStatus.MAINTENANCE, LockerStatus.MAINTENANCE),
])
def test_illegal_transitions_are_refused(desk, start, target):
    """A transition missing from the state machine is refused and changes nothing."""
    locker = desk.make_locker(status=start)
    with pytest.raises(lockers.LockerError):
        lockers.change_status(locker.id, target, by_user_id=None, manual=True)
    db.session.rollback()
    assert db.session.get(Locker, locker.id).status is start


def test_staff_cannot_set_rental_statuses_by_hand(desk):
    """Assigned, Reserved and Expired come only from the rental flow."""
    locker = desk.make_locker()
    with pytest.raises(lockers.LockerError, match="rental flow"):
        lockers.change_status(locker.id, LockerStatus.ASSIGNED, by_user_id=None, manual=True)


def test_bulk_status_change_from_the_list_is_all_or_nothing(desk):
    """Two lockers to Cleaning: if one cannot go, neither changes and the reason is shown."""
    zone = desk.make_zone()
    ok = desk.make_locker(zone=zone, number="C-001")
    stuck = desk.make_locker(zone=zone, number="C-002", status=LockerStatus.OUT_OF_SERVICE)
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/lockers/action/", data={
        "action": "change_status", "rowid": [str(ok.id), str(stuck.id)]})
    assert response.status_code == 302 and "/status/" in response.headers["Location"]
    response = browser.post("/admin/lockers/status/", data={
        "ids": f"{ok.id},{stuck.id}", "status": "CLEANING", "reason": "Deep clean"})
    text = response.get_data(as_text=True)
    assert "Locker C-002 cannot go from Out of service to Cleaning." in text
    assert db.session.get(Locker, ok.id).status is LockerStatus.AVAILABLE
    response = browser.post("/admin/lockers/status/", data={
        "ids": str(ok.id), "status": "CLEANING", "reason": "Deep clean"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Locker, ok.id).status is LockerStatus.CLEANING


def test_a_status_change_needs_a_reason(desk):
    """Who, when and why: the why is required."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    response = browser.post("/admin/lockers/status/", data={
        "ids": str(locker.id), "status": "MAINTENANCE", "reason": ""})
    assert response.status_code == 200
    assert db.session.get(Locker, locker.id).status is LockerStatus.AVAILABLE


def test_accountants_cannot_change_locker_status(desk):
    """The status page needs lockers-edit."""
    locker = desk.make_locker()
    browser = desk.login_as("Accountant")
    assert browser.get(f"/admin/lockers/status/?ids={locker.id}").status_code == 403


def test_the_locker_page_shows_keys_and_status_history(desk):
    """A locker's details list its keys and every status change."""
    locker = desk.make_locker(number="H-007", size=LockerSize.LARGE)
    db.session.add(Key(locker=locker, tag="K-H-007"))
    lockers.change_status(locker.id, LockerStatus.CLEANING, by_user_id=None,
                          reason="Sweat smell", manual=True)
    db.session.commit()
    page = desk.login_as("Manager").get(f"/admin/lockers/details/?id={locker.id}")
    text = page.get_data(as_text=True)
    assert "K-H-007" in text and "Sweat smell" in text and "Cleaning" in text


def test_a_new_key_tag_starts_its_history(desk):
    """Adding a spare key from the keys screen records an 'Added' event."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    response = browser.post("/admin/keys/new/", data={
        "locker": str(locker.id), "tag": "K-SPARE-1", "is_spare": "y", "notes": ""})
    assert response.status_code == 302
    key = db.session.execute(db.select(Key).where(Key.tag == "K-SPARE-1")).scalar_one()
    assert [e.kind.name for e in key.events] == ["ADDED"]
    assert key.events[0].staff_id == browser.user.id
    page = browser.get(f"/admin/keys/details/?id={key.id}").get_data(as_text=True)
    assert "Added" in page


def test_a_duplicate_key_tag_is_refused_by_name(desk):
    """A key tag already in use is named in the error."""
    locker = desk.make_locker()
    db.session.add(Key(locker=locker, tag="K-1"))
    db.session.commit()
    response = desk.login_as("Manager").post("/admin/keys/new/", data={
        "locker": str(locker.id), "tag": "K-1"})
    assert "Key tag K-1 is already in use." in response.get_data(as_text=True)
