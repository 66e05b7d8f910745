"""Flask extensions, created unbound here and bound to an app in create_app()."""

import sqlite3

from flask import current_app
from flask import has_app_context
from flask_babel import Babel
from flask_limiter import Limiter
from flask_mail import Mail
from flask_migrate import Migrate
from flask_security import Security
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import MetaData
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.password_rules import DeskPasswordUtil

# Named constraints: Alembic can only drop or alter what has a stable name, and
# MariaDB, PostgreSQL and SQLite would otherwise each invent their own.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Make SQLite behave like the server databases for a desk with several processes.

    WAL lets readers work while one desk writes; busy_timeout makes a second
    writer wait instead of failing at once; foreign keys are off by default in
    SQLite and on in PostgreSQL and MariaDB.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "connect")
def _mariadb_read_committed(dbapi_connection, connection_record):
    """Read what other desks committed, as PostgreSQL does (its default level).

    MariaDB's default, REPEATABLE READ, keeps the snapshot of a transaction's
    first read: a desk that waited for another desk's row lock would then count
    the payments as they were before it waited, and cancel a paid invoice. The
    desk's rules lock the rows they decide on (app.services.locking) and read
    the rest afresh, which is READ COMMITTED.
    """
    if type(dbapi_connection).__module__.split(".")[0] not in ("pymysql", "MySQLdb"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cursor.close()


migrate = Migrate()
babel = Babel()
security = Security(password_util_cls=DeskPasswordUtil)
mail = Mail()
csrf = CSRFProtect()


def _requesting_address():
    from app.services.network import request_address

    return request_address() or "unknown"


def _signed_in():
    from flask_login import current_user

    return current_user.is_authenticated


# Pages open to anyone (login, two-factor, health) are limited per address;
# signed-in staff are not (their actions are checked by role instead). The
# limit lives in Redis so every process shares it, in memory while Redis is down.
limiter = Limiter(key_func=_requesting_address, default_limits_exempt_when=_signed_in)


class AppContextJob(Job):
    """An RQ job that runs inside a Flask app context.

    The worker process builds one app (see `flask worker`) and every job it
    performs gets a fresh app context, so a job sees the same config, database
    session and translations as a web request, and its session is closed after.
    """

    def perform(self):
        """Run the job function inside an app context."""
        if has_app_context():
            app = current_app._get_current_object()
        else:
            from app import create_app

            app = create_app()
        with app.app_context():
            return super().perform()


class RQ:
    """A thin binding of RQ to Flask: one Redis connection per app, named queues."""

    def __init__(self, app=None):
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        """Register on `app`; the connection is opened lazily on first use."""
        app.extensions["rq"] = {"redis": None}

    @property
    def connection(self):
        """The Redis connection of the current app."""
        state = current_app.extensions["rq"]
        if state["redis"] is None:
            state["redis"] = Redis.from_url(
                current_app.config["REDIS_URL"],
                socket_connect_timeout=1,
                socket_timeout=5,
            )
        return state["redis"]

    def queue(self, name="default"):
        """Return the queue `name`; only the queues named in RQ_QUEUES exist."""
        if name not in current_app.config["RQ_QUEUES"]:
            raise KeyError(f"unknown queue {name!r}")
        return Queue(name, connection=self.connection, job_class=AppContextJob)

    def enqueue(self, func, *args, queue="default", **kwargs):
        """Put `func(*args, **kwargs)` on `queue`."""
        return self.queue(queue).enqueue(func, *args, **kwargs)


rq = RQ()
