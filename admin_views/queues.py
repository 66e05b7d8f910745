"""The system status page: database, Redis, workers, schedule, backups, disks, failed jobs (SPEC U6)."""

from datetime import datetime
from datetime import timedelta

from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin_views.base import SecuredView
from admin_views.menu import SYSTEM
from app.extensions import db
from app.models import utcnow
from app.services import audit
from app.services import backups
from app.services import health
from app.services import queues
from app.services.access import EDIT
from app.services.access import can

# The queues (RQ_QUEUES) as the desk calls them.
QUEUE_LABELS = {"default": _l("Desk jobs (expiries, waitlist)"), "notifications": _l("Messages"),
                "maintenance": _l("Housekeeping")}


DISK_USES = {"database": _l("database"), "uploads": _l("photos and scans"),
             "backups": _l("backups")}
CRON_LATE = timedelta(minutes=5)


def _parsed(iso_text):
    """The cron heartbeat's ISO time as a naive UTC datetime, or None."""
    try:
        return datetime.fromisoformat(iso_text).replace(tzinfo=None) if iso_text else None
    except ValueError:
        return None


class QueueStatusView(SecuredView):
    """Read by whoever may read the activity log; running a job again is a Super Admin's call."""

    permission_module = "activity"

    @expose("/")
    def index(self):
        state = queues.status()
        last_cron = _parsed(state.last_cron_run)
        return self.render("admin/queues.html", state=state,
                           may_retry=can(current_user, "settings", EDIT),
                           queue_labels=QUEUE_LABELS, last_backup=backups.latest(),
                           backup_late=backups.late(), database=health.check_database(),
                           database_name=backups.DATABASE_NAMES.get(backups.database_kind()),
                           schema=backups.schema_revision(), disk=health.check_disk(),
                           disk_uses=DISK_USES, last_cron=last_cron,
                           # The schedule ticks every minute: five missed ticks mean it stopped.
                           cron_late=last_cron is None or utcnow() - last_cron > CRON_LATE)

    @expose("/retry/", methods=("POST",))
    def retry(self):
        if not can(current_user, "settings", EDIT):
            abort(403)
        queue = request.form.get("queue", "")
        job_id = request.form.get("job_id", "")[:64]
        if queue not in current_app.config["RQ_QUEUES"]:
            abort(400)
        try:
            retried = queues.retry(queue, job_id)
        except Exception:
            flash(_("Redis is not reachable; try again when it is back."), "error")
            return redirect(self.get_url(".index"))
        if retried:
            audit.record(audit.ActivityAction.UPDATE, model="Job", object_id=job_id,
                         summary=f"failed job run again on queue {queue}")
            db.session.commit()
            flash(_("The job is queued again."), "success")
        else:
            flash(_("That job is not among the failed ones any more."), "warning")
        return redirect(self.get_url(".index"))


def register(admin):
    """Add the background-jobs page to the System menu."""
    admin.add_view(QueueStatusView(name=_l("System status"), category=SYSTEM, endpoint="queues"))
