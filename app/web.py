"""Small non-admin routes: health check, language switch, the front door."""

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user

from app.extensions import db
from app.services.health import health_report

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    """Send staff to the admin, strangers to the login page."""
    return redirect(url_for("admin.index"))


@bp.get("/healthz")
def healthz():
    """JSON health of database, Redis and workers; 503 when any is down."""
    report, healthy = health_report()
    return jsonify(report), 200 if healthy else 503


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
