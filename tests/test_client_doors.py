"""One door for client data: does the generic client list follow the registration rules?

Editing a client from Clients → Edit goes through clients.update_client, the
same checks as the register page; "Create" on that list opens the register
page, so no client is ever made without the signed terms.
"""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.models import ClientStatus
from app.models import DomainEvent
from app.services import clients
from app.services import clock
from app.services import events
from tests.test_registration import post_registration
from tests.test_registration import register_form


def edit_form(client, **fields):
    """The Clients → Edit form as the browser posts it, with `fields` changed."""
    form = {"branch": str(client.branch_id), "full_name": client.full_name, "phone": client.phone,
            "gender": client.gender.name if client.gender else "__None",
            "preferred_language": "BENGALI", "status": client.status.name,
            "ban_reason": client.ban_reason or "", "opt_in_email": "y", "opt_in_sms": "y"}
    form.update(fields)
    return form


def post_edit(browser, client, **fields):
    """POST the generic edit form of `client`."""
    return browser.post(f"/admin/clients/edit/?id={client.id}", data=edit_form(client, **fields))


def service_data(client, **fields):
    """What the edit form hands update_client for `client`, with `fields` changed."""
    data = {"branch_id": client.branch_id, "full_name": client.full_name, "phone": client.phone,
            "gender": client.gender, "preferred_language": client.preferred_language,
            "status": client.status, "ban_reason": client.ban_reason, "opt_in_email": True,
            "opt_in_sms": True}
    data.update(fields)
    return data


def stored(client):
    """`client` as the database holds it now."""
    db.session.expire_all()
    return db.session.get(Client, client.id)


# --- editing goes through the service ----------------------------------------------

def test_a_phone_corrected_on_the_list_is_stored_the_one_way(desk):
    """The desk types 01711-123456 on Clients → Edit; the client is stored as +8801711123456."""
    client = desk.make_client()
    response = post_edit(desk.login_as("Manager"), client, phone="01711-123456")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert stored(client).phone == "+8801711123456"


@pytest.mark.parametrize("field, typed, message", [
    ("phone", "01711-123456", "This phone number is already registered to Rumana Akter."),
    # Typed exactly as stored: the service answers, not Flask-Admin's "Already exists."
    ("nid", "1990123456789", "This NID / passport number is already registered to Rumana Akter."),
])
def test_another_clients_phone_or_nid_is_refused_naming_them(desk, field, typed, message):
    """Giving a client Rumana's phone or NID is refused, names her, and saves nothing."""
    desk.make_client(phone="+8801711123456", nid="1990123456789", name="Rumana Akter")
    client = desk.make_client(name="Karim Uddin")
    before = client.phone
    response = post_edit(desk.login_as("Manager"), client, full_name="Karim Uddin Sarkar",
                         **{field: typed})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    after = stored(client)
    assert after.full_name == "Karim Uddin"
    assert (after.phone, after.nid) == (before, None)


def test_a_phone_taken_by_another_desk_meanwhile_is_refused(desk, monkeypatch):
    """If another desk gives the number away between the check and the save, nothing is saved."""
    desk.make_client(phone="+8801711123456", name="Rumana Akter")
    client = desk.make_client(name="Karim Uddin")
    before = client.phone
    # The other desk commits just after this desk's check: the database has the last word.
    monkeypatch.setattr(clients, "_check_duplicates", lambda phone, nid, *, exclude_id=None: None)
    response = post_edit(desk.login_as("Manager"), client, phone="01711-123456")
    assert response.status_code == 200
    assert ("This would duplicate an existing client. Nothing was saved."
            in response.get_data(as_text=True))
    assert stored(client).phone == before


def test_a_ban_from_the_list_needs_a_reason(desk):
    """Banned without a reason on Clients → Edit is refused; the client stays Active."""
    client = desk.make_client()
    response = post_edit(desk.login_as("Manager"), client, status="BANNED", ban_reason="  ")
    assert response.status_code == 200
    assert "Give the reason for the ban." in response.get_data(as_text=True)
    assert stored(client).status is ClientStatus.ACTIVE


def test_a_ban_reason_is_dropped_when_the_client_is_not_banned(desk):
    """Only a ban keeps a reason, on the list as on the profile."""
    client = desk.make_client(status=ClientStatus.BANNED, ban_reason="Fight at the desk")
    response = post_edit(desk.login_as("Manager"), client, status="ACTIVE")
    assert response.status_code == 302
    after = stored(client)
    assert after.status is ClientStatus.ACTIVE
    assert after.ban_reason is None


def test_a_client_cannot_refer_themself(desk):
    """Choosing the client as their own referrer is refused."""
    client = desk.make_client()
    response = post_edit(desk.login_as("Manager"), client, referred_by=str(client.id))
    assert response.status_code == 200
    assert "A client cannot refer themself." in response.get_data(as_text=True)
    assert stored(client).referred_by_id is None


def test_a_birth_date_in_the_future_is_refused(desk):
    """The birth date follows the registration rule on the list too."""
    client = desk.make_client()
    # Tomorrow at the client's branch: from 18:00 UTC Dhaka is already on the next day.
    tomorrow = (clock.branch_today(client.branch_id) + timedelta(days=1)).isoformat()
    response = post_edit(desk.login_as("Manager"), client, date_of_birth=tomorrow)
    assert "The date of birth is in the future." in response.get_data(as_text=True)
    assert stored(client).date_of_birth is None


# --- branches ------------------------------------------------------------------------

