"""Login policy: lockout, password rules, sessions, two-factor, idle timeout."""

import re
import time
from datetime import timedelta

import pytest

from app.extensions import db
from app.extensions import security
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import StaffSession
from app.models import User
from app.models import utcnow
from app.services import settings
from app.services.staff import WeakPassword
from app.services.staff import set_password
from tests.factories import PASSWORD

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def _log(action):
    """The log entries of `action` in the order they were written (not the heap's order)."""
    return db.session.execute(
        db.select(ActivityLog).where(ActivityLog.action == action)
        .order_by(ActivityLog.id)).scalars().all()


def _attempt(desk, email, password, address="10.0.0.5", language="en"):
    browser = desk.app.test_client()
    return browser.post("/login", data={"email": email, "password": password},
                        headers={"Accept-Language": language},
                        environ_base={"REMOTE_ADDR": address})


def _without_tokens(response):
    """The page minus its per-request CSRF token (the language switch is a form)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(desk):
    """After 5 failures even the right password is refused, with a clear message."""
    user = desk.make_user("Front Desk")
    for _ in range(5):
        assert _attempt(desk, user.email, "wrong-password-123").status_code == 200
    response = _attempt(desk, user.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts. Try again after 15 minutes." in response.get_data(as_text=True)
    failures = _log(ActivityAction.LOGIN_FAILED)
    assert len(failures) == 6 and {f.user_id for f in failures} == {user.id}
    assert failures[-1].summary == "locked"
    assert len(_log(ActivityAction.LOCKED_OUT)) == 1


def test_a_locked_account_answers_the_same_to_a_right_and_a_wrong_password(desk):
    """A lockout must not tell a guesser that the guess was right, nor grow with guesses."""
    user = desk.make_user("Front Desk")
    for _ in range(5):
        _attempt(desk, user.email, "wrong-password-123")
    right = _attempt(desk, user.email, PASSWORD)
    wrong = _attempt(desk, user.email, "another-wrong-one-9")
    assert right.status_code == wrong.status_code == 429
    assert _without_tokens(right) == _without_tokens(wrong)
    assert right.headers["Retry-After"] == wrong.headers["Retry-After"] == str(15 * 60)
    # Guesses during the lockout were not checked, so they are not new failures.
    assert len(_log(ActivityAction.LOCKED_OUT)) == 1
    assert [f.summary for f in _log(ActivityAction.LOGIN_FAILED)][-2:] == ["locked", "locked"]


def test_an_attacker_at_one_address_cannot_lock_out_the_staff(desk):
    """Guessing at every account from one machine stops that machine, not the desk."""
    admin = desk.make_user("Super Admin")
    staff = [desk.make_user("Front Desk") for _ in range(4)]
    for user in [admin, *staff]:
        for _ in range(6):
            _attempt(desk, user.email, "guess-guess-guess-1", address="203.0.113.66")
    # The attacker's machine is now refused, even for an account it never tried.
    other = desk.make_user("Manager")
    assert _attempt(desk, other.email, PASSWORD, address="203.0.113.66").status_code == 429
    # The staff at the gym's own desk still get in.
    for user in [admin, *staff, other]:
        assert _attempt(desk, user.email, PASSWORD, address="10.0.0.5").status_code == 302


def test_one_machine_is_stopped_after_too_many_failures_across_accounts(desk):
    """LOGIN_LIMIT_PER_ADDRESS failures from one address refuse it, whatever the account."""
    desk.app.config["LOGIN_LIMIT_PER_ADDRESS"] = "6 per 15 minutes"
    users = [desk.make_user("Front Desk") for _ in range(3)]
    for user in users:
        for _ in range(2):
            assert _attempt(desk, user.email, "nope-nope-nope-1", address="198.51.100.7"
                            ).status_code == 200
    assert _attempt(desk, users[0].email, PASSWORD, address="198.51.100.7").status_code == 429
    # Wrong emails count too: a machine cannot guess staff emails forever.
    desk.app.config["LOGIN_LIMIT_PER_ADDRESS"] = "3 per 15 minutes"
    for n in range(3):
        _attempt(desk, f"nobody{n}@gym.local", "whatever-12345", address="198.51.100.8")
    assert _attempt(desk, users[1].email, PASSWORD, address="198.51.100.8").status_code == 429


def test_an_account_is_throttled_when_guessed_at_from_many_machines(desk):
    """LOGIN_LIMIT_PER_ACCOUNT bounds a guess spread over many addresses."""
    desk.app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "8 per hour"
    user = desk.make_user("Manager")
    for n in range(8):
        _attempt(desk, user.email, "guess-guess-guess-1", address=f"192.0.2.{n + 1}")
    assert _attempt(desk, user.email, PASSWORD, address="10.0.0.5").status_code == 429


def test_a_login_with_an_unknown_email_is_logged_without_what_was_typed(desk):
    """Someone trying emails shows up in the log; a password typed in the email box does not."""
    _attempt(desk, "Corr3ct-Horse-Secret", "whatever-12345")
    entries = _log(ActivityAction.LOGIN_FAILED)
    assert [(e.user_id, e.user_email, e.summary) for e in entries] == [
        (None, None, "unknown account")]
    assert all("Corr3ct-Horse-Secret" not in str(value) for e in entries
               for value in (e.summary, e.user_email, e.changes))


def test_the_lockout_ends_after_its_time(desk):
    """Once the lockout time is over, the right password works again."""
    desk.app.config["LOCKOUT_MINUTES"] = 1 / 60  # one second
    user = desk.make_user("Front Desk")
    for _ in range(5):
        _attempt(desk, user.email, "wrong-password-123")
    assert _attempt(desk, user.email, PASSWORD).status_code == 429
    time.sleep(1.2)
    assert _attempt(desk, user.email, PASSWORD).status_code == 302


def test_four_failures_then_success_reset_the_count(desk):
    """A successful login forgives earlier mistakes."""
    user = desk.make_user("Front Desk")
    for _ in range(4):
        _attempt(desk, user.email, "wrong-password-123")
    assert _attempt(desk, user.email, PASSWORD).status_code == 302
    for _ in range(4):
        _attempt(desk, user.email, "wrong-password-123")
    assert _attempt(desk, user.email, PASSWORD).status_code == 302


def test_the_lockout_holds_with_redis_down(desk):
    """With Redis unreachable the counts are kept in memory: still five tries, not endless."""
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    user = desk.make_user("Front Desk")
    for _ in range(5):
        assert _attempt(desk, user.email, "wrong-password-123").status_code == 200
    assert _attempt(desk, user.email, PASSWORD).status_code == 429
    assert _attempt(desk, user.email, PASSWORD, address="10.0.0.6").status_code == 302


def test_the_lockout_message_is_in_bengali_for_bengali_browsers(desk):
    """The refusal speaks the browser's language before anyone is signed in."""
    user = desk.make_user("Front Desk")
    for _ in range(5):
        _attempt(desk, user.email, "nope-nope-nope", language="bn-BD,bn;q=0.9,en;q=0.5")
    response = _attempt(desk, user.email, PASSWORD, language="bn-BD,bn;q=0.9,en;q=0.5")
    text = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Too many failed attempts" not in text
    assert "মিনিট পরে আবার চেষ্টা করুন" in text
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
    idle = timedelta(minutes=desk.app.config["IDLE_TIMEOUT_MINUTES"], seconds=1)
    db.session.execute(db.update(StaffSession).where(StaffSession.user_id == browser.user.id)
                       .values(last_seen_at=utcnow() - idle))
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


