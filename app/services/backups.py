"""Backups of the whole desk: the database and the uploaded files in one verified archive (SPEC S4).

An archive is a gzipped tar: `manifest.json` first (install, schema revision,
database kind, rows per table, SHA-256 of every file), then the database dump
and `uploads/…`. The dump is one consistent snapshot: SQLite's online backup
API, `pg_dump` inside the snapshot the row counts were taken in, or
`mariadb-dump --single-transaction`. The archive is written under a `.part`
name, read back and checked against its manifest, and only then renamed: a job
killed half-way leaves a `.part` that is never listed, and cleaned up later.
"""

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import utcnow
from app.services import audit
from app.services import settings
from app.services.errors import Refusal

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".tar.gz"
PART = ".part"
DUMP_NAMES = {"sqlite": "database.sqlite", "postgresql": "database.pgdump",
              "mariadb": "database.sql"}
# A `.part` this old belongs to a job that died: removed by the next backup.
STALE_PART = timedelta(hours=6)
CHUNK = 1024 * 1024


# Why an archive was made (stored in its manifest as the key).
REASONS = {"scheduled": _l("On schedule"), "asked for": _l("Asked for on this page"),
           "command line": _l("From the command line"),
           "before restore": _l("The state before a restore")}
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}


class BackupError(Refusal):
    """A backup cannot be made, read or trusted; `message` says why, nothing was changed."""


@dataclass(frozen=True)
class Backup:
    """One archive in the backup folder, as its manifest describes it."""

    path: Path
    manifest: dict

    @property
    def name(self):
        return self.path.name

    @property
    def size(self):
        return self.path.stat().st_size

    @property
    def created_at(self):
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def reason(self):
        return REASONS.get(self.manifest.get("reason"), self.manifest.get("reason", ""))

    @property
    def database(self):
        return DATABASE_NAMES.get(self.manifest.get("database"), self.manifest.get("database"))

    @property
    def rows(self):
        return sum(self.manifest.get("tables", {}).values())


def backup_dir():
    """Where archives are kept (BACKUP_DIR, default instance/backups); made on first use."""
    folder = Path(current_app.config["BACKUP_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def install_id():
    """This install's identity: derived from the password salt, which never changes on an
    install and without which its passwords cannot be checked, so an archive of another
    install is recognised (and refused by restore)."""
    salt = str(current_app.config["SECURITY_PASSWORD_SALT"]).encode()
    return hashlib.sha256(b"locker-desk install " + salt).hexdigest()[:24]


def database_kind():
    """"sqlite", "postgresql" or "mariadb": the database this app writes to."""
    name = db.engine.dialect.name
    return "mariadb" if name in ("mysql", "mariadb") else name


def schema_revision():
    """The Alembic revision the database is at."""
    return db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()


def _sha256(path):
    with open(path, "rb") as handle:
        return _digest(handle)


def _digest(handle):
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


# --- dumping each database ---------------------------------------------------------------

def _tables():
    return [table.name for table in db.metadata.sorted_tables] + ["alembic_version"]


def _dump_sqlite(target):
    """Online backup API: a consistent copy while desks keep writing; counted in the copy."""
    source = db.engine.raw_connection()
    try:
        destination = sqlite3.connect(target)
        try:
            source.driver_connection.backup(destination)
            return {name: destination.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                    for name in _tables()}
        finally:
            destination.close()
    finally:
        source.close()


def _client_environment(url):
    env = dict(os.environ)
    if url.password:
        # Passed in the environment, never on the command line where `ps` shows it.
        env["PGPASSWORD" if url.get_backend_name() == "postgresql" else "MYSQL_PWD"] = url.password
    return env


def _run(command, env, output):
    with open(output, "wb") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.PIPE, env=env,
                                timeout=current_app.config.get("BACKUP_TIMEOUT", 3600))
    if result.returncode != 0:
        raise BackupError(_l("The database could not be dumped: %(reason)s",
                             reason=result.stderr.decode(errors="replace").strip()[:300]))


def _dump_postgresql(target):
    """pg_dump inside the snapshot the rows were counted in, so both describe one moment."""
    url = db.engine.url
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            counts = {name: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
                      for name in _tables()}
            command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                       f"--snapshot={snapshot}", "--host", url.host or "127.0.0.1",
                       "--port", str(url.port or 5432), "--username", url.username or "postgres",
                       "--dbname", url.database]
            _run(command, _client_environment(url), target)
    return counts


