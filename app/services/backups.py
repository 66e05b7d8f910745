"""Backups of the whole desk: the database and the uploaded files in one verified archive (SPEC S4).

An archive is a gzipped tar: `manifest.json` first (install, schema revision,
database kind, rows per table, SHA-256 of every file), then the database dump
and `uploads/…`. The dump is one consistent snapshot: SQLite's online backup
API, `pg_dump` inside the snapshot the row counts were taken in, or
`mariadb-dump --single-transaction`. The archive is written under a `.part`
name, read back and checked against its manifest, and only then renamed: a job
killed half-way leaves a `.part` that is never listed, and cleaned up later.

When BACKUP_ENCRYPTION_KEY is set, the gzipped tar is encrypted as it is
written (`app.services.backup_crypto` holds the format) and the archive is
named `….tar.gz.enc`; it is listed, checked, downloaded and restored like a
plain one, and one made with a key this desk does not have is listed by its
header's label and refused by restore. Archives made before encryption was
turned on stay plain and restore as before. Each new archive is then copied
off-site (`app.services.backup_offsite`).
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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import close_all_sessions

from app.extensions import db
from app.models import utcnow
from app.services import audit
from app.services import backup_crypto
from app.services import backup_offsite
from app.services import settings
from app.services.errors import Refusal

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".tar.gz"
ENCRYPTED_SUFFIX = ".tar.gz.enc"
PART = ".part"
DUMP_NAMES = {"sqlite": "database.sqlite", "postgresql": "database.pgdump",
              "mariadb": "database.sql"}
# A `.part` this old belongs to a job that died: removed by the next backup.
STALE_PART = timedelta(hours=6)
CHUNK = 1024 * 1024
# What `find` accepts: an archive's own name, never a path.
ARCHIVE_FILE = re.compile(r"[\w.-]+\.tar\.gz(\.enc)?")
# What the header of an encrypted archive tells without its key (the Backups page lists it so).
LABEL_FIELDS = ("app", "format", "created_at", "reason", "database", "schema_revision")


# Why an archive was made (stored in its manifest as the key).
REASONS = {"scheduled": _l("On schedule"), "asked for": _l("Asked for on this page"),
           "command line": _l("From the command line"),
           "before restore": _l("The state before a restore")}
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}


class BackupError(Refusal):
    """A backup cannot be made, read or trusted; `message` says why, nothing was changed."""


class BackupLocked(BackupError):
    """An encrypted archive this desk has no key for; `label` is what its header tells openly."""

    def __init__(self, message, label):
        super().__init__(message)
        self.label = label


@dataclass(frozen=True)
class Backup:
    """One archive in the backup folder, as its manifest describes it.

    An encrypted archive this desk has no key for is described by its header's
    label instead, and `locked` says (translated) why it cannot be opened.
    """

    path: Path
    manifest: dict
    locked: object = None

    @property
    def name(self):
        return self.path.name

    @property
    def size(self):
        return self.path.stat().st_size

    @property
    def encrypted(self):
        return self.path.name.endswith(ENCRYPTED_SUFFIX)

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


def _damaged(name):
    return BackupError(_l("%(name)s is damaged or incomplete and cannot be read.", name=name))


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


# --- encryption (the format is app.services.backup_crypto's) --------------------------------

def encryption_keys():
    """BACKUP_ENCRYPTION_KEY's keys by key id, the one new archives use first; {} when unset.

    Raises BackupError when a key is not base64 of 32 bytes.
    """
    try:
        return backup_crypto.parse_keys(current_app.config.get("BACKUP_ENCRYPTION_KEY"))
    except ValueError:
        raise BackupError(_l("BACKUP_ENCRYPTION_KEY is not valid: a key is 32 random bytes written "
                             "in base64, e.g. the output of `openssl rand -base64 32`.")) from None


def encryption_status():
    """For the Backups page: {"key": id of the key new archives use (hex), or None when
    encryption is off; "problem": why BACKUP_ENCRYPTION_KEY cannot be used, or None}."""
    try:
        keys = encryption_keys()
    except BackupError as exc:
        return {"key": None, "problem": exc.message}
    return {"key": next(iter(keys), b"").hex() or None, "problem": None}


def _locked(name, label, named_key):
    """BackupLocked for an archive made with a key this desk does not have."""
    try:
        keys = encryption_keys()
    except BackupError as exc:
        return BackupLocked(exc.message, label)
    if not keys:
        return BackupLocked(_l("%(name)s is encrypted and this desk has no key for it: set "
                               "BACKUP_ENCRYPTION_KEY to the key it was made with.", name=name), label)
    return BackupLocked(_l("%(name)s was made with another encryption key (%(key)s); add that key "
                           "to BACKUP_ENCRYPTION_KEY to open it.", name=name, key=named_key.hex()),
                        label)


@contextmanager
def _writing(path, key, label):
    """A tar to add files to, gzipped into `path`, and encrypted as it is written when `key`
    is given (`label` then goes in the header, readable without the key)."""
    if key is None:
        with tarfile.open(path, "w:gz") as archive:
            yield archive
        return
    with open(path, "wb") as raw:
        writer = backup_crypto.EncryptingWriter(raw, key, label)
        with tarfile.open(fileobj=writer, mode="w|gz") as archive:
            yield archive
        writer.close()


@contextmanager
def _reading(path, *, whole=False):
    """The archive's tar, read front to back; an encrypted one is decrypted as it is read.

    With `whole`, an encrypted archive is then read on to its last byte, so one cut
    short or altered after what the tar needed raises too. Raises BackupLocked
    without the key, and BackupError for an encrypted archive altered or cut short.
    """
    path = Path(path)
    if not backup_crypto.is_encrypted(path):
        with tarfile.open(path, "r:gz") as archive:
            yield archive
        return
    with open(path, "rb") as raw:
        try:
            reader = backup_crypto.DecryptingReader(raw, _keys_for_reading())
            with tarfile.open(fileobj=reader, mode="r|gz") as archive:
                yield archive
            if whole:
                reader.finish()
        except backup_crypto.KeyMissing as exc:
            raise _locked(path.name, _public_label(exc.label, path.name), exc.key_id) from None
        except backup_crypto.NewerFormat:
            raise BackupError(_l("%(name)s was encrypted by a newer version of the desk; update "
                                 "the desk first.", name=path.name)) from None
        except backup_crypto.Damaged as exc:
            raise _damaged(path.name) from exc


def _keys_for_reading():
    """The keys to open archives with: none when BACKUP_ENCRYPTION_KEY cannot be read (each
    archive then says why, see _locked)."""
    try:
        return encryption_keys()
    except BackupError:
        return {}


def _public_label(label, name):
    """A header's label as a stand-in for the manifest, or BackupError when it is not ours."""
    try:
        datetime.fromisoformat(label["created_at"])
    except (KeyError, TypeError, ValueError):
        raise BackupError(_l("%(name)s is not a backup of this desk.", name=name)) from None
    if label.get("app") != "locker-desk":
        raise BackupError(_l("%(name)s is not a backup of this desk.", name=name))
    return {field: label.get(field) for field in LABEL_FIELDS}


