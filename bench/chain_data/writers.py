"""Bulk writers: rows as plain tuples in, written the fastest ordinary way each database takes them.

SQLite and MariaDB get one executemany per batch on a SQLAlchemy connection
(pysqlite steps through the batch in C; PyMySQL turns it into multi-row
INSERTs); PostgreSQL gets psycopg's COPY. The rows skip SQLAlchemy's per-value
processing, so they must already hold what the driver stores: enum members by
name, JSON as text, and on SQLite datetimes as SQLAlchemy writes them.

The writing happens in a process of its own while the generator makes the
next batch. A thread would share the GIL with the generator: pysqlite lets
go of it for every row it steps and then waits to get it back, which made
the writes three times slower than writing in between.
"""

import multiprocessing
import queue
import resource
import traceback

import sqlalchemy as sa

# Rows buffered, over all tables, before they are handed to the writer process.
BATCH = 20_000
# Rows per transaction: few transactions, none so large that SQLite's WAL, InnoDB's
# undo log or PostgreSQL's WAL balloon.
ROWS_PER_COMMIT = 1_000_000
# What the generator sends besides batches: write the rest and commit, or stop without.
DONE, ABORT = "done", "abort"


class Writer:
    """executemany of tuples on one SQLAlchemy connection, in transactions it commits."""

    placeholder = "%s"

    def __init__(self, connection):
        self.connection = connection
        self.statements = {}

    @staticmethod
    def stamp(moment):
        """A naive UTC datetime as the driver takes it."""
        return moment

    @staticmethod
    def day(value):
        """A date as the driver takes it."""
        return value

    def prepare(self, table, columns):
        """Check `columns` against the migrated table and get ready to write rows of them.

        Every NOT NULL column without a server default must be given: the models'
        Python defaults (created_at=utcnow…) do not apply to these INSERTs.
        """
        reflected = {c["name"]: c for c in sa.inspect(self.connection).get_columns(table)}
        unknown = [name for name in columns if name not in reflected]
        missing = [name for name, c in reflected.items() if name not in columns
                   and not c["nullable"] and c.get("default") is None]
        if unknown or missing:
            raise RuntimeError(f"{table}: unknown columns {unknown}, missing NOT NULL {missing}")
        quote = self.connection.dialect.identifier_preparer.quote
        self.statements[table] = (
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join([self.placeholder] * len(columns))})")

    def write(self, table, rows):
        """Insert `rows` (tuples in the prepared column order) into `table`."""
        self.connection.exec_driver_sql(self.statements[table], rows)

    def commit(self):
        """End the current transaction (the next write starts another)."""
        self.connection.commit()


class SqliteWriter(Writer):
    """SQLite: datetimes as the text SQLAlchemy's DateTime stores (and compares as text)."""

    placeholder = "?"

    @staticmethod
    def stamp(moment):
        # SQLAlchemy always writes the microseconds; a value without them would sort
        # before the same moment written by the app.
        return None if moment is None else moment.isoformat(" ", "microseconds")

    @staticmethod
    def day(value):
        return None if value is None else value.isoformat()


class CopyWriter(Writer):
    """PostgreSQL: COPY FROM STDIN through psycopg 3, inside the connection's transaction."""

    def prepare(self, table, columns):
        super().prepare(table, columns)
        quote = self.connection.dialect.identifier_preparer.quote
        self.statements[table] = (f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) "
                                  "FROM STDIN")

    def write(self, table, rows):
        if not self.connection.in_transaction():
            # COPY goes to psycopg directly; begun here, the transaction is one that
            # commit() then ends.
            self.connection.begin()
        driver = self.connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(self.statements[table]) as copy:
            for row in rows:
                copy.write_row(row)


WRITERS = {"sqlite": SqliteWriter, "postgresql": CopyWriter}


def writer_class(dialect_name):
    """The writer for a database of `dialect_name`: its stamp() and day() shape the rows."""
    return WRITERS.get(dialect_name, Writer)


