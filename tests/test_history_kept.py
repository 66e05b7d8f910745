"""Business history is never deletable: keys that were handed out, roles in use."""

from app.extensions import db
from app.extensions import security
from app.models import ActivityLog
from app.models import Key
from app.models import KeyEvent
from app.models import LockerStatus
from app.models import Role
from app.services import handover
from tests.test_handover import _rented_locker


def _role(name):
    db.session.expire_all()
    return db.session.execute(db.select(Role).where(Role.name == name)).scalar_one_or_none()


def test_a_key_that_was_handed_out_cannot_be_deleted_with_its_custody_history(desk):
    locker, key, _client, _rental = _rented_locker(desk)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.return_key(key.id, refund_poisha=50000, by_user_id=None,
                        locker_to=LockerStatus.AVAILABLE)
    events = db.session.execute(db.select(db.func.count()).select_from(KeyEvent)
                                .where(KeyEvent.key_id == key.id)).scalar_one()
    manager = desk.login_as("Manager")
    for url, data in (("/admin/keys/delete/", {"id": str(key.id)}),
                      ("/admin/keys/action/", {"action": "delete", "rowid": str(key.id)})):
        page = manager.post(url, data=data, follow_redirects=True).get_data(as_text=True)
        assert "has a history" in page
    db.session.expire_all()
    assert db.session.get(Key, key.id) is not None
    assert db.session.execute(db.select(db.func.count()).select_from(KeyEvent)
                              .where(KeyEvent.key_id == key.id)).scalar_one() == events


def test_a_super_admin_cannot_delete_their_own_role(desk):
    admin = desk.login_as("Super Admin")
    role = _role("Super Admin")
    page = admin.post("/admin/roles/delete/", data={"id": str(role.id)},
                      follow_redirects=True).get_data(as_text=True)
    assert "one of the desk&#39;s own roles" in page or "one of the desk's own roles" in page
    assert _role("Super Admin") is not None
    assert admin.get("/admin/roles/").status_code == 200


def test_a_role_someone_holds_or_holds_oneself_is_kept(desk):
    custom = security.datastore.create_role(name="Night shift", permissions=["lockers-view"])
    db.session.commit()
    admin = desk.login_as("Super Admin")
    desk.make_user("Night shift")
    page = admin.post("/admin/roles/delete/", data={"id": str(custom.id)},
                      follow_redirects=True).get_data(as_text=True)
    assert "1 staff members have this role" in page
    security.datastore.add_role_to_user(admin.user, custom)
    db.session.commit()
    page = admin.post("/admin/roles/action/", data={"action": "delete", "rowid": str(custom.id)},
                      follow_redirects=True).get_data(as_text=True)
    assert "You cannot delete a role you hold yourself." in page
    assert _role("Night shift") is not None


def test_an_unused_custom_role_can_be_deleted_and_the_log_says_so(desk):
    custom = security.datastore.create_role(name="Temporary", permissions=["lockers-view"])
    db.session.commit()
    admin = desk.login_as("Super Admin")
    admin.post("/admin/roles/delete/", data={"id": str(custom.id)})
    assert _role("Temporary") is None
    entries = db.session.execute(db.select(ActivityLog).where(ActivityLog.model == "Role")).scalars()
    assert any(e.action.value == "delete" for e in entries)
