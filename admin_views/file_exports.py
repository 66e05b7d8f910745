"""What a list's and a report's export screens share: handing a big file to a worker, logging one.

A file too large for a request is recorded for the user and written by a
worker (app.services.export_files); one made in the request is a copy of
business data leaving the desk, said in the activity log as a download.
"""

from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.models import ActivityAction
from app.services import audit
from app.services import export_files
from app.services.export_files import ExportRefused


def queue_for_worker(*, source, kind, args, title, file_name, rows, back):
    """Ask a worker for the file; the answer sends the user to My exports (or `back`, refused)."""
    try:
        export_files.request_export(
            current_user, source=source, kind=kind,
            params={"path": request.path, "args": args}, title=title, file_name=file_name,
            rows_expected=rows)
    except ExportRefused as refusal:
        flash(str(refusal.message), "error")
        return redirect(back)
    flash(_("The file is being written; it appears in My exports when it is ready."), "success")
    return redirect(url_for("my_exports.index"))


def log_download(model, file_name, branch_id):
    """Record a file made in the request in the activity log, committed before it is sent."""
    audit.record(ActivityAction.DOWNLOADED, model=model, summary=file_name, branch_id=branch_id)
    db.session.commit()
