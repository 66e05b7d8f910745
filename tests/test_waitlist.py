"""The locker waitlist: first come, first served per zone, with offers that lapse."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import ActivityLog
from app.models import ClientStatus
from app.models import Gender
from app.models import Locker
from app.models import LockerSize
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import WaitlistEntry
from app.models import WaitlistStatus
from app.models import ZoneKind
from app.models import utcnow
from app.services import lockers
from app.services import rentals
from app.services import waitlist
from app.services.waitlist import WaitlistError
from jobs.waitlist import accept_waitlist_offers
from jobs.waitlist import lapse_waitlist_offers
from jobs.waitlist import offer_free_lockers

W = WaitlistStatus


@pytest.fixture
def men(desk):
    """The men's zone of a branch, with one locker under maintenance (not free yet)."""
    zone = desk.make_zone(kind=ZoneKind.MEN, name="Men")
    locker = desk.make_locker(zone=zone, number="M-001", status=LockerStatus.MAINTENANCE)
    return zone, locker


def _client(desk, zone, name, **fields):
    return desk.make_client(branch=zone.branch, name=name, **fields)


def _join(client, zone, size=None, minutes_ago=0):
    """Join, as if `minutes_ago` minutes ago (the line is ordered by time)."""
    entry = waitlist.join(client.id, zone.id, size, by_user_id=None)
    entry.created_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.commit()
    return entry


def _free(locker):
    lockers.change_status(locker.id, LockerStatus.AVAILABLE, by_user_id=None, reason="repaired")
    db.session.commit()


def _entry(entry):
    db.session.expire_all()
    return db.session.get(WaitlistEntry, entry.id)


def _status(entry):
    return _entry(entry).status


def test_the_first_in_line_gets_the_locker_reserved_when_it_frees(desk, men):
    """Nothing is offered while the locker is in maintenance; once free, the first client gets it."""
    zone, locker = men
    first = _join(_client(desk, zone, "Arif Hossain"), zone, minutes_ago=30)
    second = _join(_client(desk, zone, "Kamal Uddin"), zone, minutes_ago=10)
    assert waitlist.offer_free_lockers() == []
    _free(locker)
    offered = waitlist.offer_free_lockers()
    assert [entry.id for entry in offered] == [first.id]
    entry = _entry(first)
    rental = db.session.get(Rental, entry.offered_rental_id)
    assert entry.status is W.OFFERED and rental.status is RentalStatus.RESERVED
    assert rental.locker_id == locker.id and rental.client_id == first.client_id
    assert entry.offer_expires_at == rental.reserved_until
    assert rental.reserved_until - utcnow() > timedelta(hours=23)
    assert db.session.get(Locker, locker.id).status is LockerStatus.RESERVED
    assert _status(second) is W.WAITING
    told = db.session.execute(db.select(ActivityLog.summary).where(
        ActivityLog.summary.like("waitlist offer: %"))).scalars().all()
    assert len(told) == 1 and "Arif Hossain" in told[0] and "M-001" in told[0]


def test_the_offer_job_counts_what_it_offered(desk, men):
    """The scheduled job offers the free locker once; a second run finds nothing to do."""
    zone, locker = men
    _join(_client(desk, zone, "Arif Hossain"), zone)
    _free(locker)
    assert offer_free_lockers() == 1
    assert offer_free_lockers() == 0


@pytest.mark.parametrize("status, message", [
    (ClientStatus.BANNED, "is banned and cannot join the waitlist"),
    (ClientStatus.INACTIVE, "is inactive"),
])
def test_banned_or_inactive_clients_cannot_join(desk, men, status, message):
    """The refusal names the reason and nobody is added."""
    zone, _ = men
    client = _client(desk, zone, "Rubel Miah", status=status, ban_reason="Broke a lock")
    with pytest.raises(WaitlistError, match=message):
        waitlist.join(client.id, zone.id, by_user_id=None)
    assert not db.session.execute(db.select(WaitlistEntry)).first()


