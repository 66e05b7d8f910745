"""Shared fixtures: an app per test on each database, a logged-in client per role."""

import contextvars
import os

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis

from app import create_app
from app.extensions import db
from app.services.access import ensure_default_roles
from app.services.settings import ensure_defaults
from tests import databases
from tests.factories import Desk

# The SMTP server and the providers' protocol servers (fixtures smtp, sms, whatsapp).
pytest_plugins = ["tests.messaging"]

# `make test` runs the suite in two processes (pytest-xdist); each gets a Redis database
# of its own (15, 14, …), as each gets its own SQLite file.
_WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_REDIS_BASE, _, _REDIS_DB = _REDIS_URL.rpartition("/")
TEST_REDIS_URL = f"{_REDIS_BASE}/{int(_REDIS_DB) - _WORKER_INDEX}"
# Encrypts the secrets in the settings (a Fernet key; tests only).
TEST_SETTINGS_KEY = "dGVzdC1zZXR0aW5ncy1rZXktMzItYnl0ZXMtbG9uZyE="
IN_CI = os.environ.get("CI", "").lower() == "true"
# Per-app state our services keep in app.extensions, reset between tests.
PER_TEST_EXTENSIONS = ("locker_grid", "login_throttle", "desk_menus")
_unreachable = {}


def pytest_collection_modifyitems(config, items):
    """Mark browser tests; leave out a test's runs on databases its `databases` marker excludes.

    Every test under tests/browser drives Chromium: marked so tiers can leave it out.
    `@pytest.mark.databases("postgresql")` runs a test only on the databases named,
    for a test whose subject exists on those alone (and costs minutes elsewhere).
    """
    kept, left_out = [], []
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)
        marker = item.get_closest_marker("databases")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        if marker is not None and backend is not None and backend not in marker.args:
            left_out.append(item)
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist, every test on a server database runs in one process.

    Each server has a single `test` database, so its tests must not run in two
    processes at once: they form one unit of work, as a module does under
    `--dist loadscope`. SQLite tests (each process has a file of its own) and
    tests of no database go one by one to whichever process is free.
    """
    from xdist.scheduler import LoadScopeScheduling

    class OneProcessPerServer(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return databases.server_of(nodeid) or nodeid

    return OneProcessPerServer(config, log)


def pytest_report_header(config):
    """Say up front which databases this run covers and which it skips."""
    lines = []
    if IN_CI and databases.BACKENDS != databases.ALL_BACKENDS:
        raise pytest.UsageError("CI tests all three databases; unset TEST_DATABASES")
    for name, url in databases.SERVER_URLS.items():
        if name not in databases.BACKENDS:
            lines.append(f"{databases.NAMES[name]}: not asked for (TEST_DATABASES)")
            continue
        reason = databases.reachable(url)
        _unreachable[name] = reason
        state = "used" if reason is None else f"SKIPPED ({reason})"
        lines.append(f"{databases.NAMES[name]}: {state}")
    return ["databases: SQLite: used; " + "; ".join(lines)]


def config_for(database_url, **overrides):
    """Config for a test app on `database_url`."""
    return {
        "LOCKER_ENV": "testing",
        "SECRET_KEY": "test-secret-key-not-for-production",
        # Given here so that no test writes the project's instance/ files.
        "SECURITY_PASSWORD_SALT": "test-password-salt",
        "SECURITY_TOTP_SECRETS": {"1": "test-totp-key"},
        "SETTINGS_KEYS": TEST_SETTINGS_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        # Messages made outside a request (services, jobs) read in English in tests;
        # Bengali is tested explicitly.
        "BABEL_DEFAULT_LOCALE": "en",
        **overrides,
    }


class DeskClient(FlaskClient):
    """A test browser whose requests run in their own app context, as in production.

    Without this, a request made while the test holds an app context reuses it,
    so `g` (and the user Flask-Login caches there) would leak from one browser
    to another. The test's own session is committed around each request so the
    request sees the test's data and the test then reads the request's writes.
    """

    def open(self, *args, **kwargs):
        testing_in_context = has_app_context()
        if testing_in_context:
            db.session.commit()
        kwargs.setdefault("buffered", True)
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if testing_in_context:
            db.session.commit()
        return response


@pytest.fixture(scope="session", params=databases.BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each kind; skipped (or failed in CI) if unreachable."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite'}"
    else:
        url = databases.SERVER_URLS[backend]
        reason = _unreachable.get(backend) or databases.reachable(url)
        if reason is not None:
            message = f"{databases.NAMES[backend]} is not reachable ({reason})"
            if IN_CI:
                pytest.fail(f"{message}; CI must test all three databases")
            pytest.skip(message)
        databases.drop_everything(url)
    app = create_app(config_for(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def shared_app(database_url):
    """One app per database for the whole run: building the 40 admin views costs ≈ 0.3 s."""
    app = create_app(config_for(database_url))
    app.test_client_class = DeskClient
    return app


@pytest.fixture
def app(shared_app, tmp_path):
    """The app on empty tables with the roles and settings in place, as if fresh.

    Whatever a test changes in the config (a dead Redis, a size limit) and the
    per-app state kept in `extensions` (Redis connection, the grid's breaker)
    is put back afterwards, so no test sees another's leftovers.
    """
    app = shared_app
    saved_config = dict(app.config)
    app.config["UPLOAD_DIR"] = tmp_path / "uploads"
    app.config["UPLOAD_DIR"].mkdir()
    app.config["BACKUP_DIR"] = tmp_path / "backups"
    app.config["EXPORT_DIR"] = tmp_path / "exports"
    with app.app_context():
        ensure_default_roles()
        ensure_defaults()
    Redis.from_url(TEST_REDIS_URL).flushdb()
    yield app
    with app.app_context():
        db.session.remove()
        databases.empty_tables(db)
    app.config.clear()
    app.config.update(saved_config)
    reset_app_state(app)


def reset_app_state(app):
    """Forget per-app caches that a test may have filled (connections, breakers)."""
    connection = app.extensions["rq"]["redis"]
    if connection is not None:
        connection.close()
    app.extensions["rq"]["redis"] = None
    for name in PER_TEST_EXTENSIONS:
        app.extensions.pop(name, None)


@pytest.fixture
def upload_dir(app):
    """This test's own upload folder (a fresh one per test, never instance/)."""
    return app.config["UPLOAD_DIR"]


@pytest.fixture
def desk(app):
    """Factories and login helpers, inside an app context (see tests/factories.py)."""
    with app.app_context():
        yield Desk(app)


@pytest.fixture
def client(app):
    """An anonymous browser."""
    return app.test_client()


@pytest.fixture(scope="session")
def production_app(database_url):
    """The production config as a real install runs it: CSRF on, secure cookies, 2FA."""
    app = create_app(config_for(database_url, LOCKER_ENV="production"))
    app.test_client_class = DeskClient
    return app


@pytest.fixture
def production(production_app):
    """A fresh production app (empty tables, roles and settings) and its factories."""
    app = production_app
    saved_config = dict(app.config)
    with app.app_context():
        ensure_default_roles()
        ensure_defaults()
        Redis.from_url(TEST_REDIS_URL).flushdb()
        yield Desk(app)
        db.session.remove()
        databases.empty_tables(db)
    app.config.clear()
    app.config.update(saved_config)
    reset_app_state(app)