def tune_for_bulk(connection, cache_mb=256):
    """Per-connection settings for a bulk load (SQLite: a page cache of `cache_mb`)."""
    if connection.dialect.name == "sqlite":
        # This connection may not come from the app, whose connect hook turns foreign
        # keys on: they are checked here too. A build that dies is thrown away, so nothing
        # needs to reach the disk in order; a large page cache keeps the growing B-trees
        # (the search keys' primary key is written in random order) in memory.
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.exec_driver_sql("PRAGMA busy_timeout=10000")
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        connection.exec_driver_sql(f"PRAGMA cache_size=-{cache_mb * 1024}")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET synchronous_commit = off")


class Sink:
    """Buffers rows per table; a writer process with its own connection writes full batches.

    Tables are written in the order of `columns`, which must put every table
    after the tables its foreign keys point to: a batch never holds a row whose
    parent is still waiting in a later batch. Use it as a context manager:
    leaving on an exception stops the writer without committing.
    """

    def __init__(self, url, columns):
        self.order = list(columns)
        self.buffers = {table: [] for table in self.order}
        self.counts = dict.fromkeys(self.order, 0)
        self.buffered = 0
        self.since_commit = 0
        # spawn, not fork: this process holds database connections and the app.
        context = multiprocessing.get_context("spawn")
        # A few batches in flight: enough to overlap, little memory.
        self.batches = context.Queue(maxsize=3)
        self.replies = context.Queue()
        self.process = context.Process(target=_write_batches, name="chain-data-writer", daemon=True,
                                       args=(url, columns, self.batches, self.replies))
        self.process.start()
        self._reply("ready")
        self.writer_peak_rss_kb = None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback_):
        if exc is not None:
            self.abort()

    def add(self, table, row):
        """Buffer one row of `table`."""
        self.buffers[table].append(row)
        self.buffered += 1
        if self.buffered >= BATCH:
            self.flush()

    def flush(self):
        """Hand everything buffered to the writer."""
        batch = [(table, self.buffers[table]) for table in self.order if self.buffers[table]]
        for table, rows in batch:
            self.counts[table] += len(rows)
            self.buffers[table] = []
        self.since_commit += self.buffered
        commit = self.since_commit >= ROWS_PER_COMMIT
        if commit:
            self.since_commit = 0
        self.buffered = 0
        if batch:
            self._put((batch, commit))

    def close(self):
        """Write what is left, commit, wait for the writer; returns the rows written per table."""
        self.flush()
        self._put(DONE)
        self.writer_peak_rss_kb = self._reply("done")
        self.process.join()
        return dict(self.counts)

    def abort(self):
        """Stop the writer without committing: its transaction rolls back."""
        if self.process.is_alive():
            try:
                self.batches.put(ABORT, timeout=10)
            except queue.Full:
                pass
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.terminate()

    def _put(self, item):
        while True:
            self._check()
            try:
                self.batches.put(item, timeout=1)
                return
            except queue.Full:
                continue

    def _check(self):
        """Raise the writer's failure, if it has failed."""
        try:
            kind, detail = self.replies.get_nowait()
        except queue.Empty:
            if not self.process.is_alive():
                raise RuntimeError("the chain data writer process died") from None
            return
        raise RuntimeError(f"the chain data writer failed ({kind}):\n{detail}")

    def _reply(self, expected):
        while True:
            try:
                kind, detail = self.replies.get(timeout=1)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError("the chain data writer process died") from None
                continue
            if kind != expected:
                raise RuntimeError(f"the chain data writer failed:\n{detail}")
            return detail


def peak_rss_kb():
    """This process's peak resident memory in kB, since it started its own program.

    ru_maxrss would count the parent's pages the process had between fork and exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _write_batches(url, columns, batches, replies):
    """The writer process: prepare every table, then write batches until told to stop."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            tune_for_bulk(connection)
            writer = writer_class(connection.dialect.name)(connection)
            for table, names in columns.items():
                writer.prepare(table, names)
            connection.commit()
            replies.put(("ready", None))
            while (item := batches.get()) not in (DONE, ABORT):
                batch, commit = item
                for table, rows in batch:
                    writer.write(table, rows)
                if commit:
                    writer.commit()
            if item == DONE:
                writer.commit()
        engine.dispose()
        replies.put(("done", peak_rss_kb()))
    except BaseException:
        replies.put(("failed", traceback.format_exc()))