# --- making, checking and listing archives -----------------------------------------------

def create(*, reason, by_user_id=None, offsite=True):
    """Make one verified archive of the database and the uploads; returns the Backup.

    It is encrypted when BACKUP_ENCRYPTION_KEY is set. Old archives beyond settings
    "backup_keep" are removed, and with `offsite` the new one is copied off-site
    (backup_offsite.copy_offsite: a failed copy is reported, this backup stays).
    """
    folder = backup_dir()
    _remove_stale_parts(folder)
    # A key that cannot be used refuses the backup rather than writing it in clear.
    key = next(iter(encryption_keys().values()), None)
    kind = database_kind()
    now = utcnow()
    # The six hex digits after the second are its microsecond and one random digit: names sort
    # by time even within a second (off-site only names are seen), and two hosts backing up
    # at one moment still choose different names.
    final = folder / (f"locker-desk-{now:%Y%m%d-%H%M%S}-{now.microsecond:05x}"
                      f"{secrets.randbelow(16):x}{SUFFIX if key is None else ENCRYPTED_SUFFIX}")
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
        label = {field: manifest[field] for field in LABEL_FIELDS}
        with _writing(part, key, label) as archive:
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
    if offsite:
        backup_offsite.copy_offsite(final)
    return backup


def read_manifest(path):
    """The manifest of an archive, or BackupError when it is not one of ours (BackupLocked
    when it is encrypted and this desk has no key for it)."""
    path = Path(path)
    try:
        with _reading(path) as archive:
            member = archive.next()
            if member is None or member.name != MANIFEST:
                raise BackupError(_l("%(name)s is not a backup of this desk.", name=path.name))
            manifest = json.loads(archive.extractfile(member).read())
    except BackupError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise _damaged(path.name) from exc
    if manifest.get("app") != "locker-desk" or manifest.get("format") != FORMAT:
        raise BackupError(_l("%(name)s is not a backup of this desk.", name=path.name))
    return manifest