def test_a_session_cookie_copied_before_logging_out_stops_working(desk):
    """Logging out ends the session on the server, not only in this browser."""
    browser = desk.login_as("Front Desk")
    copy = desk.app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    assert copy.get("/admin/").status_code == 200
    assert browser.post("/logout").status_code == 302
    assert browser.get("/admin/").status_code == 302
    response = copy.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    ended = db.session.execute(db.select(StaffSession)).scalar_one()
    assert ended.ended_at is not None


def test_an_idle_session_cannot_be_revived_by_an_old_cookie(desk):
    """The idle timeout is the server's: replaying a cookie after it does not help."""
    browser = desk.login_as("Front Desk")
    saved = browser.get_cookie("session").value
    idle = timedelta(minutes=desk.app.config["IDLE_TIMEOUT_MINUTES"], seconds=1)
    db.session.execute(db.update(StaffSession).values(last_seen_at=utcnow() - idle))
    assert browser.get("/admin/").status_code == 302
    replay = desk.app.test_client()
    replay.set_cookie("session", saved)
    assert replay.get("/admin/").status_code == 302


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(desk):
    """A browser cannot choose the address the activity log records."""
    user = desk.make_user("Manager")
    browser = desk.app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD},
                 headers={"X-Forwarded-For": "6.6.6.6"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert _log(ActivityAction.LOGIN)[0].ip == "10.1.2.3"


def test_an_overlong_forwarded_address_is_not_stored_and_breaks_nothing(desk):
    """Behind a proxy, a forged giant header neither fails the write nor dodges the lockout."""
    desk.app.config["TRUSTED_PROXIES"] = 1
    user = desk.make_user("Front Desk")
    forged = {"X-Forwarded-For": "9" * 300}
    browser = desk.app.test_client()
    for _ in range(5):
        response = browser.post("/login", data={"email": user.email, "password": "wrong-wrong-1"},
                                headers=forged)
        assert response.status_code == 200
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD},
                        headers=forged).status_code == 429
    assert {e.ip for e in _log(ActivityAction.LOGIN_FAILED)} == {None}