def test_a_client_already_waiting_for_the_zone_cannot_join_twice(desk, men):
    """Same client, same zone: refused, whatever size is asked; another zone is fine."""
    zone, _ = men
    client = _client(desk, zone, "Arif Hossain")
    waitlist.join(client.id, zone.id, by_user_id=None)
    with pytest.raises(WaitlistError, match="already on the waitlist"):
        waitlist.join(client.id, zone.id, LockerSize.LARGE, by_user_id=None)
    other_zone = desk.make_zone(zone.branch, kind=ZoneKind.VIP)
    waitlist.join(client.id, other_zone.id, by_user_id=None)
    assert len(db.session.execute(db.select(WaitlistEntry)).scalars().all()) == 2


def test_a_client_of_another_branch_cannot_wait_for_this_zone(desk, men):
    """The zone must be in the client's branch."""
    zone, _ = men
    stranger = desk.make_client(name="Tariq Khan")
    with pytest.raises(WaitlistError, match="different branches"):
        waitlist.join(stranger.id, zone.id, by_user_id=None)


def test_skipping_an_offered_client_offers_the_locker_to_the_next(desk, men):
    """The skipped client's reservation is cancelled and the next client gets the locker."""
    zone, locker = men
    first = _join(_client(desk, zone, "Arif Hossain"), zone, minutes_ago=30)
    second = _join(_client(desk, zone, "Kamal Uddin"), zone, minutes_ago=10)
    _free(locker)
    waitlist.offer_free_lockers()
    first_rental_id = _entry(first).offered_rental_id
    manager = desk.make_user("Manager")
    skipped = waitlist.skip(first.id, by_user_id=manager.id, reason="Not answering the phone")
    assert skipped.next_offer.id == second.id
    assert _status(first) is W.SKIPPED
    assert "skipped: Not answering the phone" in _entry(first).note
    assert db.session.get(Rental, first_rental_id).status is RentalStatus.CANCELLED
    entry = _entry(second)
    assert entry.status is W.OFFERED
    assert db.session.get(Rental, entry.offered_rental_id).locker_id == locker.id


def test_a_skip_needs_a_reason(desk, men):
    """Without a reason nothing changes."""
    zone, _ = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    with pytest.raises(WaitlistError, match="Say why"):
        waitlist.skip(entry.id, by_user_id=None, reason="  ")
    assert _status(entry) is W.WAITING


def test_a_lapsed_offer_goes_to_the_next_in_line(desk, men):
    """After the deadline the offer lapses, its reservation ends and the next client gets it."""
    zone, locker = men
    first = _join(_client(desk, zone, "Arif Hossain"), zone, minutes_ago=30)
    second = _join(_client(desk, zone, "Kamal Uddin"), zone, minutes_ago=10)
    _free(locker)
    waitlist.offer_free_lockers()
    offer = _entry(first)
    first_rental_id = offer.offered_rental_id
    assert waitlist.lapse_offers(now=offer.offer_expires_at - timedelta(minutes=1)) == 0
    assert waitlist.lapse_offers(now=offer.offer_expires_at + timedelta(minutes=1)) == 1
    assert _status(first) is W.LAPSED
    assert db.session.get(Rental, first_rental_id).status is RentalStatus.CANCELLED
    assert _status(second) is W.OFFERED


def test_an_offer_whose_reservation_the_rental_job_ended_is_only_marked_lapsed(desk, men):
    """The rental service's lapse job ran first: the entry lapses, the next client is offered."""
    zone, locker = men
    first = _join(_client(desk, zone, "Arif Hossain"), zone, minutes_ago=30)
    second = _join(_client(desk, zone, "Kamal Uddin"), zone, minutes_ago=10)
    _free(locker)
    waitlist.offer_free_lockers()
    later = _entry(first).offer_expires_at + timedelta(minutes=1)
    assert rentals.lapse_reservations(now=later) == 1
    assert waitlist.lapse_offers(now=later) == 1
    assert _status(first) is W.LAPSED and _status(second) is W.OFFERED


def test_the_lapse_job_runs_on_its_own(desk, men):
    """With no offer due, the scheduled job changes nothing."""
    zone, locker = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    _free(locker)
    waitlist.offer_free_lockers()
    assert lapse_waitlist_offers() == 0
    assert _status(entry) is W.OFFERED


