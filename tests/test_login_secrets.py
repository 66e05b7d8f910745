"""The password salt and two-factor keys are secrets of their own (not SECRET_KEY's)."""

import json

import pyotp
import pytest
from flask import current_app
from passlib.totp import TOTP

from app import create_app
from app.extensions import db
from app.extensions import security
from app.models import User
from tests.conftest import config_for
from tests.factories import PASSWORD

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def _app(database_url, instance_dir, secret_key):
    config = config_for(database_url, SECRET_KEY=secret_key, INSTANCE_DIR=str(instance_dir))
    del config["SECURITY_PASSWORD_SALT"], config["SECURITY_TOTP_SECRETS"]
    return create_app(config)


def _enrol(user):
    """Give `user` an authenticator; returns the base32 key their phone app holds."""
    user.tf_primary_method = "authenticator"
    user.tf_totp_secret = security.totp_factory.generate_totp_secret()
    db.session.commit()
    return TOTP.using(secrets=current_app.config["SECURITY_TOTP_SECRETS"]).from_source(
        user.tf_totp_secret).base32_key


def _log_in_with_code(app, email, key):
    browser = app.test_client()
    response = browser.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302 and "/tf-validate" in response.headers["Location"]
    response = browser.post("/tf-validate", data={"code": pyotp.TOTP(key).now()})
    assert response.status_code == 302
    return browser.get("/admin/").status_code


def test_changing_secret_key_keeps_every_password_and_authenticator(app, database_url, tmp_path):
    """An install that started on one SECRET_KEY keeps its staff after setting another."""
    first = _app(database_url, tmp_path, "the-key-this-install-started-with-0123456789")
    with first.app_context():
        from tests.factories import Desk

        admin = Desk(first).make_user("Super Admin")
        key = _enrol(admin)
        email = admin.email
        assert _log_in_with_code(first, email, key) == 200
        db.session.remove()
    second = _app(database_url, tmp_path, "a-new-key-set-for-several-hosts-9876543210")
    with second.app_context():
        assert _log_in_with_code(second, email, key) == 200
        db.session.remove()


def test_an_existing_install_keeps_the_values_it_derived_before(tmp_path, database_url):
    """The first start after the upgrade writes the old derived salt, so old hashes verify."""
    secret = "an-old-install-generated-this-key-long-ago-xyz"
    app = _app(database_url, tmp_path, secret)
    assert app.config["SECURITY_PASSWORD_SALT"] == f"password-{secret[:24]}"
    assert app.config["SECURITY_TOTP_SECRETS"] == {"1": f"totp-{secret[-24:]}"}
    assert (tmp_path / "password_salt").read_text() == f"password-{secret[:24]}"


def test_the_environment_wins_over_the_instance_files(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("PASSWORD_SALT", "salt-from-the-environment")
    monkeypatch.setenv("TOTP_SECRETS", json.dumps({"3": "totp-from-the-environment"}))
    app = _app(database_url, tmp_path, "whatever-key-0123456789-abcdefghij")
    assert app.config["SECURITY_PASSWORD_SALT"] == "salt-from-the-environment"
    assert app.config["SECURITY_TOTP_SECRETS"] == {"3": "totp-from-the-environment"}
    assert not (tmp_path / "password_salt").exists()


def test_rotating_the_two_factor_key_keeps_authenticators_working(app, database_url, tmp_path):
    """`flask rotate-totp-key`: new key, secrets re-encrypted, the same phone codes work."""
    first = _app(database_url, tmp_path, "the-key-this-install-started-with-0123456789")
    with first.app_context():
        from tests.factories import Desk

        admin = Desk(first).make_user("Super Admin")
        key = _enrol(admin)
        email, before = admin.email, admin.tf_totp_secret
        result = first.test_cli_runner().invoke(args=["rotate-totp-key"])
        assert result.exit_code == 0, result.output
        assert "1 authenticator secret(s) re-encrypted" in result.output
        assert db.session.get(User, admin.id).tf_totp_secret != before
        db.session.remove()
    assert set(json.loads((tmp_path / "totp_secrets.json").read_text())) == {"1", "2"}
    rotated = _app(database_url, tmp_path, "the-key-this-install-started-with-0123456789")
    with rotated.app_context():
        assert _log_in_with_code(rotated, email, key) == 200
        db.session.remove()
