"""Build the chain data set once, and find it again: the benchmarks' large database.

    .venv/bin/python -m bench.chain_data.build [--database-url URL] [--scale 1.0] [--force]

or from a benchmark:

    from bench.chain_data.build import ensure_dataset
    summary = ensure_dataset("postgresql+psycopg://postgres@127.0.0.1:5432/bench_chain")
    app = create_app({"LOCKER_ENV": "development", **summary["app_config"]})

At scale 1.0: 20 branches, 5,000 lockers, 200,000 clients, 1,000,000 rentals over
ten years with their invoices, about 2,000,000 payments, key deposits and
5,000,000 activity-log entries, and the four demo logins (`flask seed` / demo
data: admin@, manager@, desk@, accounts@demo.local, password Locker-Demo-2026!)
plus a front-desk login per branch. Every size scales with --scale except the
branches (0.01 builds in well under a minute, for trying things out).

Without --database-url the data set is a SQLite file,
bench/.cache/chain-<fingerprint>.sqlite. A PostgreSQL or MariaDB database named
by the URL is created if missing. The fingerprint is the migrations' head, this
package's source and the scale: a database already holding that fingerprint
(table bench_dataset) is used as it is, unless --force; one holding another
fingerprint is dropped and built again; one with other tables is never touched
without --force. `test` (the test suite's) and the servers' own databases are refused.

The schema comes from the migrations; the roles, settings, message templates and
staff from the app's own functions (app.services.demo, as `flask demo-data`);
everything else is written in bulk (bench.chain_data.writers), in time order,
from a fixed seed: two builds on the same day make the same rows. The history
ends at 12:00 UTC (18:00 at the branches) of the build's day, or the day before
when built earlier than that.

Staff passwords are hashed with the password salt PASSWORD_SALT (Flask-Security
peppers them with it), so a process signing in must use the same salt:
summary["app_config"] carries it with the database URL.
"""

import argparse
import fcntl
import hashlib
import json
import os
import random
import resource
import sys
import time
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

PACKAGE = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE.parent.parent
CACHE = PROJECT_ROOT / "bench" / ".cache"
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.chain_data import activity  # noqa: E402  (needs the project on sys.path)
from bench.chain_data import history  # noqa: E402
from bench.chain_data import people  # noqa: E402
from bench.chain_data import places  # noqa: E402
from bench.chain_data.common import SEED  # noqa: E402
from bench.chain_data.common import YEARS  # noqa: E402
from bench.chain_data.common import Ids  # noqa: E402
from bench.chain_data.common import anchor_of  # noqa: E402
from bench.chain_data.names import BRANCHES  # noqa: E402
from bench.chain_data.writers import Sink  # noqa: E402
from bench.chain_data.writers import tune_for_bulk  # noqa: E402
from bench.chain_data.writers import writer_class  # noqa: E402

# Sizes at scale 1.0; every rental count is RENTALS_PER_LOCKER per locker.
LOCKERS, CLIENTS, RENTALS_PER_LOCKER = 5_000, 200_000, 200
# Flask-Security hashes HMAC(salt, password): fixed here so that any process can sign in.
PASSWORD_SALT = "locker-desk-bench-chain-data"
# The tables of the history that the summary counts.
COUNTED = ("branch", "locker", "key", "client", "client_search_key", "rental", "invoice",
           "invoice_line", "instalment", "payment", "deposit_entry", "lost_item", "activity_log",
           "user")
# Databases never dropped or filled, whatever the URL says: the test suite's and the servers' own.
NEVER = {"test", "postgres", "template0", "template1", "mysql", "information_schema",
         "performance_schema", "sys"}
# Analysed by name on MariaDB (ANALYZE TABLE has no "every table").
BIG_TABLES = ("client", "client_search_key", "client_tag", "rental", "invoice", "invoice_line",
              "instalment", "payment", "deposit_entry", "activity_log", "locker", "key",
              "locker_week", "branch_day", "terms_day", "retention_month")

MARKER = sa.Table(
    "bench_dataset", sa.MetaData(),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("built_at", sa.DateTime, nullable=False),   # when the build started (UTC)
    sa.Column("seconds", sa.Float, nullable=False),
)


class Refused(Exception):
    """The target database is not one this builder may drop or fill."""


def fingerprint(scale):
    """The data set's identity: the migrations' head, this package's source and the scale."""
    from alembic.script import ScriptDirectory

    digest = hashlib.sha256()
    digest.update(ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head().encode())
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(repr(float(scale)).encode())
    return digest.hexdigest()[:16]


def _target_url(database_url, fp):
    """The URL to build at: the SQLite cache file unless a database is named."""
    if not database_url or database_url in ("sqlite://", "sqlite:///"):
        return f"sqlite:///{CACHE / f'chain-{fp}.sqlite'}"
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "mysql" and "charset" not in url.query:
        # Bengali names need the four-byte UTF-8 of MariaDB (as tests/databases.py connects).
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url.render_as_string(hide_password=False)


