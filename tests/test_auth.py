"""Login policy: lockout, password rules, sessions, two-factor, idle timeout."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.extensions import security
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import User
from app.models import utcnow
from app.services.staff import WeakPassword
from app.services.staff import set_password
from tests.factories import PASSWORD


def _log(action):
    return db.session.execute(
        db.select(ActivityLog).where(ActivityLog.action == action)).scalars().all()


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(desk):
    """After 5 failures even the right password is refused, with a clear message."""
    user = desk.make_user("Front Desk")
    for _ in range(5):
        _, response = desk.login(user.email, "wrong-password-123")
        assert response.status_code == 200
    _, response = desk.login(user.email, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed attempts. Try again after 15 minutes." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.locked_until - utcnow() > timedelta(minutes=14)
    failures = _log(ActivityAction.LOGIN_FAILED)
    assert len(failures) == 6 and {f.user_id for f in failures} == {user.id}
    assert failures[-1].summary == "locked"
    assert len(_log(ActivityAction.LOCKED_OUT)) == 1


def test_a_login_with_an_unknown_email_is_logged(desk):
    """Someone trying emails that are not staff accounts shows up in the log."""
    _, response = desk.login("nobody@gym.local", "whatever-12345")
    assert response.status_code == 200
    entries = _log(ActivityAction.LOGIN_FAILED)
    assert [(e.user_id, e.user_email) for e in entries] == [(None, "nobody@gym.local")]


def test_the_lockout_ends_after_its_time(desk):
    """Once the 15 minutes are over, the right password works again."""
    user = desk.make_user("Front Desk")
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _, response = desk.login(user.email, PASSWORD)
    assert response.status_code == 302


def test_four_failures_then_success_reset_the_count(desk):
    """A successful login forgives earlier mistakes."""
    user = desk.make_user("Front Desk")
    for _ in range(4):
        desk.login(user.email, "wrong-password-123")
    _, response = desk.login(user.email, PASSWORD)
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.failed_login_count == 0 and user.locked_until is None


def test_the_lockout_message_is_in_bengali_for_bengali_browsers(desk):
    """The login page speaks the browser's language before anyone is signed in."""
    user = desk.make_user("Front Desk")
    browser = desk.app.test_client()
    headers = {"Accept-Language": "bn-BD,bn;q=0.9,en;q=0.5"}
    for _ in range(5):
        browser.post("/login", data={"email": user.email, "password": "nope-nope-nope"},
                     headers=headers)
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD},
                            headers=headers)
    text = response.get_data(as_text=True)
    assert "Too many failed attempts" not in text
    assert "১৫" in text or "15" in text
    assert 'lang="bn"' in text


def test_login_page_follows_accept_language(client):
    """An English browser gets the English login page, a Bengali one the Bengali page."""
    english = client.get("/login", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    bengali = client.get("/login", headers={"Accept-Language": "bn"}).get_data(as_text=True)
    assert "Password" in english
    assert "পাসওয়ার্ড" in bengali and ">Password<" not in bengali


def test_logins_are_tracked_and_logged(desk):
    """A login updates the login count and writes who/when/IP/browser to the log."""
    user = desk.make_user("Manager")
    browser = desk.app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD},
                 headers={"User-Agent": "DeskTablet/1.0"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    db.session.refresh(user)
    assert user.login_count == 1 and user.current_login_ip == "10.1.2.3"
    entry = _log(ActivityAction.LOGIN)[0]
    assert (entry.user_id, entry.ip, entry.user_agent) == (user.id, "10.1.2.3", "DeskTablet/1.0")


@pytest.mark.parametrize("weak", ["short1!", "password1234", "qwertyuiop"])
def test_weak_passwords_are_refused(desk, weak):
    """Fewer than 10 characters or an easy-to-guess password is refused."""
    user = desk.make_user("Front Desk")
    with desk.app.test_request_context(), pytest.raises(WeakPassword):
        set_password(user, weak)


def test_passwords_are_hashed_with_argon2(desk):
    """No plain or weakly hashed passwords are stored."""
    user = desk.make_user("Front Desk")
    assert user.password.startswith("$argon2")


def test_changing_the_password_ends_every_other_session(desk):
    """A second browser signed in as the same person is logged out by a password change."""
    user = desk.make_user("Front Desk")
    first, _ = desk.login(user.email)
    second, _ = desk.login(user.email)
    assert second.get("/admin/").status_code == 200
    response = first.post("/change", data={
        "password": PASSWORD, "new_password": "Another-Long-Secret-42",
        "new_password_confirm": "Another-Long-Secret-42"})
    assert response.status_code == 302
    assert first.get("/admin/").status_code == 200
    assert second.get("/admin/").status_code == 302
    assert _log(ActivityAction.PASSWORD_CHANGED)


def test_an_admin_password_reset_ends_the_staff_members_sessions(desk):
    """A Super Admin setting a new password logs that person out everywhere."""
    staff = desk.make_user("Front Desk")
    staff_browser, _ = desk.login(staff.email)
    admin = desk.login_as("Super Admin")
    response = admin.post(f"/admin/users/edit/?id={staff.id}", data={
        "email": staff.email, "full_name": "Desk", "roles": [str(r.id) for r in staff.roles],
        "locale": "en", "active": "y", "new_password": "Tiger-Lantern-Mosque-91"})
    assert response.status_code == 302
    assert staff_browser.get("/admin/").status_code == 302
    assert desk.login(staff.email, "Tiger-Lantern-Mosque-91")[1].status_code == 302


def test_an_idle_session_is_ended(desk):
    """After IDLE_TIMEOUT_MINUTES without a request, the next page asks for login."""
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/").status_code == 200
    with browser.session_transaction() as session:
        session["last_seen"] -= desk.app.config["IDLE_TIMEOUT_MINUTES"] * 60 + 1
    response = browser.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert browser.get("/admin/").status_code == 302


def test_super_admin_must_set_up_two_factor_when_required(desk):
    """With the production setting on, a Super Admin is sent to two-factor setup."""
    desk.app.config["REQUIRE_2FA_FOR_SUPER_ADMIN"] = True
    admin = desk.login_as("Super Admin")
    response = admin.get("/admin/clients/")
    assert response.status_code == 302 and "/tf-setup" in response.headers["Location"]
    assert admin.get("/tf-setup").status_code == 200
    # Other roles are not forced.
    assert desk.login_as("Front Desk").get("/admin/clients/").status_code == 200


def test_super_admin_with_two_factor_gets_a_code_prompt(desk):
    """A Super Admin with an authenticator app must enter its code after the password."""
    admin = desk.make_user("Super Admin")
    totp = security.totp_factory
    admin.tf_primary_method = "authenticator"
    admin.tf_totp_secret = totp.generate_totp_secret()
    db.session.commit()
    browser, response = desk.login(admin.email)
    assert response.status_code == 302 and "/tf-validate" in response.headers["Location"]
    assert browser.get("/admin/").status_code == 302
    code = totp.generate_totp_password(admin.tf_totp_secret)
    response = browser.post("/tf-validate", data={"code": code})
    assert response.status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_production_config_requires_two_factor_for_super_admins():
    """The production config turns the Super Admin two-factor rule on."""
    from app.config import ProductionConfig

    assert ProductionConfig.REQUIRE_2FA_FOR_SUPER_ADMIN is True


def test_deactivated_staff_cannot_log_in(desk):
    """An account switched off by a Super Admin is refused."""
    user = desk.make_user("Front Desk")
    user.active = False
    db.session.commit()
    assert desk.login(user.email)[1].status_code == 200
    assert db.session.get(User, user.id).login_count in (None, 0)
