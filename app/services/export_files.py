"""My exports: files too large to build in a request, written by a worker (SPEC Rep4).

A CSV of any size streams from the request (app.services.exports.csv_chunks).
An XLSX or PDF past exports.IN_REQUEST_ROWS rows is asked for here instead:
`request_export` records it for the user and hands it to a worker, which
builds it with the same code the screen uses, as that user (their branch,
their permissions, their language), and the file appears in the user's
"My exports" list until it expires (KEEP_FOR).

What a file holds is named by its source, "<kind>:<name>" ("list:clients",
"report:collections"), and built by the source's builder, registered by the
screens that offer the export (`register_source`): a builder is a context
manager taking (name, params) and yielding (headers, rows, title, sanitized),
rows an iterable read once, `sanitized` true when its cells went through
exports.safe_cell already.
"""

import logging
import secrets
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask import g
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.extensions import rq
from app.models import ActivityAction
from app.models import ExportFile
from app.models import ExportStatus
from app.models import User
from app.models import utcnow
from app.services import audit
from app.services import exports
from app.services.errors import Refusal

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=7)
# A job lost with Redis (or never started) is handed out again after this long.
REQUEUE_AFTER = timedelta(minutes=10)
# A worker killed while writing leaves the export running; after this it is failed.
RUNNING_AT_MOST = timedelta(hours=2)
JOB_TIMEOUT = 3600
PROGRESS_EVERY = timedelta(seconds=1)

_sources = {}


class ExportRefused(Refusal):
    """The export cannot be made (no worker queue, too many rows for a PDF)."""


def register_source(kind, builder):
    """Let exports of source "<kind>:<name>" be built by `builder(name, params)`."""
    _sources[kind] = builder