@contextmanager
def _exclusive(url):
    """One builder per target at a time: a second waits, then finds the data set built."""
    locks = CACHE / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- the target database ------------------------------------------------------------------------

def _server_admin(url):
    """An engine on the server of `url` that can create and drop its database."""
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    return sa.create_engine(url._replace(database=None))  # URL.set() keeps a database for None


def _state(url):
    """(exists, fingerprint in the marker or None, has other tables) of the database at `url`."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() == "sqlite":
        if not Path(url.database).exists():
            return False, None, False
    else:
        admin = _server_admin(url)
        try:
            with admin.connect() as conn:
                if url.get_backend_name() == "postgresql":
                    found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                         {"n": url.database}).first()
                else:
                    found = conn.execute(sa.text("SELECT 1 FROM information_schema.schemata "
                                                 "WHERE schema_name = :n"), {"n": url.database}).first()
        finally:
            admin.dispose()
        if found is None:
            return False, None, False
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            marked = None
            if MARKER.name in tables:
                marked = conn.execute(sa.select(MARKER.c.fingerprint)).scalar()
            return True, marked, bool(tables) and MARKER.name not in tables
    finally:
        engine.dispose()


def _recreate(url):
    """Drop the database at `url` (if there) and create it empty."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = _server_admin(url)
    try:
        with admin.connect() as conn:
            quoted = admin.dialect.identifier_preparer.quote(url.database)
            if url.get_backend_name() == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                conn.execute(sa.text(f"CREATE DATABASE {quoted} ENCODING 'UTF8'"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
                conn.execute(sa.text(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4"))
    finally:
        admin.dispose()


# --- building -----------------------------------------------------------------------------------

def app_config(url):
    """create_app() overrides that open the data set at `url` (and sign its staff in)."""
    return {"SQLALCHEMY_DATABASE_URI": url, "SECURITY_PASSWORD_SALT": PASSWORD_SALT}


def _rss_mb():
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _phase(name):
    """Say on stderr how long a step of the build took."""
    started = time.perf_counter()
    yield
    print(f"chain data: {name} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


# Each database's plain (not unique) indexes on some tables, with the statement that made
# them: SQLite keeps the migrations' CREATE INDEX as written, PostgreSQL rebuilds it exactly.
PLAIN_INDEXES = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
              "AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({tables}) ORDER BY name",
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                  "AND indexdef NOT LIKE 'CREATE UNIQUE%' AND tablename IN ({tables}) "
                  "ORDER BY indexname",
}


@contextmanager
def _indexes_set_aside(engine, tables):
    """Load `tables` without their plain indexes, then create those again exactly as migrated.

    Each row written keeps up to nine B-trees of its table in order; sorting once
    afterwards is several times faster. The statements come back from the
    database's own catalogue, and the catalogue is compared afterwards, so the
    schema ends as the migrations left it. Unique indexes stay: they check the
    data as it goes in. MariaDB keeps all of them (it refuses to drop an index a
    foreign key uses).
    """
    query = PLAIN_INDEXES.get(engine.dialect.name)
    if query is None:
        yield
        return
    query = query.format(tables=", ".join(f"'{table}'" for table in tables))
    with engine.connect() as conn:
        indexes = conn.execute(sa.text(query)).all()
        for name, _statement in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        conn.commit()
    yield
    with _phase(f"{len(indexes)} indexes created again"), engine.connect() as conn:
        # SQLite's sorts may take as much memory again as the page cache: with 256 MB, the
        # indexes of five million rows took 500 MB more, and were no faster than with 64.
        tune_for_bulk(conn, cache_mb=64)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        for _name, statement in indexes:
            conn.exec_driver_sql(statement)
        conn.commit()
        if conn.execute(sa.text(query)).all() != indexes:
            raise RuntimeError("the indexes set aside did not come back as they were")


def _last_ids(connection, tables):
    """The largest id of each table (0 when empty), so bulk ids continue after them."""
    quote = connection.dialect.identifier_preparer.quote
    return {table: connection.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {quote(table)}")
            .scalar() for table in tables}


def _staff(branch_ids):
    """Roles, settings, message templates and staff, by the app's own functions; activity.Staff."""
    from flask_security import hash_password

    from app.extensions import db
    from app.extensions import security
    from app.models import ActivityAction
    from app.models import Branch
    from app.models import User
    from app.services import audit
    from app.services import demo
    from app.services import message_templates
    from app.services.access import FRONT_DESK

    with audit.summarised(ActivityAction.CREATE, model="DemoData",
                          summary="chain benchmark data set: staff, roles and settings"):
        # The demo's four logins, roles, settings and company details; desk@ works at branch 1.
        demo._staff(db.session.get(Branch, branch_ids[0]))
        message_templates.install_defaults()
        # One hash for every branch's desk login: argon2 is slow on purpose, and the
        # password is the same published demo password.
        password = hash_password(demo.DEMO_PASSWORD)
        for branch_id, (area, code, _city) in zip(branch_ids[1:], BRANCHES[1:], strict=True):
            email = f"desk.{code.lower()}@chain.local"
            if security.datastore.find_user(email=email) is None:
                security.datastore.create_user(
                    email=email, full_name=f"Front desk {area}", password=password,
                    roles=[FRONT_DESK], locale="bn", branch=db.session.get(Branch, branch_id))
        db.session.commit()
    db.session.commit()

    def login(email):
        return db.session.execute(db.select(User.id).where(User.email == email)).scalar_one(), email

    desks = [login("desk@demo.local")] + [login(f"desk.{code.lower()}@chain.local")
                                          for _area, code, _city in BRANCHES[1:]]
    staff = activity.Staff(desks, login("manager@demo.local"), login("accounts@demo.local"))
    db.session.remove()
    return staff


def _sequences_and_statistics(connection):
    """Totals the desk keeps as it writes, sequences past the bulk ids (PostgreSQL), then the
    planner's statistics."""
    dialect = connection.dialect.name
    # The deposits held per branch (DepositsHeld), which app.services.handover keeps with
    # each ledger line it writes; bulk lines are summed here once.
    connection.exec_driver_sql("DELETE FROM deposits_held")
    connection.exec_driver_sql(
        "INSERT INTO deposits_held (branch_id, held_poisha) "
        "SELECT branch_id, SUM(amount_poisha) FROM deposit_entry GROUP BY branch_id")
    connection.commit()
    # Statistics first: the kept values below are correlated UPDATEs over a million rows,
    # which PostgreSQL plans without statistics as a scan of every payment per invoice
    # (by the status index, nearly all of them): hours instead of a minute or two.
    _analyze(connection)
    # What is owed on each invoice (Invoice.owed_poisha), which app.services.billing keeps
    # with every payment and refund; here from the bulk payments, by its own definition.
    from app.models import Invoice
    from app.services import billing

    connection.execute(sa.update(Invoice).values(owed_poisha=billing.owed_from_payments_sql()))
    connection.commit()
    # Whether each client has gone inactive (Client.inactive_since), which
    # app.services.inactivity keeps with every change to a rental; here from the bulk rentals.
    from app.services import inactivity

    inactivity.keep_inactive_again(connection=connection)
    connection.commit()
    if dialect == "postgresql":
        # COPY with explicit ids leaves the SERIAL sequences where they were.
        serials = connection.execute(sa.text(
            "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), "
            "column_name) FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_default LIKE 'nextval(%'")).all()
        for table, column, sequence in serials:
            connection.execute(sa.text(
                f'SELECT setval(:s, (SELECT COALESCE(MAX("{column}"), 0) + 1 FROM "{table}"), false)'),
                {"s": sequence})
        connection.commit()
    _analyze(connection, vacuum=True)


def _analyze(connection, vacuum=False):
    """The planner's statistics of the big tables (every table on SQLite and PostgreSQL).

    With `vacuum`, PostgreSQL also vacuums, as its autovacuum would have done to a
    database filled over years (this machine's runs with autovacuum off): the first
    reads of freshly loaded rows would otherwise write every page they touch (hint
    bits), and a page that reads the five million activity-log rows (Django's count)
    stalls the next request for 100–200 ms while they are written out.
    """
    if connection.dialect.name in ("mysql", "mariadb"):
        connection.exec_driver_sql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in BIG_TABLES))
    elif vacuum and connection.dialect.name == "postgresql":
        connection.commit()
        with connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
            own.exec_driver_sql("VACUUM ANALYZE")
    else:
        connection.exec_driver_sql("ANALYZE")
    connection.commit()


def _build(url, scale, fp):
    """Migrate the empty database at `url` and fill it."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.services.client_search import search_keys

    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    app = create_app({"LOCKER_ENV": "development", **app_config(url),
                      # No secrets written to any instance folder: this app only loads data.
                      "SECRET_KEY": "chain-data-build", "SECURITY_TOTP_SECRETS": {"1": "unused"},
                      "UPLOAD_DIR": CACHE / "uploads"})
    with app.app_context():
        engine = db.engine
        with _phase("schema (migrations)"):
            upgrade()
            MARKER.create(engine)  # an empty marker: our database, not finished yet

        rng = random.Random(SEED)
        now = anchor_of(started_at)
        start = now - timedelta(days=round(365.25 * YEARS))
        writer = writer_class(engine.dialect.name)
        with _phase("places, prices, lockers and keys"):
            with engine.connect() as conn:
                ids = Ids(_last_ids(conn, list(places.COLUMNS)))
            the_places = places.Places(rng, ids, writer, start, now)
            with Sink(url, places.COLUMNS) as sink:
                the_places.write(sink, max(1, round(LOCKERS * scale)), RENTALS_PER_LOCKER)
                sink.close()
        with _phase("roles, settings, templates and staff (app functions)"):
            staff = _staff(the_places.branch_ids)

        columns = {**people.COLUMNS, **history.COLUMNS}
        with engine.connect() as conn:
            ids = Ids(_last_ids(conn, [t for t in columns if t not in (
                "client_search_key", "client_tag", "invoice_counter")]))
        with _indexes_set_aside(engine, columns):
            with _phase("clients and history"), Sink(url, columns) as sink:
                clients = people.Clients(rng, writer, max(100, round(CLIENTS * scale)),
                                         the_places.branch_ids, the_places.tag_ids, start, now,
                                         search_keys)
                history.History(rng, ids, writer, sink, the_places, clients, staff, start, now,
                                scale).play()
                sink.close()
            print(f"chain data: peak RSS {_rss_mb():.0f} MB here, {sink.writer_peak_rss_kb / 1024:.0f} MB "
                  "in the writer process", file=sys.stderr)
        if engine.dialect.name == "postgresql":
            # PostgreSQL plans the count's reads of a million fresh rentals blind without
            # statistics (autovacuum is off here and would be late anyway).
            with _phase("statistics for the count"), engine.connect() as conn:
                _analyze(conn)
        with _phase("days counted for the reports (the worker's count-days job)"):
            from app.services import day_figures

            day_figures.count_days()
            db.session.remove()
        with engine.connect() as conn:
            with _phase("statistics"):
                _sequences_and_statistics(conn)
            conn.execute(MARKER.insert(), {"fingerprint": fp, "built_at": started_at,
                                           "seconds": round(time.perf_counter() - started, 1)})
            conn.commit()
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()


def _summary(url, fp, scale, built):
    """What the data set at `url` holds, read from it."""
    from app.services.demo import DEMO_PASSWORD

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            built_at, seconds = conn.execute(sa.select(MARKER.c.built_at, MARKER.c.seconds)).one()
            quote = conn.dialect.identifier_preparer.quote
            counts = {table: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {quote(table)}").scalar()
                      for table in COUNTED}
            heavy = dict(conn.execute(sa.text(
                "SELECT client_id, COUNT(*) FROM rental WHERE client_id <= 5 "
                "GROUP BY client_id ORDER BY client_id")).all())
    finally:
        engine.dispose()
    return {
        "database_url": url, "fingerprint": fp, "scale": scale, "built_now": built,
        "built_at": built_at.isoformat(), "build_seconds": seconds,
        "history_ends_at": anchor_of(built_at).isoformat(), "counts": counts,
        "rentals_of_clients_1_to_5": heavy, "app_config": app_config(url),
        "logins": {"password": DEMO_PASSWORD,
                   "emails": ["admin@demo.local", "manager@demo.local", "desk@demo.local",
                              "accounts@demo.local"]
                   + [f"desk.{code.lower()}@chain.local" for _a, code, _c in BRANCHES[1:]]},
    }


def ensure_dataset(database_url=None, scale=1.0, force=False):
    """Build the chain data set at `database_url` (default: the SQLite cache) unless it is there.

    Returns its summary: the URL, row counts, the create_app() overrides to open it
    (`app_config`), the staff logins, and whether it was built now.
    """
    scale = float(scale)
    if not 0.0005 <= scale <= 10:
        raise ValueError("scale must be from 0.0005 to 10")
    os.environ.setdefault("LOCKER_INSTANCE_DIR", str(CACHE / "instance"))
    fp = fingerprint(scale)
    url = _target_url(database_url, fp)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" and parsed.database in {None, "", *NEVER}:
        raise Refused(f"{parsed.database!r} is not a database this builder may use")
    with _exclusive(url):
        exists, marked, foreign = _state(url)
        if exists and marked == fp and not force:
            return _summary(url, fp, scale, built=False)
        if foreign and not force:
            raise Refused(f"{parsed.render_as_string()} holds tables that are not a chain data "
                          "set; pass force=True (--force) to drop it")
        _recreate(url)
        _build(url, scale, fp)
        return _summary(url, fp, scale, built=True)


def main(argv=None):
    """The command line: build (or find) the data set and print its summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL, MariaDB or SQLite URL (default: bench/.cache SQLite file)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is the full size")
    parser.add_argument("--force", action="store_true", help="drop and build again")
    args = parser.parse_args(argv)
    try:
        summary = ensure_dataset(args.database_url, args.scale, args.force)
    except Refused as exc:
        parser.exit(2, f"refused: {exc}\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
