"""Bad input gets a clear, translated error and changes nothing."""

from app.extensions import db
from app.models import ActivityLog
from app.models import Client
from app.models import Locker


def _count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def _client_form(branch, **fields):
    form = {"branch": str(branch.id), "full_name": "Rumana Akter", "phone": "01811-234567",
            "preferred_language": "BENGALI", "status": "ACTIVE", "gender": "FEMALE"}
    form.update(fields)
    return form


def test_a_malformed_phone_is_refused_in_english_and_bengali(desk):
    """A phone that is not a Bangladesh mobile gets a field error; nothing is saved."""
    branch = desk.make_branch()
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/register_client/", data=_client_form(branch, phone="12345"))
    assert response.status_code == 200
    assert "Enter a Bangladesh mobile number, for example 01711-123456." in response.get_data(
        as_text=True)
    browser.post("/language", data={"locale": "bn"})
    response = browser.post("/admin/register_client/", data=_client_form(branch, phone="12345"))
    text = response.get_data(as_text=True)
    assert "Enter a Bangladesh mobile number" not in text and "০১৭১১" in text or "01711" in text
    assert _count(Client) == 0
    assert not db.session.execute(
        db.select(ActivityLog).where(ActivityLog.model == "Client")).first()


def test_a_phone_typed_any_way_is_stored_normalised(desk):
    """'01811-234567' is saved as +8801811234567."""
    branch = desk.make_branch()
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/register_client/", data=_client_form(branch))
    assert response.status_code == 302
    assert db.session.execute(db.select(Client.phone)).scalar_one() == "+8801811234567"


def test_a_duplicate_phone_links_to_the_existing_client(desk):
    """Registering a known phone again points at the client who has it."""
    existing = desk.make_client(phone="+8801811234567", name="Rumana Akter")
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/register_client/",
                            data=_client_form(existing.branch, phone="+880 1811-234567"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Already registered to" in text
    assert f'href="/admin/client_profile/?id={existing.id}"' in text
    assert _count(Client) == 1


def test_a_duplicate_locker_number_in_a_branch_is_refused(desk):
    """Locker M-001 cannot exist twice in one branch, but may in another."""
    first = desk.make_locker(number="M-001")
    other_branch_zone = desk.make_zone()
    browser = desk.login_as("Manager")
    response = browser.post("/admin/lockers/new/", data={
        "zone": str(first.zone_id), "number": "m-001", "size": "MEDIUM", "category": "__None"})
    assert response.status_code == 200
    assert "Locker M-001 already exists in this branch." in response.get_data(as_text=True)
    assert _count(Locker) == 1
    response = browser.post("/admin/lockers/new/", data={
        "zone": str(other_branch_zone.id), "number": "M-001", "size": "MEDIUM",
        "category": "__None"})
    assert response.status_code == 302 and _count(Locker) == 2


def test_the_database_itself_refuses_a_duplicate_locker_number(desk):
    """Even bypassing the form, the unique constraint stops a second M-001."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    first = desk.make_locker(number="M-001")
    db.session.add(Locker(zone=first.zone, number="M-001"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert _count(Locker) == 1


def test_banning_needs_a_reason(desk):
    """A client cannot be banned without saying why."""
    client = desk.make_client()
    browser = desk.login_as("Manager")
    response = browser.post(f"/admin/clients/edit/?id={client.id}", data=_client_form(
        client.branch, phone=client.phone, full_name=client.full_name, status="BANNED"))
    assert "Give the reason for the ban." in response.get_data(as_text=True)
    db.session.refresh(client)
    assert client.status.name == "ACTIVE"


def test_clients_can_never_be_hard_deleted(desk):
    """Not even a Super Admin can delete a client; they are deactivated instead."""
    client = desk.make_client()
    browser = desk.login_as("Super Admin")
    assert browser.post("/admin/clients/delete/", data={"id": client.id}).status_code == 403
    assert db.session.get(Client, client.id) is not None


def test_script_in_a_name_is_shown_as_text(desk):
    """A name with HTML is escaped on every page that shows it."""
    client = desk.make_client(name='<script>alert("x")</script>')
    page = desk.login_as("Front Desk").get("/admin/clients/").get_data(as_text=True)
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;" in page
    assert client.id


def test_exports_neutralise_spreadsheet_formulas(desk):
    """A name starting with '=' is exported as text, never as a formula."""
    desk.make_client(name="=cmd|' /C calc'!A0")
    csv_text = desk.login_as("Manager").get("/admin/clients/export/csv/").get_data(as_text=True)
    assert "'=cmd|" in csv_text
    assert "\n=cmd" not in csv_text and ",=cmd" not in csv_text