def folder():
    """Where export files are kept: EXPORT_DIR, shared by the web and worker hosts."""
    path = Path(current_app.config["EXPORT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def request_export(user, *, source, params, kind, title, file_name, rows_expected):
    """Record an export for `user` and queue its job; returns the ExportFile.

    Refuses (and records nothing) when a PDF would be too long or no worker
    queue is reachable: the screen says so and offers the CSV, which streams.
    """
    if kind not in exports.KINDS or source.split(":", 1)[0] not in _sources:
        raise ExportRefused(_l("This export does not exist."))
    if kind == "pdf" and rows_expected > exports.PDF_MAX_ROWS:
        raise ExportRefused(_l(
            "A PDF of more than %(limit)s rows would be too long to read or print. Narrow the "
            "list with a filter or a search, or export it as CSV or XLSX.",
            limit=f"{exports.PDF_MAX_ROWS:,}"))
    now = utcnow()
    export = ExportFile(user_id=user.id, branch_id=user.branch_id, title=str(title)[:200],
                        source=source, params=params, kind=kind, file_name=file_name[:255],
                        rows_expected=rows_expected, requested_at=now,
                        expires_at=now + KEEP_FOR)
    db.session.add(export)
    db.session.flush()
    # A copy of business data is leaving the desk: said in the activity log, as a download.
    audit.record(ActivityAction.DOWNLOADED, model="ExportFile", object_id=export.id,
                 summary=f"{export.file_name} ({source})", branch_id=user.branch_id)
    try:
        _enqueue(export.id)
    except Exception as exc:
        db.session.rollback()
        log.warning("Could not queue export: %s", exc)
        raise ExportRefused(_l(
            "No background worker can be reached, so this file cannot be made now. The CSV "
            "export still works: it is written while it downloads.")) from exc
    db.session.commit()
    return export


def _enqueue(export_id):
    from jobs.exports import build_export

    rq.enqueue(build_export, export_id, job_timeout=JOB_TIMEOUT)


def mine(user_id, limit=50):
    """The user's exports, newest first."""
    return db.session.execute(
        db.select(ExportFile).where(ExportFile.user_id == user_id)
        .order_by(ExportFile.requested_at.desc(), ExportFile.id.desc()).limit(limit)
    ).scalars().all()


def owned(export_id, user_id):
    """The export `export_id` if it is `user_id`'s, else None (no one downloads another's)."""
    export = db.session.get(ExportFile, export_id) if export_id is not None else None
    return export if export is not None and export.user_id == user_id else None


def path_of(export):
    """The file of a ready export, or None when it is not (or no longer) there."""
    if export.status != ExportStatus.READY or not export.stored_as:
        return None
    path = folder() / export.stored_as
    return path if path.is_file() else None


def remove(export):
    """Delete an export and its file (the user's own list; nothing else refers to it)."""
    _unlink(export.stored_as)
    db.session.delete(export)
    db.session.commit()


def _unlink(stored_as):
    if stored_as:
        for path in (folder() / stored_as, folder() / f"{stored_as}.part"):
            path.unlink(missing_ok=True)


# --- the worker's side ---------------------------------------------------------------

def build(export_id):
    """Job: write the file of export `export_id`; returns its status name.

    Runs as the user who asked (their branch, permissions and language). The
    file is written under a temporary name and renamed when complete, so a
    download never gets half a file. A second delivery of the job finds the
    export no longer queued and does nothing.
    """
    claimed = db.session.execute(
        db.update(ExportFile).where(ExportFile.id == export_id,
                                    ExportFile.status == ExportStatus.QUEUED)
        .values(status=ExportStatus.RUNNING, rows_done=0)).rowcount
    db.session.commit()
    export = db.session.get(ExportFile, export_id)
    if not claimed or export is None:
        return export.status.name if export is not None else "GONE"
    stored_as = f"{export.id}-{secrets.token_hex(8)}.{export.kind}"
    partial = folder() / f"{stored_as}.part"
    try:
        with as_user(export.user_id, export.params or {}):
            kind, name = export.source.split(":", 1)
            with _sources[kind](name, export.params or {}) as (headers, rows, title, sanitized):
                with partial.open("wb") as target:
                    done = _write(export, target, headers, rows, title, sanitized)
        partial.replace(folder() / stored_as)
    except Exception as exc:
        db.session.rollback()
        partial.unlink(missing_ok=True)
        log.exception("Export %s failed", export_id)
        _finish(export_id, ExportStatus.FAILED, error=_reason(exc))
        return ExportStatus.FAILED.name
    _finish(export_id, ExportStatus.READY, stored_as=stored_as, rows_done=done,
            size_bytes=(folder() / stored_as).stat().st_size)
    return ExportStatus.READY.name


def _write(export, target, headers, rows, title, sanitized):
    progress = _progress_writer(export.id)
    if export.kind == "xlsx":
        return exports.write_xlsx(target, headers, rows, title=title, progress=progress,
                                  sanitized=sanitized)
    if export.kind == "pdf":
        return exports.write_pdf(target, headers, _at_most(rows, exports.PDF_MAX_ROWS),
                                 title=title, progress=progress)
    for chunk in exports.csv_chunks(headers, _counted(rows, progress), sanitized=sanitized):
        target.write(chunk)
    return progress.done


def _at_most(rows, limit):
    for number, row in enumerate(rows, start=1):
        if number > limit:
            raise ExportRefused(_l("The list grew past %(limit)s rows while it was written.",
                                   limit=f"{limit:,}"))
        yield row


def _counted(rows, progress):
    for number, row in enumerate(rows, start=1):
        yield row
        if number % exports.BATCH == 0:
            progress(number)
        progress.done = number


def _progress_writer(export_id):
    """progress(done): store the rows written, at most once a second, on its own connection.

    Its own connection and transaction: the export's rows are being read on the
    session, and a commit there would end the reading transaction.
    """
    last = [utcnow() - PROGRESS_EVERY]

    def progress(done):
        now = utcnow()
        if now - last[0] < PROGRESS_EVERY:
            return
        last[0] = now
        with db.engine.begin() as connection:
            connection.execute(db.update(ExportFile).where(ExportFile.id == export_id)
                               .values(rows_done=done))
    progress.done = 0
    return progress


def _finish(export_id, status, **values):
    db.session.execute(db.update(ExportFile).where(ExportFile.id == export_id)
                       .values(status=status, finished_at=utcnow(), **values))
    db.session.commit()


def _reason(exc):
    text = exc.message if isinstance(exc, Refusal) else f"{type(exc).__name__}: {exc}"
    return str(text)[:255]


@contextmanager
def as_user(user_id, params):
    """A request like the one that asked (`params` "path" and "args"), made by `user_id`.

    The screens' code reads the list's filters, search and sort from the request.

    The user is set the way Flask-Login keeps it for a request (g._login_user),
    not logged in: no login is recorded and no session cookie is written.
    """
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise ExportRefused(_l("The account that asked for this export is no longer active."))
    with current_app.test_request_context(params.get("path") or "/admin/",
                                          query_string=params.get("args") or {}):
        g._login_user = user
        yield user


# --- housekeeping (hourly job) -------------------------------------------------------

def tidy():
    """Expire exports past their date (deleting their files), fail the stuck, requeue the lost.

    Returns (expired, failed, requeued).
    """
    now = utcnow()
    expired = db.session.execute(
        db.select(ExportFile).where(ExportFile.expires_at <= now,
                                    ExportFile.status != ExportStatus.EXPIRED)
    ).scalars().all()
    for export in expired:
        _unlink(export.stored_as)
        export.status, export.stored_as = ExportStatus.EXPIRED, None
    failed = db.session.execute(
        db.update(ExportFile).where(ExportFile.status == ExportStatus.RUNNING,
                                    ExportFile.requested_at <= now - RUNNING_AT_MOST)
        .values(status=ExportStatus.FAILED, finished_at=now,
                error="The worker writing it stopped.")).rowcount
    db.session.commit()
    lost = db.session.execute(
        db.select(ExportFile.id).where(ExportFile.status == ExportStatus.QUEUED,
                                       ExportFile.requested_at <= now - REQUEUE_AFTER)
    ).scalars().all()
    requeued = 0
    for export_id in lost:
        try:
            _enqueue(export_id)
            requeued += 1
        except Exception as exc:  # Redis still down: the next run tries again
            log.warning("Could not requeue export %s: %s", export_id, exc)
            break
    return len(expired), failed, requeued
