"""The background-jobs page: workers, queue lengths, failed jobs with "run again" (SPEC U6)."""

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
from app.services import audit
from app.services import backups
from app.services import queues
from app.services.access import EDIT
from app.services.access import can

# The queues (RQ_QUEUES) as the desk calls them.
QUEUE_LABELS = {"default": _l("Desk jobs (expiries, waitlist)"), "notifications": _l("Messages"),
                "maintenance": _l("Housekeeping")}


class QueueStatusView(SecuredView):
    """Read by whoever may read the activity log; running a job again is a Super Admin's call."""

    permission_module = "activity"

    @expose("/")
    def index(self):
        return self.render("admin/queues.html", state=queues.status(),
                           may_retry=can(current_user, "settings", EDIT),
                           queue_labels=QUEUE_LABELS, last_backup=backups.latest(),
                           backup_late=backups.late())

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
    admin.add_view(QueueStatusView(name=_l("Background jobs"), category=SYSTEM, endpoint="queues"))
