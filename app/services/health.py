"""What /healthz reports: database, Redis, the RQ workers' heartbeats and `flask serve`'s children."""

import os
import shutil
from datetime import UTC
from datetime import datetime

from flask import current_app
from rq import Worker
from sqlalchemy import text

from app.extensions import db
from app.extensions import rq
from app.services import supervisor


def check_database():
    """{"ok": bool, "error"?: str} for one round trip to the database."""
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True}
    except Exception as exc:  # any failure is a health fact, not a crash
        db.session.rollback()
        return {"ok": False, "error": exc.__class__.__name__}


def check_redis():
    """{"ok": bool} for a PING to Redis."""
    try:
        rq.connection.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}


def check_workers():
    """Workers with a fresh heartbeat; ok when at least one is alive."""
    max_age = current_app.config["WORKER_HEARTBEAT_MAX_AGE"]
    try:
        workers = Worker.all(connection=rq.connection)
    except Exception as exc:
        return {"ok": False, "alive": 0, "error": exc.__class__.__name__}
    now = datetime.now(UTC)
    alive = []
    for worker in workers:
        beat = worker.last_heartbeat
        if beat is None:
            continue
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        age = (now - beat).total_seconds()
        if age <= max_age:
            alive.append({"name": worker.name, "queues": worker.queue_names(),
                          "heartbeat_age_seconds": round(age, 1)})
    return {"ok": bool(alive), "alive": len(alive), "workers": alive}


def last_cron_run():
    """When the cron heartbeat job last ran on a worker (ISO text), or None."""
    from jobs.maintenance import CRON_HEARTBEAT_KEY

    try:
        value = rq.connection.get(CRON_HEARTBEAT_KEY)
    except Exception:
        return None
    return value.decode() if value else None


def serve_processes():
    """What `flask serve` says of its children (web, worker, cron), from its status file.

    {"supervised": False} when this process was not started by `flask serve`.
    "stale" means the supervisor has not written for a while (it hangs or was killed).
    """
    path = os.environ.get(supervisor.STATUS_ENV)
    if not path:
        return {"supervised": False}
    status = supervisor.read_status(path)
    if status is None:
        return {"supervised": True, "stale": True, "children": {}}
    try:
        updated = datetime.fromisoformat(status["updated_utc"])
        age = round((datetime.now(UTC) - updated).total_seconds(), 1)
    except (KeyError, TypeError, ValueError):
        age = None
    # Three missed heartbeats: the supervisor is no longer looking after its children.
    stale = age is None or age > 3 * status.get("heartbeat_seconds", 5) + 5
    return {"supervised": True, "stale": stale, "age_seconds": age,
            "redis_up": status.get("redis_up"), "children": status.get("children", {})}


def _database_folder():
    """The folder of a SQLite database file, or None for a database server."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return os.path.dirname(os.path.abspath(url.database))


def check_disk():
    """Free space where the app writes: the SQLite file, the uploads and the backups.

    One entry per file system (several folders on one disk are one entry);
    "ok" is False when any has less free than DISK_FREE_MIN_BYTES or
    DISK_FREE_MIN_PERCENT of its size, because a full disk stops SQLite, uploads
    and backups alike.
    """
    folders = {"database": _database_folder(),
               "uploads": current_app.config.get("UPLOAD_DIR"),
               "backups": current_app.config.get("BACKUP_DIR")}
    minimum = current_app.config["DISK_FREE_MIN_BYTES"]
    percent = current_app.config["DISK_FREE_MIN_PERCENT"]
    disks = {}
    for use, folder in folders.items():
        if not folder:
            continue
        path = os.fspath(folder)
        while path and not os.path.exists(path):  # a folder made on first use: its parent's disk
            path = os.path.dirname(path)
        try:
            device = os.stat(path).st_dev
            usage = shutil.disk_usage(path)
        except OSError as exc:
            disks.setdefault(path, {"uses": [], "ok": False, "error": exc.__class__.__name__})
            disks[path]["uses"].append(use)
            continue
        entry = disks.setdefault(device, {
            "path": path, "uses": [], "total_bytes": usage.total, "free_bytes": usage.free,
            "free_percent": round(100 * usage.free / usage.total, 1) if usage.total else 0.0})
        entry["ok"] = usage.free >= minimum and entry["free_percent"] >= percent
        entry["uses"].append(use)
    listed = list(disks.values())
    return {"ok": all(disk["ok"] for disk in listed), "disks": listed}


def health_report():
    """The full report and whether everything is healthy."""
    report = {"database": check_database(), "redis": check_redis()}
    if report["redis"]["ok"]:
        report["worker"] = check_workers()
        report["worker"]["last_scheduled_job_utc"] = last_cron_run()
    else:
        report["worker"] = {"ok": False, "alive": 0}
    healthy = all(part["ok"] for part in report.values())
    report["status"] = "ok" if healthy else "degraded"
    # Shown, not judged: a worker waiting for Redis is already reported (redis, worker)
    # above, and the web answering this request is running whatever the file says.
    report["processes"] = serve_processes()
    # Shown, not judged either: a late backup or a filling disk must not take the web out of
    # its load balancer; monitoring reads them here, staff on the status page.
    report["backup"] = last_backup()
    report["disk"] = check_disk()
    return report, healthy


def last_backup():
    """{"last_utc", "late"} of the backups, for monitoring (app.services.backups)."""
    from app.services import backups

    try:
        newest = backups.latest()
        return {"last_utc": newest.manifest["created_at"] if newest else None,
                "late": backups.late()}
    except Exception as exc:  # an unreadable backup folder is a fact to report, not a crash
        db.session.rollback()
        return {"last_utc": None, "late": True, "error": exc.__class__.__name__}
