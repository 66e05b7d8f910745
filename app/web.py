"""Small non-admin routes: health check, language switch, the front door."""

from pathlib import Path

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import request
from flask import send_file
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import db
from app.services import uploads
from app.services.health import health_report

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    """Send staff to the admin, strangers to the login page."""
    return redirect(url_for("admin.index"))


@bp.get("/healthz")
def healthz():
    """JSON health of database, Redis and workers (503 when any is down) and serve's processes."""
    report, healthy = health_report()
    return jsonify(report), 200 if healthy else 503


@bp.get("/uploads/<path:relative>")
def upload(relative):
    """A stored photo, scan or signature, for staff whose role may see it."""
    permission = uploads.permission_for(relative)
    if not current_user.is_authenticated:
        return redirect(url_for("security.login", next=request.path))
    if permission is None or not current_user.has_permission(permission):
        abort(403)
    if request.args.get("thumb"):
        relative = str(Path(relative).with_name(uploads.thumbnail_of(relative).name))
    path = uploads.resolve(relative)
    if path is None:
        abort(404)
    response = send_file(path, max_age=0)
    # Never let a browser treat an upload as a page or guess another type for it.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_errorhandler(413)
def too_large(error):
    """An upload over MAX_CONTENT_LENGTH: say so and go back to the form."""
    flash(_("The file is too large (at most %(mb)d MB).",
            mb=current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024)), "error")
    return redirect(request.referrer or url_for("admin.index"))


@bp.post("/language")
def set_language():
    """Switch the interface language: saved on the user, or in the session before login."""
    locale = request.form.get("locale")
    if locale not in current_app.config["LANGUAGES"]:
        abort(400)
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    else:
        session["locale"] = locale
    target = request.referrer or url_for("admin.index")
    if not target.startswith(request.host_url):
        target = url_for("admin.index")
    return redirect(target)
