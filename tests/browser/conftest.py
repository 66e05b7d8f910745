"""A live desk on a local port and a headless Debian Chromium driven by Playwright."""

import re
import threading
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.services.access import ensure_default_roles
from app.services.settings import ensure_defaults
from tests.conftest import config_for
from tests.factories import PASSWORD
from tests.factories import Desk

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).parent / "artifacts"


def log_in(page, base_url, user):
    """Sign `user` in through the login form and wait for the admin home."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


@pytest.fixture(scope="module")
def live_desk(tmp_path_factory):
    """(base_url, Desk) for an app served by a real HTTP server on SQLite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'desk.sqlite'}"
    app = create_app(config_for(url, WTF_CSRF_ENABLED=True))
    with app.app_context():
        upgrade()
        ensure_default_roles()
        ensure_defaults()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with app.app_context():
        yield f"http://127.0.0.1:{server.server_port}", Desk(app)
        db.session.remove()
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from Debian (Playwright's own download is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab with an English-speaking browser; a screenshot is kept at the end."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()