def _dump_mariadb(target):
    """mariadb-dump in one transaction; rows counted in a snapshot taken just before it."""
    url = db.engine.url
    with db.engine.connect() as conn:
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        counts = {name: conn.execute(sa.text(f"SELECT COUNT(*) FROM `{name}`")).scalar_one()
                  for name in _tables()}
        conn.rollback()
    command = ["mariadb-dump", "--single-transaction", "--skip-lock-tables", "--hex-blob",
               "--routines", "--triggers", "--default-character-set=utf8mb4",
               "--host", url.host or "127.0.0.1", "--port", str(url.port or 3306),
               "--user", url.username or "root", url.database]
    _run(command, _client_environment(url), target)
    return counts


DUMPERS = {"sqlite": _dump_sqlite, "postgresql": _dump_postgresql, "mariadb": _dump_mariadb}


# --- making, checking and listing archives -----------------------------------------------

def create(*, reason, by_user_id=None):
    """Make one verified archive of the database and the uploads; returns the Backup.

    Old archives beyond settings "backup_keep" are removed, and the new one is
    copied to settings "backup_offsite_dir" when one is set.
    """
    folder = backup_dir()
    _remove_stale_parts(folder)
    kind = database_kind()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    final = folder / f"locker-desk-{stamp}-{secrets.token_hex(3)}{SUFFIX}"
    part = final.with_name(final.name + PART)
    with tempfile.TemporaryDirectory(prefix="backup-", dir=folder) as work:
        work = Path(work)
        dump = work / DUMP_NAMES[kind]
        tables = DUMPERS[kind](dump)
        files = {DUMP_NAMES[kind]: dump}
        uploads = Path(current_app.config["UPLOAD_DIR"])
        if uploads.is_dir():
            for path in sorted(p for p in uploads.rglob("*") if p.is_file()):
                files[f"uploads/{path.relative_to(uploads).as_posix()}"] = path
        manifest = {
            "format": FORMAT, "app": "locker-desk", "install": install_id(),
            "schema_revision": schema_revision(), "database": kind,
            "created_at": utcnow().isoformat(timespec="microseconds"), "reason": reason,
            "tables": tables,
            "files": {name: {"sha256": _sha256(path), "size": path.stat().st_size}
                      for name, path in files.items()},
        }
        db.session.rollback()  # nothing of this session stays open while the archive is written
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        with tarfile.open(part, "w:gz") as archive:
            archive.add(work / MANIFEST, arcname=MANIFEST)
            for name, path in files.items():
                archive.add(path, arcname=name)
    verify(part)
    os.replace(part, final)
    backup = Backup(final, manifest)
    with audit.acting_as(by_user_id):
        audit.record(audit.ActivityAction.CREATE, model="Backup", object_id=final.name,
                     summary=f"backup made ({reason}): {final.name}, {backup.rows} rows, "
                             f"{len(files)} files")
        db.session.commit()
    _keep_latest(settings.get("backup_keep"), made=final)
    _copy_offsite(final)
    return backup


