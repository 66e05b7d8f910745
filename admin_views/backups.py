"""The Backups page: the archives with their contents, Back up now, downloads and the
off-site copies (SPEC S4).

A Super Admin's page (permission module "backups"); the archives are made and
copied off-site by the `backups` job or `flask backup create`, never inside a
web request.
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import send_file
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin_views.base import SecuredView
from admin_views.menu import SYSTEM
from app.extensions import db
from app.extensions import rq
from app.services import audit
from app.services import backups
from app.services import settings
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import can

BACKUP_JOB_TIMEOUT = 3600
SCHEDULE_LABELS = {"daily": _l("every day"), "weekly": _l("every week"),
                   "off": _l("off (only when asked for)")}


class BackupView(SecuredView):
    """The archives, newest first; making one now, downloading one, and the off-site copies."""

    permission_module = "backups"

    @expose("/")
    def index(self):
        return self.render("admin/backups.html", backups=backups.all_backups(),
                           may_create=can(current_user, "backups", CREATE),
                           may_restore=can(current_user, "backups", EDIT),
                           schedule_label=SCHEDULE_LABELS.get(settings.get("backup_schedule")),
                           keep=settings.get("backup_keep"),
                           encryption=backups.encryption_status(),
                           offsite=backups.offsite_copies())

    def _queue(self, job, *args, started, redis_down, started_category="success"):
        """Hand `job` to a maintenance worker and say so; a large database outlasts a request."""
        try:
            rq.enqueue(job, *args, queue="maintenance", job_timeout=BACKUP_JOB_TIMEOUT)
        except Exception:
            flash(redis_down, "error")
        else:
            flash(started, started_category)
        return redirect(self.get_url(".index"))

    @expose("/now/", methods=("POST",))
    def now(self):
        """Queue a backup for a worker."""
        if not can(current_user, "backups", CREATE):
            abort(403)
        from jobs.backups import backup_now

        return self._queue(
            backup_now, current_user.id,
            started=_("The backup is being made; it appears here when it is complete and "
                      "checked."),
            redis_down=_("Redis is not reachable, so no worker can make the backup now. Run "
                         "`flask backup create` on the server, or try again when Redis is back."))

    @expose("/restore/<archive>", methods=("POST",))
    def restore(self, archive):
        """Queue the restore of an archive, after checking it may be restored here."""
        if not can(current_user, "backups", EDIT):
            abort(403)
        from jobs.backups import restore_backup

        try:
            backup = backups.find(archive)
            backups.check_restorable(backup)
        except backups.BackupError as exc:
            flash(str(exc.message), "error")
            return redirect(self.get_url(".index"))
        return self._queue(
            restore_backup, backup.name, current_user.id, started_category="warning",
            started=_("The restore has started. The current state is backed up first; the desk "
                      "shows the restored data when it is done."),
            redis_down=_("Redis is not reachable, so no worker can restore now. Run `flask "
                         "backup restore` on the server, or try again when Redis is back."))

    @expose("/offsite/", methods=("POST",))
    def offsite_now(self):
        """Queue a copy of the newest archive to the off-site targets (after fixing one)."""
        if not can(current_user, "backups", CREATE):
            abort(403)
        from jobs.backups import copy_latest_offsite

        return self._queue(
            copy_latest_offsite,
            started=_("The latest backup is being copied off-site; the result shows here when "
                      "it is done."),
            redis_down=_("Redis is not reachable, so no worker can copy the backup now. Try "
                         "again when Redis is back."))

    @expose("/download/<archive>")
    def download(self, archive):
        try:
            backup = backups.find(archive)
        except backups.BackupError:
            abort(404)
        audit.record(audit.ActivityAction.DOWNLOADED, model="Backup", object_id=backup.name,
                     summary=f"backup downloaded: {backup.name}")
        db.session.commit()
        # An encrypted archive is sent as it is: only the key opens it, wherever it goes.
        return send_file(backup.path, as_attachment=True, download_name=backup.name,
                         mimetype="application/octet-stream" if backup.encrypted
                         else "application/gzip")


def register(admin):
    """Add the Backups page to the System menu."""
    admin.add_view(BackupView(name=_l("Backups"), category=SYSTEM, endpoint="backups"))
