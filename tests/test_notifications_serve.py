"""An install set up from the environment alone: MAIL_SERVER/MAIL_PORT, then `flask serve`.

Registering a client with an email address from the desk's form delivers the
welcome email to that SMTP server, through the real processes: gunicorn takes
the form, the outbox row is written with the client, the RQ worker sends it.
Run once, on SQLite (what is tested is the setup and the processes).
"""

import os
import subprocess
import sys

import requests
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from app.services import message_templates
from app.services.access import ensure_default_roles
from app.services.settings import ensure_defaults
from tests.conftest import TEST_REDIS_URL
from tests.conftest import config_for
from tests.factories import PASSWORD
from tests.factories import Desk
from tests.test_serve_supervision import ROOT
from tests.test_serve_supervision import _free_port
from tests.test_serve_supervision import _healthz
from tests.test_serve_supervision import _stop
from tests.test_serve_supervision import _wait_for


def test_mail_server_from_the_environment_delivers_the_welcome_email(tmp_path, smtp):
    database_url = f"sqlite:///{tmp_path / 'mail.sqlite'}"
    app = create_app(config_for(database_url))
    with app.app_context():
        upgrade()
        ensure_default_roles()
        ensure_defaults()
        message_templates.install_defaults()
        desk = Desk(app)
        branch = desk.make_branch()
        email = desk.make_user("Front Desk", branch=branch).email
        branch_id = branch.id
        db.session.remove()
        db.engine.dispose()
    port = _free_port()
    env = {**os.environ, "FLASK_APP": "wsgi.py", "LOCKER_ENV": "testing",
           "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL,
           "LOCKER_INSTANCE_DIR": str(tmp_path / "instance"),
           "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "serve-test-secret",
           "MAIL_SERVER": smtp.hostname, "MAIL_PORT": str(smtp.port),
           "MAIL_DEFAULT_SENDER": "desk@gym.example", "SECURITY_PASSWORD_SALT": "test-password-salt",
           "PASSWORD_SALT": "test-password-salt"}
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flask", "serve", "--port", str(port), "--web-workers", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for("a live worker", lambda: (_healthz(port) or (0,))[0] == 200)
        base = f"http://127.0.0.1:{port}"
        with requests.Session() as browser:
            signed_in = browser.post(f"{base}/login", data={"email": email, "password": PASSWORD},
                                     allow_redirects=False, timeout=30)
            assert signed_in.status_code == 302, signed_in.text[:500]
            registered = browser.post(f"{base}/admin/register_client/", timeout=60, data={
                "branch": str(branch_id), "full_name": "Sharmin Sultana",
                "phone": "01911-222333", "email": "sharmin@example.com",
                "preferred_language": "ENGLISH", "opt_in_email": "y"}, allow_redirects=False)
            assert registered.status_code == 302, registered.text[-1500:]
        _wait_for("the welcome email", lambda: smtp.mailbox.messages, timeout=60)
    finally:
        code = _stop(serve)
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "sharmin@example.com" and mail["From"].endswith("desk@gym.example>")
    assert "Sharmin Sultana" in mail.get_body().get_content()