def test_a_woman_first_in_line_for_a_mens_locker_is_passed_over_for_it(desk, men):
    """The gender check refuses her this locker: the next eligible client gets it, she keeps her place."""
    zone, locker = men
    sadia = _join(_client(desk, zone, "Sadia Islam", gender=Gender.FEMALE), zone, minutes_ago=30)
    arif = _join(_client(desk, zone, "Arif Hossain"), zone, minutes_ago=10)
    _free(locker)
    waitlist.offer_free_lockers()
    assert _status(sadia) is W.WAITING
    assert _status(arif) is W.OFFERED
    assert waitlist.position(_entry(sadia)) == 1


def test_a_client_waiting_for_a_size_is_offered_only_that_size(desk, men):
    """A medium locker does not go to a client who asked for a large one."""
    zone, locker = men
    large = _join(_client(desk, zone, "Arif Hossain"), zone, LockerSize.LARGE, minutes_ago=30)
    any_size = _join(_client(desk, zone, "Kamal Uddin"), zone, minutes_ago=10)
    _free(locker)
    waitlist.offer_free_lockers()
    assert _status(large) is W.WAITING and _status(any_size) is W.OFFERED


def test_taking_the_offered_locker_marks_the_entry_accepted(desk, men):
    """The desk assigns the reserved locker: the offer is Accepted and never lapses."""
    zone, locker = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    _free(locker)
    waitlist.offer_free_lockers()
    offer = _entry(entry)
    rental = rentals.assign(locker.id, entry.client_id, RentalTerm.MONTHLY, by_user_id=None)
    assert rental.id == offer.offered_rental_id
    assert accept_waitlist_offers() == 1
    assert _status(entry) is W.ACCEPTED
    assert waitlist.lapse_offers(now=offer.offer_expires_at + timedelta(hours=1)) == 0
    assert _status(entry) is W.ACCEPTED


def test_an_offer_taken_just_before_the_deadline_is_accepted_not_lapsed(desk, men):
    """The lapse run finds the reservation already a rental: Accepted, and the rental stands."""
    zone, locker = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    _free(locker)
    waitlist.offer_free_lockers()
    offer = _entry(entry)
    rentals.assign(locker.id, entry.client_id, RentalTerm.MONTHLY, by_user_id=None)
    assert waitlist.lapse_offers(now=offer.offer_expires_at + timedelta(minutes=1)) == 0
    assert _status(entry) is W.ACCEPTED
    assert db.session.get(Rental, offer.offered_rental_id).status is RentalStatus.ACTIVE


# --- the screen ---------------------------------------------------------------------------

def test_the_desk_adds_a_client_by_phone(desk, men):
    """The join form finds the client by the phone typed with dashes and puts them in line."""
    zone, _ = men
    client = _client(desk, zone, "Arif Hossain", phone="+8801711123456")
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/waitlist/new/", data={
        "phone": "01711-123456", "zone": str(zone.id), "size": "", "note": "Wants a corner"})
    assert response.status_code == 302
    entry = db.session.execute(db.select(WaitlistEntry)).scalar_one()
    assert (entry.client_id, entry.zone_id, entry.size, entry.status) == (
        client.id, zone.id, None, W.WAITING)
    assert entry.created_by_id == browser.user.id and entry.note == "Wants a corner"
    page = browser.get("/admin/waitlist/").get_data(as_text=True)
    assert "Arif Hossain" in page and "Any size" in page


def test_an_unknown_phone_or_a_banned_client_is_refused_on_the_form(desk, men):
    """The form says why and nobody is added."""
    zone, _ = men
    _client(desk, zone, "Rubel Miah", phone="+8801811000222", status=ClientStatus.BANNED)
    browser = desk.login_as("Front Desk")
    text = browser.post("/admin/waitlist/new/", data={
        "phone": "01711-999999", "zone": str(zone.id)}).get_data(as_text=True)
    assert "No client has that phone number." in text
    text = browser.post("/admin/waitlist/new/", data={
        "phone": "01811-000222", "zone": str(zone.id)}).get_data(as_text=True)
    assert "Rubel Miah is banned and cannot join the waitlist." in text
    assert not db.session.execute(db.select(WaitlistEntry)).first()


