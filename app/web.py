"""Small non-admin routes: health check, language and theme switches, the front door."""

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import send_file
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.models.users import Theme
from app.services import uploads
from app.services.health import health_report

bp = Blueprint("web", __name__)
# The session key of the values kept from a form whose session expired.
KEPT_FORM = "kept_form"


@bp.get("/")
def index():
    """Send staff to the admin, strangers to the login page."""
    return redirect(url_for("admin.index"))


@bp.get("/healthz")
def healthz():
    """JSON health of database, Redis and workers (503 when any is down) and serve's processes."""
    report, healthy = health_report()
    return jsonify(report), 200 if healthy else 503


@bp.get("/favicon.ico")
def favicon():
    """The tab's icon, where a browser looks for it without asking the page."""
    return current_app.send_static_file("favicon.ico")


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


# What each error page says; the page is built in the admin's look (templates/errors/).
ERRORS = {
    400: (_l("The request could not be understood"),
          _l("Something in what was sent is not right. Go back and try again.")),
    403: (_l("Not allowed"), _l("Your role may not open this page.")),
    404: (_l("Page not found"), _l("This page or record does not exist (any more).")),
    405: (_l("Not possible here"), _l("This page cannot be used this way.")),
    500: (_l("Something went wrong"),
          _l("The desk could not finish this. Nothing more was changed; try again, "
             "and tell the manager if it happens again.")),
}
SESSION_EXPIRED = _l("Your session expired; check and submit again.")
# Typed values are kept in the session cookie for the form shown again, so only small forms.
KEPT_FORM_LIMIT = 2000


def _error_page(code, headers=None):
    """The error page for `code`: in the admin's look, or plain if that cannot be built."""
    title, message = ERRORS[code]
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=str(message)), code, headers or {}
    context = {"title": title, "message": message, "code": code}
    try:
        admin = current_app.extensions["admin"][0]
        body = admin.index_view.render("errors/error.html", **context)
    except Exception:
        # The page with the menu needs the database; a 500 may be the database failing.
        current_app.logger.exception("error page %s", code)
        db.session.rollback()
        body = render_template("errors/plain.html", **context)
    return body, code, headers or {}


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
@bp.app_errorhandler(500)
def error_page(error):
    """Bad request, forbidden, not found, server error: said in the reader's language."""
    code = getattr(error, "code", None) if isinstance(error, HTTPException) else 500
    return _error_page(code if code in ERRORS else 500)


@bp.app_errorhandler(405)
def method_not_allowed(error):
    """A method the URL does not take; the Allow header still says which it does."""
    return _error_page(405, {"Allow": ", ".join(error.valid_methods or [])})


@bp.app_errorhandler(CSRFError)
def session_expired(error):
    """A form sent with a stale or missing CSRF token: back to the form, values kept.

    It happens when the session ended while the form was open (the idle
    timeout). Nothing is done with what was sent; the form's page is shown
    again (after signing in, if the session is gone) with what was typed,
    except passwords and files, so it can be checked and sent again.
    """
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(error=str(SESSION_EXPIRED)), 400
    target = request.referrer or ""
    if not target.startswith(request.host_url):
        # No page to go back to: the address the form was sent to, if it shows a page.
        shows_page = request.url_rule is not None and "GET" in request.url_rule.methods
        target = request.full_path.rstrip("?") if shows_page else url_for("admin.index")
    kept = [(name, value) for name, value in request.form.items(multi=True)
            if name != "csrf_token" and "password" not in name.lower()]
    if kept and len(repr(kept)) <= KEPT_FORM_LIMIT:
        session[KEPT_FORM] = {"page": urlsplit(target).path, "values": kept}
    flash(str(SESSION_EXPIRED), "warning")
    return redirect(target, code=303)


def kept_form_values(path):
    """The values typed into a form whose session expired, once, if `path` is its page."""
    kept = session.get(KEPT_FORM)
    if not kept or kept.get("page") != path:
        return None
    session.pop(KEPT_FORM, None)
    return MultiDict([tuple(pair) for pair in kept.get("values") or []])


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


@bp.post("/theme")
def set_theme():
    """Switch between light and dark mode: saved on the user, back to the same page.

    Only for a signed-in user: before signing in the page follows the computer's
    own light or dark preference, so there is nothing to keep.
    """
    if not current_user.is_authenticated:
        return redirect(url_for("security.login"))
    try:
        theme = Theme(request.form.get("theme"))
    except ValueError:
        abort(400)
    current_user.theme = theme
    db.session.commit()
    target = request.referrer or url_for("admin.index")
    if not target.startswith(request.host_url):
        target = url_for("admin.index")
    return redirect(target)