def test_a_trusted_proxy_supplies_the_address(desk):
    """With TRUSTED_PROXIES = 1 the proxy's X-Forwarded-For is the address logged."""
    desk.app.config["TRUSTED_PROXIES"] = 1
    user = desk.make_user("Manager")
    browser = desk.app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD},
                 headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"},
                 environ_base={"REMOTE_ADDR": "127.0.0.1"})
    # Only the hop the proxy itself added is believed.
    assert _log(ActivityAction.LOGIN)[0].ip == "203.0.113.9"


def test_an_expired_password_must_be_changed_at_the_next_login(desk):
    """With password_max_age_days set, an old password leads to the change page first."""
    settings.put("password_max_age_days", 30)
    db.session.commit()
    user = desk.make_user("Front Desk")
    user.password_changed_at = utcnow() - timedelta(days=31)
    db.session.commit()
    browser, response = desk.login(user.email)
    response = browser.get("/admin/clients/")
    assert response.status_code == 302 and "/change" in response.headers["Location"]
    response = browser.post("/change", data={
        "password": PASSWORD, "new_password": "Fresh-Mango-Rickshaw-77",
        "new_password_confirm": "Fresh-Mango-Rickshaw-77"})
    assert response.status_code == 302
    assert browser.get("/admin/clients/").status_code == 200


def test_password_expiry_is_off_at_zero(desk):
    settings.put("password_max_age_days", 0)
    db.session.commit()
    user = desk.make_user("Front Desk")
    user.password_changed_at = utcnow() - timedelta(days=3650)
    db.session.commit()
    browser, _ = desk.login(user.email)
    assert browser.get("/admin/clients/").status_code == 200


