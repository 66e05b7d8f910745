"""Statistics the database plans its queries from, kept fresh (issue "Chain scale").

Every search and list is written to be answered from an index, but it is the
database that chooses, from what it knows of each table's size and of how
many rows share a value. Without fresh statistics SQLite knows nothing at all
(it only gathers them on ANALYZE), and a chain's tables grow by thousands of
rows a day. The nightly job (jobs/maintenance.py) refreshes them.
"""

import sqlalchemy as sa

from app.extensions import db

# The tables that grow with a chain's business; the rest are a few hundred rows.
GROWING_TABLES = ("client", "client_search_key", "rental", "rental_status_change", "invoice",
                  "invoice_line", "payment", "refund", "deposit_entry", "activity_log",
                  "notification", "domain_event", "gateway_transaction", "key_event",
                  "locker_week", "branch_day", "terms_day", "retention_month")
# SQLite reads every row of each index (no `PRAGMA analysis_limit`): a limit of 2,000 read
# only the first rows of the rental status index, all of one status, so the planner took
# status for a selective column and read nearly the whole table by it (a year's renewal
# rate went from 0.1 s to 1.8 s). A chain's million rentals are analysed in about 10 s.
SQLITE_ANALYSIS_LIMIT = 0


def refresh():
    """Gather fresh planner statistics for the growing tables; returns the database's name."""
    with db.engine.begin() as connection:
        name = connection.dialect.name
        if name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            connection.exec_driver_sql("ANALYZE")
        elif name == "postgresql":
            for table in GROWING_TABLES:
                connection.exec_driver_sql(f'ANALYZE "{table}"')
        else:
            # MariaDB keeps these as persistent statistics; the result rows say OK per table.
            connection.execute(sa.text("ANALYZE TABLE " + ", ".join(
                f"`{table}`" for table in GROWING_TABLES))).all()
    return name


def estimated_rows(table):
    """How many rows `table` holds by the statistics above, or None if it has none yet.

    What the planner believes, refreshed nightly and on each ANALYZE: good for "more
    than ten thousand", never for a total shown as exact. Reading it costs one
    catalogue row instead of counting an index.
    """
    name = db.engine.dialect.name
    if name == "sqlite":
        # The first number of a table's or index's stat is its row count (sqlite_stat1
        # exists only after an ANALYZE).
        if db.session.execute(sa.text(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None:
            return None
        stat = db.session.execute(sa.text(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = :table LIMIT 1"), {"table": table}).scalar()
        return int(stat.split()[0]) if stat else None
    if name == "postgresql":
        rows = db.session.execute(sa.text(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
            {"table": table}).scalar()
        return int(rows) if rows is not None and rows >= 0 else None
    rows = db.session.execute(sa.text(
        "SELECT table_rows FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = :table"), {"table": table}).scalar()
    return int(rows) if rows is not None else None
