"""Staff limited to a branch never see another branch's clients: not in a form, not in a refusal.

A forged form may name any client id; the desk refuses it with a message of
its own and shows nothing of that client (name or phone). A phone or NID
already registered elsewhere is refused without saying whose it is. A Super
Admin, who has no branch, still sees every client.
"""

import pytest

from app.extensions import db
from app.models import Client
from app.models import LostItem
from app.models import MaintenanceTicket
from app.services import clients
from app.services import clock
from app.services import lost_found
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from tests.test_client_doors import post_edit
from tests.test_client_doors import service_data
from tests.test_registration import post_registration
from tests.test_registration import register_form

THEIR_NAME = "Rumana Akter"
THEIR_PHONE = "+8801811234567"
THEIR_NID = "1990123456789"


@pytest.fixture
def two_branches(desk):
    """A locker in our branch; a client with a phone and NID in theirs."""
    ours, theirs = desk.make_branch(), desk.make_branch()
    locker = desk.make_locker(zone=desk.make_zone(branch=ours))
    stranger = desk.make_client(branch=theirs, name=THEIR_NAME, phone=THEIR_PHONE, nid=THEIR_NID)
    return locker, stranger


def _count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def _shows(response, client):
    """True if the page names the client or shows their phone, in any format."""
    text = response.get_data(as_text=True)
    return client.full_name in text or client.phone[-10:] in text


def _today(locker):
    return clock.today(locker.branch.timezone).isoformat()


@pytest.mark.parametrize("role", [FRONT_DESK, MANAGER])
def test_a_forged_client_on_a_new_ticket_is_refused_and_not_shown(desk, two_branches, role):
    """A ticket form posted with another branch's client id says to choose a client; no ticket."""
    locker, stranger = two_branches
    browser = desk.login_as(role, branch=locker.branch)
    response = browser.post("/admin/maintenance/new/", data={
        "locker": str(locker.id), "description": "Door hinge is loose", "priority": "NORMAL",
        "assignee": "__None", "client": str(stranger.id), "cost": "", "due_on": "",
        "repeat_every_days": ""})
    assert response.status_code == 200
    assert not _shows(response, stranger)
    assert "Choose a client from the list." in response.get_data(as_text=True)
    assert _count(MaintenanceTicket) == 0


def test_a_forged_client_on_a_new_lost_item_is_refused_and_not_shown(desk, two_branches):
    """Recording an item for another branch's client is refused without naming them."""
    locker, stranger = two_branches
    browser = desk.login_as(FRONT_DESK, branch=locker.branch)
    response = browser.post("/admin/lost_found/new/", data={
        "locker": str(locker.id), "description": "Blue towel", "cleaned_out_on": _today(locker),
        "storage_place": "Shelf B", "client": str(stranger.id)})
    assert response.status_code == 200
    assert not _shows(response, stranger)
    assert "Choose a client from the list." in response.get_data(as_text=True)
    assert _count(LostItem) == 0


def test_a_forged_claimant_is_refused_and_not_shown(desk, two_branches):
    """The claim form refuses another branch's client; the item stays held."""
    locker, stranger = two_branches
    browser = desk.login_as(FRONT_DESK, branch=locker.branch)
    item = lost_found.record_item(locker.id, "Gym bag", by_user_id=browser.user.id)
    response = browser.post(f"/admin/lost_found/claim/?id={item.id}", data={
        "claimed_on": _today(locker), "client": str(stranger.id)})
    assert response.status_code == 200
    assert not _shows(response, stranger)
    assert "Choose a client from the list." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(LostItem, item.id).claimed_on is None


def test_a_forged_referrer_is_refused_and_not_shown(desk, two_branches):
    """Clients → Edit posted with another branch's client as the referrer names nobody."""
    locker, stranger = two_branches
    ours = desk.make_client(branch=locker.branch, name="Karim Uddin")
    browser = desk.login_as(FRONT_DESK, branch=locker.branch)
    response = post_edit(browser, ours, referred_by=str(stranger.id))
    assert response.status_code == 200
    assert not _shows(response, stranger)
    assert "Choose a client from the list." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Client, ours.id).referred_by_id is None


@pytest.mark.parametrize("field, value, message", [
    ("phone", THEIR_PHONE, "This phone number is already registered in another branch."),
    ("nid", THEIR_NID, "This NID / passport number is already registered in another branch."),
])
def test_a_number_registered_in_another_branch_is_refused_without_a_name(
        desk, two_branches, field, value, message):
    """The refusal says "another branch", not whose number it is."""
    locker, stranger = two_branches
    ours = desk.make_client(branch=locker.branch, name="Karim Uddin")
    user = desk.make_user(FRONT_DESK, branch=locker.branch)
    with pytest.raises(clients.ClientError) as refused:
        clients.update_client(ours.id, service_data(ours, **{field: value}), by_user_id=user.id)
    assert THEIR_NAME not in str(refused.value.message)
    assert (str(refused.value.message), refused.value.field) == (message, field)


def test_registering_a_phone_of_another_branch_does_not_name_or_link_its_client(
        desk, two_branches):
    """The register page refuses the phone with "another branch", no name and no profile link."""
    locker, stranger = two_branches
    browser = desk.login_as(FRONT_DESK, branch=locker.branch)
    response = post_registration(browser, register_form(locker.branch, full_name="Karim Uddin",
                                                        phone="01811-234567", nid=None))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    # The phone is the desk's own typing, shown back; the name and profile are not.
    assert THEIR_NAME not in text
    assert f"/admin/client_profile/?id={stranger.id}" not in text
    assert "This phone number is already registered in another branch." in text
    assert _count(Client) == 1


@pytest.mark.parametrize("limited_to_their_branch", [True, False])
def test_whoever_may_see_the_other_client_is_told_their_name(
        desk, two_branches, limited_to_their_branch):
    """Staff of the client's own branch, and a Super Admin (no branch), get the name."""
    locker, stranger = two_branches
    mover = desk.make_client(branch=stranger.branch, name="Karim Uddin")
    if limited_to_their_branch:
        user = desk.make_user(FRONT_DESK, branch=stranger.branch)
    else:
        user = desk.make_user(SUPER_ADMIN)
    with pytest.raises(clients.DuplicateClient) as refused:
        clients.update_client(mover.id, service_data(mover, phone=THEIR_PHONE), by_user_id=user.id)
    assert str(refused.value.message) == f"This phone number is already registered to {THEIR_NAME}."