def test_the_last_passwords_cannot_be_used_again(desk):
    """The current password and the ones before it (password_history_count) are refused."""
    settings.put("password_history_count", 2)
    db.session.commit()
    user = desk.make_user("Front Desk")
    browser, _ = desk.login(user.email)
    current = PASSWORD
    for new in ("Fresh-Mango-Rickshaw-77", "Quiet-Lantern-Ferry-31"):
        response = browser.post("/change", data={"password": current, "new_password": new,
                                                 "new_password_confirm": new})
        assert response.status_code == 302
        current = new
    reused = "Fresh-Mango-Rickshaw-77"
    response = browser.post("/change", data={"password": current, "new_password": reused,
                                             "new_password_confirm": reused})
    assert response.status_code == 200
    assert "used this password recently" in response.get_data(as_text=True)
    # Older than the last two: allowed again.
    response = browser.post("/change", data={"password": current, "new_password": PASSWORD,
                                             "new_password_confirm": PASSWORD})
    assert response.status_code == 302


def test_a_super_admin_reset_also_refuses_a_recent_password(desk):
    user = desk.make_user("Front Desk")
    with desk.app.test_request_context(), pytest.raises(WeakPassword):
        set_password(user, PASSWORD)


def test_wrong_two_factor_codes_are_throttled_like_passwords(desk):
    """Five wrong codes refuse the code step, even for the right code; other desks are fine."""
    admin = desk.make_user("Super Admin")
    totp = security.totp_factory
    admin.tf_primary_method = "authenticator"
    admin.tf_totp_secret = totp.generate_totp_secret()
    db.session.commit()
    browser = desk.app.test_client()
    browser.post("/login", data={"email": admin.email, "password": PASSWORD},
                 environ_base={"REMOTE_ADDR": "203.0.113.66"})
    for _ in range(5):
        response = browser.post("/tf-validate", data={"code": "000000"},
                                environ_base={"REMOTE_ADDR": "203.0.113.66"})
        assert response.status_code == 200
    right = totp.generate_totp_password(admin.tf_totp_secret)
    response = browser.post("/tf-validate", data={"code": right},
                            environ_base={"REMOTE_ADDR": "203.0.113.66"})
    assert response.status_code == 429
    assert _log(ActivityAction.LOCKED_OUT)


def test_public_pages_are_rate_limited_per_address(desk):
    """Anyone not signed in gets PUBLIC_RATE_LIMIT requests a minute per address, then 429."""
    assert desk.app.config["RATELIMIT_DEFAULT"] == "120 per minute"
    browser = desk.app.test_client()
    statuses = [browser.get("/login", environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code
                for _ in range(130)]
    assert statuses.count(200) == 120 and statuses[-1] == 429
    assert browser.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200
    # Signed-in staff are not limited this way.
    staff = desk.login_as("Front Desk")
    assert all(staff.get("/admin/").status_code == 200 for _ in range(125))


def test_a_staff_member_signs_in_with_a_code_by_sms(desk, sms):
    """SMS as the second factor: set up with a phone, then every sign-in asks for the code sent."""
    import re

    from tests.messaging import configure

    configure(sms=sms)
    user = desk.make_user("Manager")
    browser, _response = desk.login(user.email)
    page = browser.get("/tf-setup")
    assert page.status_code == 200 and 'value="sms"' in page.get_data(as_text=True)
    chosen = browser.post("/tf-setup", data={"setup": "sms", "phone": "01711-555666"})
    assert chosen.status_code in (200, 302), chosen.get_data(as_text=True)[-1500:]
    [text] = sms.accepted
    assert text["msisdn"] == "8801711555666"
    code = re.search(r"\b(\d{6})\b", text["sms"]).group(1)
    confirmed = browser.post(chosen.headers.get("Location") or "/tf-validate",
                             data={"code": code}, follow_redirects=False)
    assert confirmed.status_code == 302, confirmed.get_data(as_text=True)[-1500:]
    db.session.expire_all()
    assert db.session.get(type(user), user.id).tf_primary_method == "sms"
    browser.get("/logout")
    again, response = desk.login(user.email)
    assert "/tf-validate" in response.headers["Location"]
    assert len(sms.accepted) == 2
    second = re.search(r"\b(\d{6})\b", sms.accepted[-1]["sms"]).group(1)
    assert again.post("/tf-validate", data={"code": second}).status_code == 302
    assert again.get("/admin/").status_code == 200