def test_skip_from_the_list_needs_a_reason(desk, men):
    """The Skip action leads to a form; without a reason nothing changes, with one the client leaves."""
    zone, _ = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/waitlist/action/", data={
        "action": "skip", "rowid": [str(entry.id)]})
    assert response.status_code == 302 and "/skip/" in response.headers["Location"]
    response = browser.post("/admin/waitlist/skip/", data={"ids": str(entry.id), "reason": ""})
    assert response.status_code == 200 and _status(entry) is W.WAITING
    response = browser.post("/admin/waitlist/skip/", data={"ids": str(entry.id),
                                                           "reason": "Moved to Chittagong"})
    assert response.status_code == 302 and _status(entry) is W.SKIPPED


def test_offer_now_from_the_list_reserves_a_free_locker(desk, men):
    """The desk offers a waiting client the free locker at once."""
    zone, locker = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    _free(locker)
    browser = desk.login_as("Front Desk")
    browser.post("/admin/waitlist/action/", data={"action": "offer_now",
                                                  "rowid": [str(entry.id)]})
    offer = _entry(entry)
    assert offer.status is W.OFFERED
    rental = db.session.get(Rental, offer.offered_rental_id)
    assert rental.locker_id == locker.id and rental.created_by_id == browser.user.id


def test_offer_now_says_when_no_locker_fits(desk, men):
    """No free locker in the zone: the client stays waiting and the desk is told why."""
    zone, _ = men
    entry = _join(_client(desk, zone, "Arif Hossain"), zone)
    with pytest.raises(WaitlistError, match="No locker that fits is free in Men"):
        waitlist.offer_now(entry.id, by_user_id=None)
    assert _status(entry) is W.WAITING


def test_an_accountant_sees_the_waitlist_but_cannot_change_it(desk, men):
    """rentals-view shows the list; joining and the list actions need more."""
    zone, locker = men
    entry = _join(_client(desk, zone, "Arif Hossain", phone="+8801711123456"), zone)
    _free(locker)
    browser = desk.login_as("Accountant")
    assert browser.get("/admin/waitlist/").status_code == 200
    assert browser.post("/admin/waitlist/new/", data={
        "phone": "01711-123456", "zone": str(zone.id)}).status_code == 403
    browser.post("/admin/waitlist/action/", data={"action": "offer_now", "rowid": [str(entry.id)]})
    assert browser.get(f"/admin/waitlist/skip/?ids={entry.id}").status_code == 403
    assert _status(entry) is W.WAITING
    assert len(db.session.execute(db.select(WaitlistEntry)).scalars().all()) == 1


def test_staff_limited_to_a_branch_see_only_its_line(desk, men):
    """Another branch's waiting clients are neither listed nor skippable."""
    zone, _ = men
    mine = _join(_client(desk, zone, "Arif Hossain"), zone)
    other_zone = desk.make_zone(kind=ZoneKind.MEN)
    theirs = _join(desk.make_client(branch=other_zone.branch, name="Tariq Khan"), other_zone)
    browser = desk.login_as("Front Desk", branch=zone.branch)
    page = browser.get("/admin/waitlist/").get_data(as_text=True)
    assert "Arif Hossain" in page and "Tariq Khan" not in page
    browser.post("/admin/waitlist/skip/", data={"ids": str(theirs.id), "reason": "Not mine"})
    assert _status(theirs) is W.WAITING and _status(mine) is W.WAITING


def test_the_waitlist_pages_open(desk, men):
    """The join form (phone filled in from a profile link), details, note edit and export all open."""
    zone, locker = men
    client = _client(desk, zone, "Arif Hossain", phone="+8801711123456")
    entry = _join(client, zone)
    _free(locker)
    waitlist.offer_free_lockers()
    browser = desk.login_as("Front Desk")
    form = browser.get(f"/admin/waitlist/new/?client_id={client.id}").get_data(as_text=True)
    assert 'value="+8801711123456"' in form
    details = browser.get(f"/admin/waitlist/details/?id={entry.id}").get_data(as_text=True)
    assert "Arif Hossain" in details and "M-001" in details
    response = browser.post(f"/admin/waitlist/edit/?id={entry.id}", data={"note": "Call after 6pm"})
    assert response.status_code == 302 and _entry(entry).note == "Call after 6pm"
    assert _status(entry) is W.OFFERED
    export = browser.get("/admin/waitlist/export/csv/").get_data(as_text=True)
    assert "Arif Hossain" in export and "M-001" in export