def test_a_branch_limited_desk_cannot_edit_another_branchs_client_by_a_forged_post(desk):
    """Front Desk of branch A posts the edit form of a branch B client: nothing changes."""
    branch_a, branch_b = desk.make_branch(), desk.make_branch()
    theirs = desk.make_client(branch=branch_b, name="Karim Uddin")
    browser = desk.login_as("Front Desk", branch=branch_a)
    assert browser.get(f"/admin/clients/edit/?id={theirs.id}").status_code in (302, 403, 404)
    response = post_edit(browser, theirs, branch=str(branch_a.id), full_name="Taken over",
                         phone="01711-123456")
    assert response.status_code in (302, 403, 404)
    after = stored(theirs)
    assert (after.full_name, after.branch_id) == ("Karim Uddin", branch_b.id)
    assert after.phone != "+8801711123456"


def test_the_referrer_dropdown_offers_only_the_users_branch(desk):
    """Typing in "Referred by" on the edit form finds clients of the desk's own branch only."""
    branch_a, branch_b = desk.make_branch(), desk.make_branch()
    desk.make_client(branch=branch_a, name="Karim Home")
    desk.make_client(branch=branch_b, name="Karim Away")
    browser = desk.login_as("Front Desk", branch=branch_a)
    found = browser.get("/admin/clients/ajax/lookup/?name=referred_by&query=Karim").get_json()
    names = [label for _id, label in found]
    assert len(names) == 1 and names[0].startswith("Karim Home")


def test_the_service_refuses_staff_of_another_branch(desk):
    """update_client itself refuses a branch-A user editing a branch-B client, whatever the caller."""
    branch_a, branch_b = desk.make_branch(), desk.make_branch()
    theirs = desk.make_client(branch=branch_b, name="Karim Uddin")
    user = desk.make_user("Front Desk", branch=branch_a)
    with pytest.raises(clients.ClientError) as refused:
        clients.update_client(theirs.id, service_data(theirs, full_name="Taken over"),
                              by_user_id=user.id)
    assert str(refused.value.message) == "This client belongs to another branch."
    assert stored(theirs).full_name == "Karim Uddin"


def test_the_service_refuses_moving_a_client_to_another_branch(desk):
    """A branch-A user cannot move their own client to branch B."""
    branch_a, branch_b = desk.make_branch(), desk.make_branch()
    ours = desk.make_client(branch=branch_a)
    user = desk.make_user("Front Desk", branch=branch_a)
    with pytest.raises(clients.ClientError) as refused:
        clients.update_client(ours.id, service_data(ours, branch_id=branch_b.id),
                              by_user_id=user.id)
    assert refused.value.field == "branch"
    assert stored(ours).branch_id == branch_a.id


# --- creating ------------------------------------------------------------------------

def test_create_on_the_client_list_opens_the_register_page(desk):
    """Clients → Create leads to the register page (signature, photo, ID scan), never a bare form."""
    browser = desk.login_as("Front Desk")
    assert "/admin/clients/new/" in browser.get("/admin/clients/").get_data(as_text=True)
    for response in (browser.get("/admin/clients/new/"),
                     browser.post("/admin/clients/new/", data={"full_name": "Bare form"})):
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/admin/register_client/")
    assert db.session.execute(db.select(Client)).first() is None


def test_create_on_the_client_list_needs_the_create_permission(desk):
    """The Accountant, who may not register clients, gets 403 and no Create button."""
    browser = desk.login_as("Accountant")
    assert "/admin/clients/new/" not in browser.get("/admin/clients/").get_data(as_text=True)
    assert browser.get("/admin/clients/new/").status_code == 403


def test_clients_cannot_be_deleted_from_the_list(desk):
    """Clients become Inactive or Banned; even a Super Admin's forged delete is refused."""
    client = desk.make_client()
    browser = desk.login_as("Super Admin")
    assert browser.post("/admin/clients/delete/", data={"id": client.id}).status_code == 403
    assert stored(client) is not None


# --- the record ----------------------------------------------------------------------

def test_registering_and_editing_are_in_the_activity_log(desk):
    """The register page and the list's edit each leave a log entry by the desk; registering
    also records that a client was registered."""
    branch = desk.make_branch()
    browser = desk.login_as("Manager")
    assert post_registration(browser, register_form(branch)).status_code == 302
    client = db.session.execute(db.select(Client)).scalar_one()
    registered = db.session.execute(
        db.select(DomainEvent).where(DomainEvent.name == events.CLIENT_REGISTERED)).scalar_one()
    assert (registered.client_id, registered.branch_id, registered.by_user_id) == (
        client.id, branch.id, browser.user.id)

    response = post_edit(browser, client, full_name="Rumana Akter Chowdhury", status="BANNED",
                         ban_reason="Broke locker M-004")
    assert response.status_code == 302
    entries = db.session.execute(
        db.select(ActivityLog).where(ActivityLog.model == "Client",
                                     ActivityLog.object_id == str(client.id))
        .order_by(ActivityLog.id)).scalars().all()
    assert [entry.action for entry in entries][0] is ActivityAction.CREATE
    update = entries[-1]
    assert update.action is ActivityAction.UPDATE and update.user_id == browser.user.id
    assert update.changes["full_name"] == ["Rumana Akter", "Rumana Akter Chowdhury"]
    assert update.changes["status"] == ["active", "banned"]
    assert update.changes["ban_reason"] == [None, "Broke locker M-004"]
