"""Is every change to business data in the activity log, with before and after?"""

import csv
import io

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Locker
from app.services.audit import acting_as


def _entries(model, action):
    return db.session.execute(
        db.select(ActivityLog).where(ActivityLog.model == model, ActivityLog.action == action)
        .order_by(ActivityLog.id)).scalars().all()


def test_an_admin_edit_shows_before_and_after(desk):
    """A Manager renames a locker's notes; the log says who, what, before and after."""
    locker = desk.make_locker(notes="Hinge loose")
    browser = desk.login_as("Manager")
    response = browser.post(f"/admin/lockers/edit/?id={locker.id}", data={
        "zone": str(locker.zone_id), "number": locker.number, "size": "MEDIUM",
        "category": "__None", "notes": "Hinge fixed"},
        headers={"User-Agent": "DeskTablet/2.0"}, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 302
    entry = _entries("Locker", ActivityAction.UPDATE)[-1]
    assert entry.changes == {"notes": ["Hinge loose", "Hinge fixed"]}
    assert entry.user_id == browser.user.id and entry.user_email == browser.user.email
    assert (entry.ip, entry.user_agent) == ("10.0.0.7", "DeskTablet/2.0")
    assert entry.object_id == str(locker.id) and entry.branch_id == locker.branch_id


def test_the_log_detail_page_shows_the_change(desk):
    """The change can be read on the log's detail page as before → after."""
    locker = desk.make_locker(notes="old")
    locker.notes = "new"
    db.session.commit()
    entry = _entries("Locker", ActivityAction.UPDATE)[-1]
    page = desk.login_as("Manager").get(f"/admin/activity/details/?id={entry.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<td>old</td><td>new</td>" in text


def test_creates_and_deletes_are_logged_with_their_values(desk):
    """Creating and deleting a record both leave an entry with its values."""
    locker = desk.make_locker(number="Z-900")
    created = _entries("Locker", ActivityAction.CREATE)[-1]
    assert created.changes["number"] == "Z-900"
    db.session.delete(locker)
    db.session.commit()
    deleted = _entries("Locker", ActivityAction.DELETE)[-1]
    assert deleted.changes["number"] == "Z-900" and deleted.object_id == str(locker.id)


def test_jobs_and_commands_are_attributed_to_who_ran_them(desk):
    """Outside a request, acting_as() names the person behind a change."""
    manager = desk.make_user("Manager")
    locker = desk.make_locker()
    with acting_as(manager.id):
        locker.notes = "checked by the night shift"
        db.session.commit()
    entry = _entries("Locker", ActivityAction.UPDATE)[-1]
    assert entry.user_id == manager.id and entry.user_email == manager.email


def test_a_rolled_back_change_leaves_no_entry(desk):
    """A change that is never committed is not logged."""
    locker = desk.make_locker()
    before = len(_entries("Locker", ActivityAction.UPDATE))
    locker.notes = "never saved"
    db.session.flush()
    db.session.rollback()
    assert len(_entries("Locker", ActivityAction.UPDATE)) == before


def test_passwords_never_reach_the_log(desk):
    """A password change is logged as changed, without the hash."""
    user = desk.make_user("Front Desk")
    old_hash = user.password
    user.password = "$argon2id$something-else"
    db.session.commit()
    entry = _entries("User", ActivityAction.UPDATE)[-1]
    assert entry.changes["password"] == ["••••", "••••"]
    assert old_hash not in str(entry.changes)


def test_the_log_filters_by_action_and_exports_to_csv(desk):
    """An accountant filters the log to deletions and exports it as CSV."""
    locker = desk.make_locker(number="DEL-1")
    db.session.delete(locker)
    db.session.commit()
    browser = desk.login_as("Accountant")
    action_filter = _filter_index(browser, "/admin/activity/", "Action")
    listing = browser.get(f"/admin/activity/?flt0_{action_filter}=DELETE")
    assert "DEL-1" in listing.get_data(as_text=True)
    export = browser.get(f"/admin/activity/export/csv/?flt0_{action_filter}=DELETE")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert rows and {row["Action"] for row in rows} == {"Deleted"}
    assert any("DEL-1" in row["Record"] for row in rows)


def _filter_index(browser, url, label):
    """Flask-Admin numbers its filters; find the 'equals' filter on `label`."""
    import re

    page = browser.get(url).get_data(as_text=True)
    groups = re.search(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', page, re.S)
    import html
    import json

    data = json.loads(html.unescape(groups.group(1)))
    for option in data[label]:
        if option["operation"] in ("equals", "সমান"):
            return option["index"]
    raise AssertionError(f"no equals filter on {label}")


def test_unchanged_saves_do_not_fill_the_log(desk):
    """Saving a form with no changes adds no update entry."""
    locker = desk.make_locker(notes="same")
    before = len(_entries("Locker", ActivityAction.UPDATE))
    locker.notes = "same"
    db.session.commit()
    assert db.session.get(Locker, locker.id).notes == "same"
    assert len(_entries("Locker", ActivityAction.UPDATE)) == before