def read_manifest(path):
    """The manifest of an archive, or BackupError when it is not one of ours."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.next()
            if member is None or member.name != MANIFEST:
                raise BackupError(_l("%(name)s is not a backup of this desk.", name=path.name))
            manifest = json.loads(archive.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BackupError(_l("%(name)s is damaged or incomplete and cannot be read.",
                             name=Path(path).name)) from exc
    if manifest.get("app") != "locker-desk" or manifest.get("format") != FORMAT:
        raise BackupError(_l("%(name)s is not a backup of this desk.", name=Path(path).name))
    return manifest


def verify(path):
    """Read the whole archive back: every file present, complete and matching its SHA-256.

    Returns the manifest; raises BackupError for a truncated, altered or foreign archive.
    """
    path = Path(path)
    manifest = read_manifest(path)
    expected = dict(manifest["files"])
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.name == MANIFEST:
                    continue
                wanted = expected.pop(member.name, None)
                if wanted is None or not member.isfile():
                    raise BackupError(_l("%(name)s holds a file its manifest does not list.",
                                         name=path.name))
                if _digest(archive.extractfile(member)) != wanted["sha256"]:
                    raise BackupError(_l("%(name)s is damaged: %(file)s does not match its "
                                         "checksum.", name=path.name, file=member.name))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(_l("%(name)s is damaged or incomplete and cannot be read.",
                             name=path.name)) from exc
    if expected:
        raise BackupError(_l("%(name)s is incomplete: %(count)d file(s) are missing.",
                             name=path.name, count=len(expected)))
    return manifest


def all_backups():
    """The finished archives, newest first (a `.part` of a running or killed job is not one)."""
    found = []
    for path in backup_dir().glob(f"*{SUFFIX}"):
        try:
            found.append(Backup(path, read_manifest(path)))
        except BackupError:
            log.warning("Backup folder holds %s, which is not a readable backup.", path.name)
    return sorted(found, key=lambda backup: backup.manifest["created_at"], reverse=True)


def find(name):
    """The archive called `name` in the backup folder (no path tricks), or BackupError."""
    if not re.fullmatch(r"[\w.-]+" + re.escape(SUFFIX), name or ""):
        raise BackupError(_l("There is no backup called %(name)s.", name=name))
    path = backup_dir() / name
    if not path.is_file():
        raise BackupError(_l("There is no backup called %(name)s.", name=name))
    return Backup(path, read_manifest(path))


def latest():
    """The newest finished archive, or None."""
    backups = all_backups()
    return backups[0] if backups else None


def _keep_latest(keep, made):
    for old in [b for b in all_backups() if b.path != made][max(keep, 1) - 1:]:
        old.path.unlink(missing_ok=True)
        log.info("Backup %s removed (keeping the latest %d).", old.name, keep)


def _remove_stale_parts(folder):
    limit = time.time() - STALE_PART.total_seconds()
    for part in folder.glob(f"*{PART}"):
        if part.stat().st_mtime < limit:
            part.unlink(missing_ok=True)


def _copy_offsite(final):
    """Copy a finished archive to the off-site folder (a mounted share), whole or not at all."""
    target_dir = settings.get("backup_offsite_dir")
    if not target_dir:
        return
    target = Path(target_dir) / final.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(final, target.with_name(target.name + PART))
        os.replace(target.with_name(target.name + PART), target)
    except OSError:
        log.exception("Backup %s could not be copied to %s.", final.name, target_dir)


# --- the schedule ------------------------------------------------------------------------

SCHEDULES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def due(now=None):
    """Whether settings "backup_schedule" asks for a backup now (none yet, or the last too old)."""
    every = SCHEDULES.get(settings.get("backup_schedule"))
    if every is None:
        return False
    newest = latest()
    now = now or utcnow()
    # An hour's slack, so a daily backup does not creep later by the job's own run time.
    return newest is None or now - newest.created_at >= every - timedelta(hours=1)


def late(now=None):
    """Whether the dashboard should warn: a scheduled backup is missing, or a day overdue."""
    every = SCHEDULES.get(settings.get("backup_schedule"))
    if every is None:
        return False
    newest = latest()
    return newest is None or (now or utcnow()) - newest.created_at > every + timedelta(days=1)


def create_if_due():
    """Job (hourly): make the scheduled backup when one is due; returns its name or None."""
    if not due():
        return None
    return create(reason="scheduled").name


# --- restoring -----------------------------------------------------------------------------

def _revisions():
    """The migration revisions this code knows, newest first."""
    from alembic.script import ScriptDirectory

    directory = current_app.extensions["migrate"].directory
    return [script.revision for script in ScriptDirectory(directory).walk_revisions()]


def check_restorable(manifest, name):
    """Refuse an archive of another install, another database, or a newer schema."""
    if manifest.get("install") != install_id():
        raise BackupError(_l("%(name)s was made by another install of the desk; it cannot be "
                             "restored here.", name=name))
    if manifest.get("database") != database_kind():
        raise BackupError(_l("%(name)s holds a %(theirs)s database; this desk runs on "
                             "%(ours)s.", name=name,
                             theirs=DATABASE_NAMES.get(manifest.get("database"), "?"),
                             ours=DATABASE_NAMES[database_kind()]))
    if manifest.get("schema_revision") not in _revisions():
        raise BackupError(_l("%(name)s comes from a newer version of the desk (schema %(revision)s)"
                             "; update the desk first.", name=name,
                             revision=manifest.get("schema_revision")))


def restore(name, *, by_user_id=None):
    """Put the database and the uploads back as they were in archive `name`; returns the
    safety backup made of the state it replaced.

    The archive is read back whole and must be this install's, of this kind of
    database, and of this schema or an older one (migrated forward after). The
    current state is backed up first; if the restore fails half-way, that
    safety backup is put back, so the desk is never left half-restored.
    """
    backup = find(name)
    manifest = verify(backup.path)
    check_restorable(manifest, backup.name)
    safety = create(reason="before restore", by_user_id=by_user_id)
    try:
        _put_back(backup.path, manifest)
    except Exception:
        log.exception("Restore of %s failed; putting back %s.", backup.name, safety.name)
        _put_back(safety.path, safety.manifest)
        raise
    with audit.acting_as(by_user_id):
        audit.record(audit.ActivityAction.UPDATE, model="Backup", object_id=backup.name,
                     summary=f"restored from {backup.name} (the state before is {safety.name})")
        db.session.commit()
    return safety


def _put_back(path, manifest):
    kind = manifest["database"]
    with tempfile.TemporaryDirectory(prefix="restore-", dir=backup_dir()) as work:
        work = Path(work)
        with tarfile.open(path, "r:gz") as archive:
            archive.extractall(work, filter="data")
        db.session.remove()
        db.engine.dispose()  # no pooled connection may hold a lock on what is replaced
        RESTORERS[kind](work / DUMP_NAMES[kind])
        db.engine.dispose()
        _swap_uploads(work / "uploads")
    _migrate_forward(manifest["schema_revision"])
    _check_counts(manifest)


def _restore_sqlite(dump):
    """The online backup API the other way round: every page replaced under one lock."""
    source = sqlite3.connect(dump)
    try:
        target = db.engine.raw_connection()
        try:
            source.backup(target.driver_connection)
        finally:
            target.close()
    finally:
        source.close()


def _restore_postgresql(dump):
    """The dump's SQL after an emptied schema, in one transaction: all of it or nothing."""
    url = db.engine.url
    env = _client_environment(url)
    script = dump.with_suffix(".sql")
    with open(script, "wb") as handle:
        handle.write(b"DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n")
        handle.flush()
        result = subprocess.run(["pg_restore", "--no-owner", "--no-privileges", "--file", "-",
                                 str(dump)], stdout=handle, stderr=subprocess.PIPE, env=env)
    if result.returncode != 0:
        raise BackupError(_l("The database could not be restored: %(reason)s",
                             reason=result.stderr.decode(errors="replace").strip()[:300]))
    _run_client(["psql", "--quiet", "--no-psqlrc", "--single-transaction",
                 "--set", "ON_ERROR_STOP=1", "--host", url.host or "127.0.0.1",
                 "--port", str(url.port or 5432), "--username", url.username or "postgres",
                 "--dbname", url.database, "--file", str(script)], env)


