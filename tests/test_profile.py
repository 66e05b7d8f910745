"""Does the client profile show the whole history, and do its buttons obey the rules (C2)?"""

import re
from datetime import date
from datetime import timedelta

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.models import ClientNote
from app.models import ClientStatus
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import Tag
from app.models import TermsVersion
from app.models import utcnow
from tests.test_registration import post_registration
from tests.test_registration import publish
from tests.test_registration import register_form


def profile(browser, client):
    """GET the profile page of `client`."""
    return browser.get(f"/admin/client_profile/?id={client.id}")


def _edit_form(client, **fields):
    form = {"branch": str(client.branch_id), "full_name": client.full_name, "phone": client.phone,
            "preferred_language": "BENGALI", "status": client.status.name, "gender": "FEMALE"}
    form.update(fields)
    return form


def test_register_edit_and_ban_a_client(desk):
    """The desk's day: register, correct the name, ban with a reason; the profile says so."""
    terms = publish(desk)
    branch = desk.make_branch()
    browser = desk.login_as("Manager")
    response = post_registration(browser, register_form(branch, terms))
    assert response.status_code == 302
    client = db.session.execute(db.select(Client)).scalar_one()
    assert client.phone == "+8801711123456"
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Rumana Akter" in page and "+8801711123456" in page
    assert f'href="/admin/clients/edit/?id={client.id}' in page

    response = browser.post(f"/admin/clients/edit/?id={client.id}",
                            data=_edit_form(client, full_name="Rumana Akter Chowdhury"))
    assert response.status_code == 302
    response = browser.post(f"/admin/client_profile/status?id={client.id}",
                            data={"status": "BANNED", "ban_reason": "Broke locker M-004 twice"})
    assert response.status_code == 302
    page = profile(browser, client).get_data(as_text=True)
    assert "Rumana Akter Chowdhury" in page
    assert re.search(r'id="client-status">\s*Banned\s*<', page)
    assert "Broke locker M-004 twice" in page
    db.session.refresh(client)
    assert client.status is ClientStatus.BANNED and client.ban_reason == "Broke locker M-004 twice"


def test_a_ban_needs_a_reason_and_reactivating_clears_it(desk):
    """Banned without a reason is refused; making the client Active again drops the reason."""
    client = desk.make_client()
    browser = desk.login_as("Front Desk")
    response = browser.post(f"/admin/client_profile/status?id={client.id}",
                            data={"status": "BANNED", "ban_reason": "  "}, follow_redirects=True)
    assert "Give the reason for the ban." in response.get_data(as_text=True)
    db.session.refresh(client)
    assert client.status is ClientStatus.ACTIVE
    browser.post(f"/admin/client_profile/status?id={client.id}",
                 data={"status": "BANNED", "ban_reason": "Fight at the desk"})
    browser.post(f"/admin/client_profile/status?id={client.id}",
                 data={"status": "ACTIVE", "ban_reason": "Fight at the desk"})
    db.session.refresh(client)
    assert client.status is ClientStatus.ACTIVE and client.ban_reason is None


def test_notes_appear_newest_first_with_their_author(desk):
    """Two notes on the timeline: the later one on top, each with who wrote it."""
    client = desk.make_client()
    browser = desk.login_as("Front Desk", full_name="Sohel Rana")
    for body in ("Asked for a bigger locker", "Moved to L-012"):
        assert browser.post(f"/admin/client_profile/note?id={client.id}",
                            data={"body": body}).status_code == 302
    page = profile(browser, client).get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    assert timeline.index("Moved to L-012") < timeline.index("Asked for a bigger locker")
    assert timeline.count("Sohel Rana") == 2
    notes = db.session.execute(db.select(ClientNote).order_by(ClientNote.id)).scalars().all()
    assert [note.author_id for note in notes] == [browser.user.id] * 2


def test_an_empty_note_is_refused(desk):
    """A blank note is not added."""
    client = desk.make_client()
    response = desk.login_as("Front Desk").post(f"/admin/client_profile/note?id={client.id}",
                                                data={"body": "   "}, follow_redirects=True)
    assert "Write the note first." in response.get_data(as_text=True)
    assert not db.session.execute(db.select(ClientNote)).first()


def test_the_accountant_sees_the_profile_but_cannot_change_it(desk):
    """Accountants may view clients: no Edit/status/note buttons, and forged POSTs get 403."""
    client = desk.make_client()
    browser = desk.login_as("Accountant")
    page = profile(browser, client).get_data(as_text=True)
    assert client.full_name in page
    assert "/admin/clients/edit/" not in page and 'id="status-form"' not in page
    assert 'id="note-form"' not in page
    for action, data in (("status", {"status": "BANNED", "ban_reason": "x"}),
                         ("note", {"body": "x"}), ("tags", {})):
        assert browser.post(f"/admin/client_profile/{action}?id={client.id}",
                            data=data).status_code == 403, action
    db.session.refresh(client)
    assert client.status is ClientStatus.ACTIVE


