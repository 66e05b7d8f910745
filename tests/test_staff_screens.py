"""A Super Admin manages staff, roles and settings from the screens."""

import pytest

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Role
from app.models import Setting
from app.models import User
from app.services import settings

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_a_super_admin_creates_a_staff_account(desk):
    """A new Front Desk member is created with a password and can log in."""
    role = db.session.execute(db.select(Role).where(Role.name == "Front Desk")).scalar_one()
    branch = desk.make_branch()
    admin = desk.login_as("Super Admin")
    response = admin.post("/admin/users/new/", data={
        "email": "new.desk@gym.local", "full_name": "Mitu Das", "roles": [str(role.id)],
        "branch": str(branch.id), "locale": "bn", "active": "y",
        "new_password": "Tiger-Lantern-Mosque-91"})
    assert response.status_code == 302
    user = db.session.execute(db.select(User).where(User.email == "new.desk@gym.local")).scalar_one()
    assert user.branch_id == branch.id and user.password.startswith("$argon2")
    assert desk.login("new.desk@gym.local", "Tiger-Lantern-Mosque-91")[1].status_code == 302


def test_a_new_account_needs_a_strong_password(desk):
    """No password, or a weak one, is refused with a message on the field."""
    admin = desk.login_as("Super Admin")
    form = {"email": "weak@gym.local", "full_name": "Weak", "locale": "en", "active": "y"}
    text = admin.post("/admin/users/new/", data=form).get_data(as_text=True)
    assert "Give the new staff member a password." in text
    text = admin.post("/admin/users/new/", data={**form, "new_password": "abc"}).get_data(
        as_text=True)
    assert "Password must be at least 10 characters" in text
    assert not db.session.execute(db.select(User).where(User.email == "weak@gym.local")).first()


def test_a_role_gains_a_permission_from_the_roles_screen(desk):
    """Ticking 'Settings: view' for Front Desk lets the desk open Settings."""
    role = db.session.execute(db.select(Role).where(Role.name == "Front Desk")).scalar_one()
    desk_browser = desk.login_as("Front Desk")
    assert desk_browser.get("/admin/settings/").status_code == 403
    admin = desk.login_as("Super Admin")
    response = admin.post(f"/admin/roles/edit/?id={role.id}", data={
        "name": role.name, "description": role.description,
        "permissions": sorted(role.permissions) + ["settings-view"]})
    assert response.status_code == 302
    assert desk_browser.get("/admin/settings/").status_code == 200
    entry = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Role", ActivityLog.action == ActivityAction.UPDATE)).scalar_one()
    assert "settings-view" in str(entry.changes["permissions"][1])


def test_settings_are_checked_and_logged(desk):
    """A grace period must be a whole number (Bengali digits too); a good value is saved and logged."""
    admin = desk.login_as("Super Admin")
    url = "/admin/settings/rentals/"
    response = admin.post(url, data={"grace_period_days": "three"})
    assert response.status_code == 400 and "Enter a whole number." in response.get_data(as_text=True)
    assert settings.get("grace_period_days") == 3
    assert admin.post(url, data={"grace_period_days": " ৫ "}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Setting, "grace_period_days").value == 5
    entry = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Setting", ActivityLog.action == ActivityAction.UPDATE)).scalar_one()
    assert entry.changes["value"] == [3, 5]
