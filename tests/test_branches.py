"""Do staff limited to one branch see only that branch?"""

from app.extensions import db
from app.models import Client
from app.models import ZoneKind


def _two_branches(desk):
    home = desk.make_branch(name="Dhanmondi")
    away = desk.make_branch(name="Uttara")
    desk.make_locker(zone=desk.make_zone(home, ZoneKind.MEN), number="H-001")
    desk.make_locker(zone=desk.make_zone(away, ZoneKind.MEN), number="A-001")
    desk.make_client(branch=home, name="Home Client")
    desk.make_client(branch=away, name="Away Client")
    return home, away


def test_lists_and_exports_show_only_the_users_branch(desk):
    """A desk limited to Dhanmondi sees Dhanmondi's lockers and clients, in lists and CSV."""
    home, _ = _two_branches(desk)
    browser = desk.login_as("Front Desk", branch=home)
    lockers = browser.get("/admin/lockers/").get_data(as_text=True)
    assert "H-001" in lockers and "A-001" not in lockers
    clients_csv = browser.get("/admin/clients/export/csv/").get_data(as_text=True)
    assert "Home Client" in clients_csv and "Away Client" not in clients_csv


def test_counts_show_only_the_users_branch(desk):
    """The home page counts lockers of the user's branch only."""
    home, _ = _two_branches(desk)
    limited = desk.login_as("Manager", branch=home).get("/admin/").get_data(as_text=True)
    everyone = desk.login_as("Manager").get("/admin/").get_data(as_text=True)
    assert 'data-status="AVAILABLE">1<' in limited
    assert 'data-status="AVAILABLE">2<' in everyone


def test_another_branchs_record_cannot_be_opened(desk):
    """Opening or editing a record of another branch finds nothing."""
    home, away = _two_branches(desk)
    away_client = db.session.execute(
        db.select(Client).where(Client.branch_id == away.id)).scalar_one()
    browser = desk.login_as("Manager", branch=home)
    response = browser.get(f"/admin/clients/details/?id={away_client.id}")
    assert response.status_code == 302
    response = browser.post(f"/admin/clients/edit/?id={away_client.id}", data={
        "branch": str(away.id), "full_name": "Hijacked", "phone": away_client.phone,
        "preferred_language": "BENGALI", "status": "ACTIVE"})
    db.session.refresh(away_client)
    assert away_client.full_name == "Away Client"


def test_forms_offer_only_the_users_branch(desk):
    """The branch dropdown of a new client lists only the user's branch."""
    home, away = _two_branches(desk)
    page = desk.login_as("Front Desk", branch=home).get("/admin/register_client/").get_data(
        as_text=True)
    assert "Dhanmondi" in page and "Uttara" not in page


def test_a_forged_branch_in_a_form_is_refused(desk):
    """Posting another branch's id in a form does not create a record there."""
    home, away = _two_branches(desk)
    browser = desk.login_as("Front Desk", branch=home)
    response = browser.post("/admin/register_client/", data={
        "branch": str(away.id), "full_name": "Smuggled", "phone": "01911-000111",
        "preferred_language": "BENGALI", "status": "ACTIVE"})
    assert response.status_code in (200, 403)
    assert not db.session.execute(db.select(Client).where(Client.full_name == "Smuggled")).first()