def verify(path):
    """Read the whole archive back: every file present, complete and matching its SHA-256
    (and, encrypted, every chunk there and unaltered).

    Returns the manifest; raises BackupError for a truncated, altered or foreign archive,
    BackupLocked for one encrypted with a key this desk does not have.
    """
    path = Path(path)
    manifest = read_manifest(path)
    expected = dict(manifest["files"])
    try:
        with _reading(path, whole=True) as archive:
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
        raise _damaged(path.name) from exc
    if expected:
        raise BackupError(_l("%(name)s is incomplete: %(count)d file(s) are missing.",
                             name=path.name, count=len(expected)))
    return manifest


def _describe(path):
    """The Backup at `path`; an encrypted one without its key is described by its label."""
    try:
        return Backup(path, read_manifest(path))
    except BackupLocked as exc:
        return Backup(path, exc.label, locked=exc.message)


def all_backups():
    """The finished archives, newest first (a `.part` of a running or killed job is not one)."""
    folder = backup_dir()
    found = []
    for path in [*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{ENCRYPTED_SUFFIX}")]:
        try:
            found.append(_describe(path))
        except BackupError:
            log.warning("Backup folder holds %s, which is not a readable backup.", path.name)
    return sorted(found, key=lambda backup: backup.manifest["created_at"], reverse=True)


def find(name):
    """The archive called `name` in the backup folder (no path tricks), or BackupError."""
    if not ARCHIVE_FILE.fullmatch(name or ""):
        raise BackupError(_l("There is no backup called %(name)s.", name=name))
    path = backup_dir() / name
    if not path.is_file():
        raise BackupError(_l("There is no backup called %(name)s.", name=name))
    return _describe(path)


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


# --- off-site copies (app.services.backup_offsite) -------------------------------------------

def offsite_copies():
    """The off-site targets in the settings, each with its last copy (for the Backups page)."""
    return backup_offsite.last_copies(backup_dir())


def copy_latest_offsite():
    """Copy the newest archive off-site again (after the server or its password was fixed);
    returns {target: None, or what failed}, or None when there is no archive."""
    newest = latest()
    return None if newest is None else backup_offsite.copy_offsite(newest.path)


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


def check_restorable(backup):
    """Refuse an archive this desk has no key for, or one of another install, another
    database, or a newer schema."""
    if backup.locked:
        raise BackupError(backup.locked)
    manifest, name = backup.manifest, backup.name
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

    The archive must be this install's, of this kind of database, and of this
    schema or an older one (migrated forward after); an encrypted one needs its
    key. It is read back whole before anything changes. The current state is
    backed up first (kept here, not copied off-site, so the restore waits for no
    server); if the restore fails half-way, that safety backup is put back, so the
    desk is never left half-restored.
    """
    backup = find(name)
    check_restorable(backup)
    manifest = verify(backup.path)
    safety = create(reason="before restore", by_user_id=by_user_id, offsite=False)
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
        # Read to the end before anything is replaced: an encrypted archive cut short or
        # altered since it was checked raises here.
        with _reading(path, whole=True) as archive:
            archive.extractall(work, filter="data")
        # No connection of this process may hold a lock on what is replaced: not this
        # context's session, not one left open elsewhere (a response still streaming),
        # and no pooled connection. PostgreSQL's DROP SCHEMA would wait for it for ever.
        db.session.remove()
        close_all_sessions()
        db.engine.dispose()
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
