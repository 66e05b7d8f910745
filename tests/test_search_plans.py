"""No search reads a whole large table (issue "Chain scale"), on every database.

Each search shape is typed into the real screens (the lists' search boxes and
Ctrl+K) by a signed-in user; every SELECT they send is captured and handed
back to the database's EXPLAIN. A plan that reads a large table from end to
end fails: SQLite's `SCAN <table>` without an index, PostgreSQL's `Seq Scan`
(asked with sequential scans switched off, so it shows one only when no index
can answer), MariaDB's access type `ALL`. The tables hold a few thousand rows
and fresh statistics, so the planners weigh them as tables worth an index.
"""

import json
import re
from contextlib import contextmanager
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_admin.contrib.sqla import ModelView
from redis import Redis
from rq.cron import CronScheduler

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Key
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.services import client_search
from jobs.maintenance import refresh_planner_statistics
from tests.conftest import TEST_REDIS_URL

# Tables a chain fills by the hundred thousand or million.
LARGE_TABLES = {"client", "client_search_key", "rental", "payment", "invoice", "invoice_line",
                "activity_log", "deposit_entry", "gateway_transaction", "notification",
                "domain_event", "rental_status_change", "key_event"}
CLIENTS = 3000
FIRST_NAMES = ("Tahmina", "Rumana", "Karim", "Sadia", "Abdul", "Nusrat", "Farhan", "Mahmud",
               "তাহমিনা", "রুমানা")
LAST_NAMES = ("Khan", "Akter", "Uddin", "Islam", "Hossain", "Rahman", "Chowdhury", "খান")
NAMED = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
SYLLABLES = ("ba", "ko", "ri", "mu", "se", "de", "li", "no", "pa", "tu", "ve", "zo")

# What a desk types, into each screen (path, query string).
SEARCHES = [
    ("clients", "search=Tahmina+Khan"),
    ("clients", "search=tahm"),
    ("clients", "search=01711"),
    ("clients", "search=%E0%A7%A6%E0%A7%A7%E0%A7%AD%E0%A7%A7%E0%A7%A7"),  # ০১৭১১
    ("clients", "search=+880+1711-000123"),
    ("clients", "search=000123"),
    ("clients", "search=1990000"),
    ("clients", "search=tahmina.khan"),
    ("clients", "search=W-007"),
    ("rentals", "search=Tahmina+Khan"),
    ("rentals", "search=W-007"),
    ("rentals", "search=01711000123"),
    ("payments", "search=TRX00000042"),
    ("payments", "search=Rumana"),
    ("invoices", "search=INV-000042"),
    ("invoices", "search=Karim"),
    ("deposits", "search=K-W-007"),
    ("deposits", "search=Sadia"),
    ("activity", "search=Tahmina"),
    ("activity", "search=42"),
    ("gateways", "search=TRX00000042"),
]
QUICK = ["Tahmina", "tahmina kh", "01711-000123", "0123", "W-00", "W-007", "K-W-007",
         "TRX00000042", "INV-000042", "MEM-000042", "#42", "rumana@"]