def test_a_branch_limited_user_gets_404_for_another_branchs_client(desk):
    """Staff of branch A cannot open, note or ban a client of branch B."""
    branch_a, branch_b = desk.make_branch(), desk.make_branch()
    theirs = desk.make_client(branch=branch_b)
    ours = desk.make_client(branch=branch_a)
    browser = desk.login_as("Front Desk", branch=branch_a)
    assert profile(browser, ours).status_code == 200
    assert profile(browser, theirs).status_code == 404
    assert browser.post(f"/admin/client_profile/note?id={theirs.id}",
                        data={"body": "peek"}).status_code == 404
    assert browser.post(f"/admin/client_profile/status?id={theirs.id}",
                        data={"status": "BANNED", "ban_reason": "x"}).status_code == 404
    assert not db.session.execute(db.select(ClientNote)).first()


def test_anonymous_visitors_are_sent_to_login(client, desk):
    """Nobody sees a profile without logging in."""
    someone = desk.make_client()
    response = client.get(f"/admin/client_profile/?id={someone.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_missing_client_is_404_and_no_id_goes_to_the_list(desk):
    """An unknown id is not found; the bare profile URL opens the client list."""
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/client_profile/?id=999999").status_code == 404
    response = browser.get("/admin/client_profile/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/clients/")


def _history(desk):
    """A client with a rental, a payment, a key handover, a damage ticket and a lost item."""
    locker = desk.make_locker(number="M-042")
    client = desk.make_client(branch=locker.branch, name="Nasrin Akter")
    now = utcnow()
    rental = Rental(branch=locker.branch, locker=locker, client=client, term=RentalTerm.MONTHLY,
                    days=30, starts_at=now, ends_at=now + timedelta(days=30), price_poisha=125050)
    key = Key(locker=locker, tag="K-M-042")
    db.session.add_all([
        rental, key,
        Payment(branch=locker.branch, client=client, rental=rental, amount_poisha=125050,
                reference="CASH-77"),
        KeyEvent(key=key, kind=KeyEventKind.ISSUED, client=client, note="Handed over at 9"),
        MaintenanceTicket(branch=locker.branch, locker=locker, client=client,
                          description="Door bent by client", cost_poisha=30000),
        LostItem(branch=locker.branch, locker=locker, client=client, description="Blue towel",
                 cleaned_out_on=date(2026, 1, 5)),
    ])
    db.session.commit()
    return client


def test_the_profile_shows_the_whole_history(desk):
    """Rentals, payments, keys and incidents of the client are all on the page."""
    client = _history(desk)
    page = profile(desk.login_as("Manager"), client).get_data(as_text=True)
    for expected in ("M-042", "Monthly", "৳1,250.50", "CASH-77", "K-M-042", "Issued to client",
                     "Handed over at 9", "Door bent by client", "৳300.00", "Blue towel"):
        assert expected in page, expected


def test_history_sections_follow_the_users_permissions(desk):
    """The Accountant (no keys permission) sees payments but not the key handovers."""
    client = _history(desk)
    page = profile(desk.login_as("Accountant"), client).get_data(as_text=True)
    assert "CASH-77" in page and "Door bent by client" in page
    assert "K-M-042" not in page and 'id="keys"' not in page


def test_tags_are_set_from_the_profile_and_logged(desk):
    """Choosing tags on the profile saves them and logs before and after."""
    vip, corporate = Tag(name="VIP"), Tag(name="Corporate")
    db.session.add_all([vip, corporate])
    db.session.commit()
    client = desk.make_client()
    browser = desk.login_as("Front Desk")
    browser.post(f"/admin/client_profile/tags?id={client.id}",
                 data={"tags": [str(vip.id), str(corporate.id)]})
    db.session.refresh(client)
    assert [tag.name for tag in client.tags] == ["Corporate", "VIP"]
    entry = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Client", ActivityLog.action == ActivityAction.UPDATE)
        .order_by(ActivityLog.id.desc())).scalars().first()
    assert entry.changes == {"tags": [[], ["Corporate", "VIP"]]}
    assert entry.user_id == browser.user.id


# --- terms and tags screens ----------------------------------------------------------

def test_a_new_terms_version_is_shown_at_registration(desk):
    """A Super Admin publishes version 2; the register page shows it from then on."""
    publish(desk, body="Version one text")
    admin = desk.login_as("Super Admin")
    form = admin.get("/admin/terms/publish/").get_data(as_text=True)
    assert "Version one text" in form  # the new version starts from the current text
    response = admin.post("/admin/terms/publish/", data={"title": "Locker rules 2026",
                                                         "body": "Version two text"})
    assert response.status_code == 302
    newest = db.session.execute(db.select(TermsVersion).order_by(TermsVersion.version.desc())
                                ).scalars().first()
    assert (newest.version, newest.published_by_id) == (2, admin.user.id)
    page = desk.login_as("Front Desk").get("/admin/register_client/").get_data(as_text=True)
    assert "Version two text" in page and "Version one text" not in page