def _restore_mariadb(dump):
    """Every table dropped, then the dump replayed (DDL cannot be rolled back on MariaDB:
    a failure here is undone by putting the safety backup back)."""
    url = db.engine.url
    with db.engine.connect() as conn:
        tables = conn.exec_driver_sql("SHOW TABLES").scalars().all()
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in tables:
            conn.exec_driver_sql(f"DROP TABLE `{table}`")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        conn.commit()
    command = ["mariadb", "--host", url.host or "127.0.0.1", "--port", str(url.port or 3306),
               "--user", url.username or "root", "--default-character-set=utf8mb4",
               url.database]
    with open(dump, "rb") as handle:
        result = subprocess.run(command, stdin=handle, stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=_client_environment(url))
    if result.returncode != 0:
        raise BackupError(_l("The database could not be restored: %(reason)s",
                             reason=result.stderr.decode(errors="replace").strip()[:300]))


def _run_client(command, env):
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if result.returncode != 0:
        raise BackupError(_l("The database could not be restored: %(reason)s",
                             reason=result.stderr.decode(errors="replace").strip()[:300]))


RESTORERS = {"sqlite": _restore_sqlite, "postgresql": _restore_postgresql,
             "mariadb": _restore_mariadb}


def _swap_uploads(restored):
    """The archive's uploads in place of the current ones, by renaming whole folders."""
    uploads = Path(current_app.config["UPLOAD_DIR"])
    old = uploads.with_name(uploads.name + ".replaced")
    shutil.rmtree(old, ignore_errors=True)
    if uploads.exists():
        os.replace(uploads, old)
    if restored.is_dir():
        shutil.move(str(restored), str(uploads))
    else:
        uploads.mkdir(parents=True)
    shutil.rmtree(old, ignore_errors=True)


def _migrate_forward(revision):
    """An archive of an older schema is brought up to this code's."""
    if revision != _revisions()[0]:
        from flask_migrate import upgrade

        upgrade()


def _check_counts(manifest):
    """Every table holds the rows the archive counted (before any migration added tables)."""
    with db.engine.connect() as conn:
        for table, expected in manifest["tables"].items():
            if table == "alembic_version":
                continue
            found = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))
                                 ).scalar_one()
            if found != expected:
                raise BackupError(_l("After the restore %(table)s holds %(found)d rows, not "
                                     "%(expected)d.", table=table, found=found,
                                     expected=expected))