def _name_and_email(n):
    """One client in 50 has a common name (each pair once: "Tahmina Khan" is client 50), the
    rest names of their own, as a chain's clients are spread over many names."""
    if n % 50 == 0:
        first, last = NAMED[(n // 50 - 1) % len(NAMED)]
        return {"full_name": f"{first} {last}", "email": f"{first}.{last}{n}@example.com".lower()}
    word = ""
    for _ in range(3):
        word, n = word + SYLLABLES[n % len(SYLLABLES)], n // len(SYLLABLES)
    return {"full_name": f"{word.capitalize()} {word[::-1].capitalize()}",
            "email": f"{word}{n}@example.com"}


@pytest.fixture
def chain(app, desk):
    """A branch with lockers and keys, 3,000 clients with rentals, invoices, payments and a log."""
    branch = desk.make_branch()
    zone = desk.make_zone(branch)
    lockers = [desk.make_locker(zone=zone, number=f"W-{n:03d}") for n in range(1, 21)]
    db.session.add_all(Key(locker=locker, tag=f"K-{locker.number}") for locker in lockers)
    db.session.commit()
    keys = {key.locker_id: key.id for key in db.session.execute(sa.select(Key)).scalars()}
    start = datetime(2024, 1, 1, 6)
    clients = [{"branch_id": branch.id, "phone": f"+8801711{n:06d}", "registered_at": start,
                "nid": f"1990{n:09d}", **_name_and_email(n)} for n in range(1, CLIENTS + 1)]
    db.session.execute(Client.__table__.insert(), clients)
    db.session.commit()
    client_search.write_missing_keys()
    client_ids = db.session.execute(sa.select(Client.id).order_by(Client.id)).scalars().all()
    # Every client has rented twice, each rental with its invoice, payment and key deposit.
    terms = [(n, client_id, lockers[n % len(lockers)], start + timedelta(days=n % 700))
             for n, client_id in enumerate(client_ids * 2)]
    db.session.execute(Rental.__table__.insert(), [
        {"branch_id": branch.id, "locker_id": locker.id, "client_id": client_id, "days": 30,
         "starts_at": at, "ends_at": at + timedelta(days=30), "status": RentalStatus.RELEASED,
         "price_poisha": 80000} for n, client_id, locker, at in terms])
    rental_ids = db.session.execute(sa.select(Rental.id).order_by(Rental.id)).scalars().all()
    db.session.execute(Invoice.__table__.insert(), [
        {"branch_id": branch.id, "client_id": client_id, "rental_id": rental_id,
         "number": f"INV-{n:06d}", "issued_at": at, "due_on": date(2025, 1, 1),
         "subtotal_poisha": 80000, "total_poisha": 80000}
        for (n, client_id, _locker, at), rental_id in zip(terms, rental_ids, strict=True)])
    invoice_ids = db.session.execute(sa.select(Invoice.id).order_by(Invoice.id)).scalars().all()
    db.session.execute(Payment.__table__.insert(), [
        {"branch_id": branch.id, "client_id": client_id, "rental_id": rental_id,
         "invoice_id": invoice_id, "paid_at": at, "amount_poisha": 80000,
         "reference": f"TRX{n:08d}"}
        for (n, client_id, _locker, at), rental_id, invoice_id
        in zip(terms, rental_ids, invoice_ids, strict=True)])
    db.session.execute(DepositEntry.__table__.insert(), [
        {"branch_id": branch.id, "client_id": client_id, "rental_id": rental_id, "at": at,
         "key_id": keys[locker.id], "kind": DepositEntryKind.TAKEN, "amount_poisha": 50000}
        for (n, client_id, locker, at), rental_id in zip(terms, rental_ids, strict=True)])
    db.session.execute(ActivityLog.__table__.insert(), [
        {"at": at, "user_email": "desk@gym.local", "action": ActivityAction.UPDATE,
         "model": "Client", "object_id": str(client_id), "summary": "x", "branch_id": branch.id}
        for n, client_id, _locker, at in terms])
    db.session.commit()
    _analyse()
    return branch


def _analyse():
    """Fresh statistics, as the nightly maintenance job keeps them, for tables of a chain's size.

    SQLite plans from the row counts in sqlite_stat1, which an application may
    write (https://sqlite.org/lang_analyze.html): the large tables are told to
    hold a hundred times the rows, each index keeping its rows per value, so
    SQLite weighs a full scan as it would at a chain. PostgreSQL is asked with
    sequential scans off instead (full_scans).
    """
    with db.engine.begin() as connection:
        name = connection.dialect.name
        if name == "postgresql":
            connection.execute(sa.text("ANALYZE"))
        elif name == "sqlite":
            connection.execute(sa.text("ANALYZE"))
            for table, index, stat in connection.execute(
                    sa.text("SELECT tbl, idx, stat FROM sqlite_stat1")).all():
                if table in LARGE_TABLES:
                    rows, *per_value = stat.split(" ")
                    connection.execute(
                        sa.text("UPDATE sqlite_stat1 SET stat = :stat WHERE tbl = :tbl AND "
                                "idx IS :idx"),
                        {"stat": " ".join([str(int(rows) * 100), *per_value]), "tbl": table,
                         "idx": index})
        else:
            connection.execute(sa.text("ANALYZE TABLE " + ", ".join(
                f"`{table}`" for table in sorted(LARGE_TABLES))))
    # Connections read the statistics when they open.
    db.engine.dispose()


@contextmanager
def captured_selects():
    """The SELECT statements (with their parameters) sent inside the block."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)


def full_scans(statement, parameters):
    """The large tables the database would read end to end for this statement."""
    with db.engine.connect() as connection:
        cursor = connection.connection.cursor()
        name = connection.dialect.name
        if name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            details = [row[3] for row in cursor.fetchall()]
            return {match.group(1) for detail in details
                    if (match := re.match(r"SCAN (\w+)\b(?! USING)", detail))
                    and match.group(1) in LARGE_TABLES}
        if name == "postgresql":
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            cursor.execute("RESET enable_seqscan")
            return {node["Relation Name"] for node in _pg_nodes(plan[0]["Plan"])
                    if node["Node Type"] == "Seq Scan" and node["Relation Name"] in LARGE_TABLES}
        cursor.execute("EXPLAIN " + statement, parameters)
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return {row["table"] for row in rows if row["type"] == "ALL" and row["table"] in LARGE_TABLES}


def _pg_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _pg_nodes(child)


def _list_url(app, endpoint):
    admin = app.extensions["admin"][0]
    if endpoint == "gateways":
        return next(view.url for view in admin._views if isinstance(view, ModelView)
                    and view.model is GatewayTransaction)
    return next(view.url for view in admin._views if view.endpoint == endpoint)


def _scans_of(browser, url):
    with captured_selects() as seen:
        response = browser.get(url)
    assert response.status_code == 200, url
    found = {}
    for statement, parameters in seen:
        tables = full_scans(statement, parameters)
        if tables:
            found[statement[:300]] = sorted(tables)
    return found


def test_no_search_reads_a_large_table_whole(app, desk, chain):
    """Every statement of every searched list page (rows and count) and of Ctrl+K, for a user of
    all branches and for one limited to a branch, is answered from an index.

    One test for all the shapes: building the tables takes longer than explaining them.
    """
    admin = desk.login_as("Super Admin")
    scans = {}
    for endpoint, query in SEARCHES:
        url = f"{_list_url(app, endpoint)}/?{query}"
        scans[url] = _scans_of(admin, url)
    for browser in (admin, desk.login_as("Front Desk", branch=chain)):
        for typed in QUICK:
            url = f"/admin/quick_search/?q={typed}"
            scans[f"{url} ({browser.user.email})"] = _scans_of(browser, url)
    assert {url: found for url, found in scans.items() if found} == {}


def test_the_searches_find_what_was_typed(app, desk, chain):
    """The indexed search still finds the rows (the plan test alone would pass on an empty answer)."""
    browser = desk.login_as("Super Admin")

    def listed(endpoint, query):
        return browser.get(f"{_list_url(app, endpoint)}/?{query}").get_data(as_text=True)

    assert "+8801711000123" in listed("clients", "search=000123")
    assert "+8801711000123" in listed("clients", "search=01711000123")
    assert "Tahmina Khan" in listed("clients", "search=Tahmina+Khan")
    assert "Rumana" not in listed("clients", "search=Tahmina+Khan")
    assert "TRX00000042" in listed("payments", "search=TRX00000042")
    assert "INV-000042" in listed("invoices", "search=inv-000042")
    assert "W-007" in listed("rentals", "search=w-007")


def test_the_nightly_job_refreshes_the_planner_statistics(app, desk):
    """The scheduled job runs on each database, and SQLite then knows the tables' sizes."""
    desk.insert_clients(desk.make_branch(), 50)
    assert refresh_planner_statistics() == db.engine.dialect.name
    if db.engine.dialect.name == "sqlite":
        stat = db.session.execute(sa.text(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'client' AND "
            "idx = 'ix_client_branch_registered_at'")).scalar()
        assert stat is not None and stat.split()[0] == "50"
    if db.engine.dialect.name == "postgresql":
        assert db.session.execute(sa.text(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'client'")).scalar()
    scheduler = CronScheduler(connection=Redis.from_url(TEST_REDIS_URL))
    scheduler.load_config_from_file(str(Path(__file__).parent.parent / "jobs" / "schedule.py"))
    assert any(job.func is refresh_planner_statistics for job in scheduler.get_jobs())
