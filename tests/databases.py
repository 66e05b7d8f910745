"""The three databases the suite runs on, and how to reset each one.

SQLite is a file per test session; PostgreSQL and MariaDB are the real servers
on this machine (database `test`). Each backend's schema is built once by the
Alembic migrations, then every test starts from empty tables.
"""

import os

import sqlalchemy as sa

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
# `TEST_DATABASES=sqlite` (make test-fast) runs on a subset; every run in CI uses all three.
BACKENDS = tuple(name for name in os.environ.get("TEST_DATABASES", ",".join(ALL_BACKENDS)).split(",")
                 if name in ALL_BACKENDS) or ALL_BACKENDS

SERVER_URLS = {
    "postgresql": os.environ.get(
        "TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
    ),
}
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}


def reachable(url):
    """None if a connection to `url` works, else the reason it does not."""
    engine = sa.create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


def _connect_args(url):
    if url.startswith("postgresql"):
        return {"connect_timeout": 3}
    if url.startswith("mysql"):
        return {"connect_timeout": 3}
    return {}


def drop_everything(url):
    """Leave the database with no tables at all, so migrations start from nothing."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if url.startswith("postgresql"):
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        elif url.startswith("mysql"):
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
            for (name,) in conn.execute(sa.text("SHOW TABLES")).all():
                conn.execute(sa.text(f"DROP TABLE `{name}`"))
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()


def server_of(nodeid):
    """The database server a test's node id runs on ("postgresql", "mariadb"), or None.

    Read from the first "[": a parameter may hold brackets of its own (an upload named
    "<?php system($_GET['c']); ?>"). A server's test taken for no server's would run in
    the other pytest-xdist process, whose first test on that server drops the schema
    this process is using.
    """
    parameters = nodeid.partition("[")[2].removesuffix("]").split("-")
    return next((backend for backend in SERVER_URLS if backend in parameters), None)


# Once a test has ended, no other connection to its database may still be inside a
# transaction: its locks would make the DELETEs below (or a restore's DROP SCHEMA) wait
# for ever, and CI would hang instead of failing. Each server's tests run in one
# process (conftest.pytest_xdist_make_scheduler), so any such connection is this test's.
_OPEN_TRANSACTIONS = {
    "postgresql": "SELECT left(query, 200) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                  "AND state LIKE 'idle in transaction%'",
    "mysql": "SELECT left(coalesce(trx_query, trx_state), 200) FROM information_schema.innodb_trx "
             "JOIN information_schema.processlist ON id = trx_mysql_thread_id "
             "WHERE db = database() AND trx_mysql_thread_id <> connection_id()",
}
_OPEN_TRANSACTIONS["mariadb"] = _OPEN_TRANSACTIONS["mysql"]


def _refuse_open_transactions(conn, dialect):
    if dialect not in _OPEN_TRANSACTIONS:
        return
    left_open = conn.execute(sa.text(_OPEN_TRANSACTIONS[dialect])).scalars().all()
    assert not left_open, f"the test left transactions open on other connections: {left_open}"


def empty_tables(db):
    """Delete every row of every table (the schema stays), quickly on each backend."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    dialect = db.engine.dialect.name
    with db.engine.begin() as conn:
        _refuse_open_transactions(conn, dialect)
        if dialect == "postgresql":
            # DELETE, not TRUNCATE: a TRUNCATE of sixty tables gives each a new file and
            # took 1.6 s per test; deleting a test's few rows takes 0.04 s. Replica mode
            # skips the foreign-key triggers (the suite connects as a superuser); the
            # sequences a test used start again at 1, as TRUNCATE … RESTART IDENTITY did.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for name in tables:
                conn.execute(sa.text(f'DELETE FROM "{name}"'))
            used = conn.execute(sa.text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) "
                "FROM pg_sequences WHERE last_value IS NOT NULL")).scalars().all()
            for sequence in used:
                conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))
        elif dialect in ("mysql", "mariadb"):
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM `{name}`"))
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
        else:
            for name in tables:
                conn.execute(sa.text(f'DELETE FROM "{name}"'))
