"""Locker desk: the admin panel that runs a gym's lockers."""

from flask import Flask
from flask_security import SQLAlchemyUserDatastore

from app.config import INSTANCE_DIR
from app.config import PROJECT_ROOT
from app.config import load_config
from app.extensions import babel
from app.extensions import csrf
from app.extensions import db
from app.extensions import limiter
from app.extensions import mail
from app.extensions import migrate
from app.extensions import rq
from app.extensions import security


def create_app(config=None):
    """Build the app. `config` is a config class, or a dict of overrides for tests."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="static",
    )
    load_config(app, config)
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)

    # Models must be imported before the datastore and the audit hooks see them.
    from app import models
    from app.auth import init_auth
    from app.headers import init_headers
    from app.i18n import init_i18n
    from app.i18n import select_locale
    from app.i18n import select_timezone
    from app.services import audit  # noqa: F401  (registers the activity-log hooks)
    from app.services import billing
    from app.services import client_search
    from app.services import day_figures
    from app.services import events
    from app.services import figure_cache
    from app.services import inactivity
    from app.services import notifications
    from app.services.network import TrustedProxies

    db.init_app(app)
    # Batch mode: SQLite can only ALTER a table by copying it, which Alembic does in batch.
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    mail.init_app(app)
    csrf.init_app(app)
    rq.init_app(app)
    security.init_app(app, SQLAlchemyUserDatastore(db, models.User, models.Role))
    app.config.setdefault("RATELIMIT_DEFAULT", app.config["PUBLIC_RATE_LIMIT"])
    limiter.init_app(app)
    app.wsgi_app = TrustedProxies(app)
    events.install_listeners()
    client_search.install_listeners()
    billing.install_listeners()
    day_figures.install_listeners()
    inactivity.install_listeners()
    figure_cache.install_listeners()
    notifications.install_listeners()
    init_i18n(app)
    init_auth(app)
    init_headers(app)

    from admin_views import init_admin
    from app.cli import bp as cli_bp
    from app.public import bp as public_bp
    from app.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(cli_bp)
    init_admin(app)
    return app
