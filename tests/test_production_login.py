"""The login flow under the production config: CSRF on, secure cookies, 2FA required.

Tests elsewhere run the testing config (CSRF off); these walk the pages a real
install serves, token by token, as a browser would.
"""

import re

import pyotp
import pytest

from app.extensions import db
from app.models import User
from tests.factories import PASSWORD

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def https_browser(app):
    """A browser on https (production cookies are Secure)."""
    browser = app.test_client()
    browser.environ_base["wsgi.url_scheme"] = "https"
    return browser


def csrf_token(page):
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)[:2000]
    return match.group(1)


def form_action(page, marker):
    """The action of the form whose markup contains `marker`."""
    for form in re.findall(r"<form.*?</form>", page.get_data(as_text=True), re.S):
        if marker in form:
            return re.search(r'action="([^"]+)"', form).group(1).replace("&amp;", "&")
    raise AssertionError(f"no form with {marker!r}")


def log_in(browser, email, password=PASSWORD):
    page = browser.get("/login")
    return browser.post("/login", data={"email": email, "password": password,
                                        "csrf_token": csrf_token(page)})


def test_a_new_super_admin_enrols_an_authenticator_and_logs_in_with_its_code(production):
    """Setup → scan → first code → desk; then the next login asks for a code."""
    admin = production.make_user("Super Admin")
    browser = https_browser(production.app)
    response = log_in(browser, admin.email)
    assert response.status_code == 302
    response = browser.get("/admin/")
    assert response.status_code == 302 and "/tf-setup" in response.headers["Location"]

    setup_page = browser.get("/tf-setup")
    response = browser.post("/tf-setup", data={"setup": "authenticator",
                                               "csrf_token": csrf_token(setup_page)})
    assert response.status_code == 200
    # The key under the QR code, for typing into the app by hand.
    key = re.search(r'id="qrcode"[^>]*>\s*</div>\s*<div>\s*([^<]+?)\s*</div>',
                    response.get_data(as_text=True))
    assert key
    code = _code_for_key(key.group(1))
    action = form_action(response, 'name="code"')
    response = browser.post(action, data={"code": code, "csrf_token": csrf_token(response)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert browser.get("/admin/").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, admin.id).tf_primary_method == "authenticator"

    # The next login needs the password and then a fresh code.
    second = https_browser(production.app)
    response = log_in(second, admin.email)
    assert response.status_code == 302 and "/tf-validate" in response.headers["Location"]
    assert second.get("/admin/").status_code == 302
    page = second.get("/tf-validate")
    response = second.post("/tf-validate", data={"code": _code_for_key(key.group(1)),
                                                 "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert second.get("/admin/").status_code == 200


def test_a_wrong_enrolment_code_does_not_enrol(production):
    admin = production.make_user("Super Admin")
    browser = https_browser(production.app)
    log_in(browser, admin.email)
    setup_page = browser.get("/tf-setup")
    response = browser.post("/tf-setup", data={"setup": "authenticator",
                                               "csrf_token": csrf_token(setup_page)})
    action = form_action(response, 'name="code"')
    browser.post(action, data={"code": "000000", "csrf_token": csrf_token(response)})
    db.session.expire_all()
    assert db.session.get(User, admin.id).tf_primary_method is None
    assert browser.get("/admin/").status_code == 302


def test_a_production_form_without_its_csrf_token_is_refused(production):
    user = production.make_user("Front Desk")
    browser = https_browser(production.app)
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD})
    # Refused: back to the sign-in form (app.web's CSRF handler), not signed in.
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert browser.get("/admin/").status_code == 302


def _code_for_key(key):
    """What the authenticator app on the admin's phone shows for `key` right now."""
    return pyotp.TOTP(key.replace("-", "")).now()