def test_a_published_version_cannot_be_edited_or_deleted(desk):
    """Not even a Super Admin can change or remove signed text; others cannot publish."""
    terms = publish(desk, body="Signed text")
    admin = desk.login_as("Super Admin")
    assert admin.get(f"/admin/terms/edit/?id={terms.id}").status_code == 403
    assert admin.post(f"/admin/terms/edit/?id={terms.id}", data={"body": "x"}).status_code == 403
    assert admin.post("/admin/terms/delete/", data={"id": terms.id}).status_code == 403
    assert admin.get("/admin/terms/new/").status_code == 403
    manager = desk.login_as("Manager")
    assert manager.get("/admin/terms/").status_code == 403
    assert manager.post("/admin/terms/publish/", data={"title": "t", "body": "b"}).status_code == 403
    db.session.refresh(terms)
    assert terms.body == "Signed text"
    assert db.session.execute(db.select(db.func.count()).select_from(TermsVersion)).scalar_one() == 1


def test_empty_terms_are_not_published(desk):
    """A version without text is refused on the form."""
    admin = desk.login_as("Super Admin")
    response = admin.post("/admin/terms/publish/", data={"title": "Rules", "body": "   "})
    assert response.status_code == 200
    assert not db.session.execute(db.select(TermsVersion)).first()


def test_the_desk_adds_tags_but_never_deletes_them(desk):
    """Front Desk creates a tag; a duplicate name is refused; nobody may delete tags."""
    browser = desk.login_as("Front Desk")
    assert browser.post("/admin/tags/new/", data={"name": " VIP "}).status_code == 302
    text = browser.post("/admin/tags/new/", data={"name": "VIP"}).get_data(as_text=True)
    assert "The tag VIP already exists." in text
    tag = db.session.execute(db.select(Tag)).scalar_one()
    assert tag.name == "VIP"
    assert desk.login_as("Super Admin").post("/admin/tags/delete/",
                                             data={"id": tag.id}).status_code == 403


def _history_of(client, count, locker, key):
    """`count` ended monthly rentals with a payment, a key event and a note each, as bulk rows."""
    start = utcnow() - timedelta(days=30 * count)
    db.session.execute(Rental.__table__.insert(), [
        {"branch_id": client.branch_id, "locker_id": locker.id, "client_id": client.id,
         "days": 30, "starts_at": start + timedelta(days=30 * n),
         "ends_at": start + timedelta(days=30 * n + 30), "status": RentalStatus.RELEASED,
         "price_poisha": 80000} for n in range(count)])
    db.session.execute(Payment.__table__.insert(), [
        {"branch_id": client.branch_id, "client_id": client.id, "amount_poisha": 80000,
         "paid_at": start + timedelta(days=30 * n), "reference": f"R-{n:04d}"}
        for n in range(count)])
    db.session.execute(KeyEvent.__table__.insert(), [
        {"key_id": key.id, "client_id": client.id, "kind": KeyEventKind.ISSUED,
         "at": start + timedelta(days=30 * n)} for n in range(count)])
    db.session.execute(ClientNote.__table__.insert(), [
        {"client_id": client.id, "body": f"Note {n:04d}", "created_at": start + timedelta(days=n)}
        for n in range(count)])
    db.session.commit()


def test_a_long_history_is_paged_and_costs_no_more_statements(desk):
    """Ten years of rentals read in pages: 45 terms send the statements 3 terms do; Older pages on."""
    from tests.test_list_statements import counting_statements

    branch = desk.make_branch()
    locker = desk.make_locker(zone=desk.make_zone(branch), number="H-001")
    key = Key(locker=locker, tag="K-H-001")
    db.session.add(key)
    db.session.commit()
    short = desk.make_client(branch=branch, name="Short History")
    long = desk.make_client(branch=branch, name="Long History")
    _history_of(short, 3, locker, key)
    _history_of(long, 45, locker, key)
    browser = desk.login_as("Super Admin")
    profile(browser, short)  # settings and menus read once, as on any first page
    counts = {}
    for client in (short, long):
        with counting_statements() as seen:
            page = profile(browser, client).get_data(as_text=True)
        counts[client.full_name] = len(seen)
    assert counts["Long History"] <= counts["Short History"], counts
    assert page.count("R-00") == 20 and "R-0044" in page and "R-0024" not in page
    assert "rentals_page=1" in page and "notes_page=1" in page
    older = browser.get(f"/admin/client_profile/?id={long.id}&payments_page=2")
    text = older.get_data(as_text=True)
    assert "R-0004" in text and "R-0005" not in text and "payments_page=1" in text
