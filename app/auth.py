"""Login policy around Flask-Security: lockout, login history, 2FA, idle timeout."""


import email_validator
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_login import user_logged_out
from flask_security import logout_user
from flask_security.signals import password_changed
from flask_security.signals import user_authenticated
from flask_security.signals import user_failed_authn

from app.extensions import db
from app.extensions import security
from app.models import ActivityAction
from app.models import utcnow
from app.services import audit
from app.services.access import SUPER_ADMIN

# Pages a signed-in Super Admin without two-factor may still open.
_TWO_FACTOR_SETUP_ENDPOINTS = {"security.two_factor_setup", "security.two_factor_token_validation",
                               "security.logout", "static", "web.set_language"}


def _on_failed_login(app, user, auth_type=None, tfa=False, **extra):
    g.failed_login_recorded = True
    user.register_failed_login()
    audit.record(ActivityAction.LOGIN_FAILED, model="User", object_id=user.id,
                 summary=auth_type, user_id=user.id, user_email=user.email)
    if user.locked_until and user.failed_login_count == 0:
        audit.record(ActivityAction.LOCKED_OUT, model="User", object_id=user.id,
                     summary=user.locked_until.isoformat(timespec="minutes"),
                     user_id=user.id, user_email=user.email)
    # Flask-Security does not commit a failed login; the count must survive it.
    db.session.commit()


def _on_login(app, user, authn_via=None, **extra):
    user.failed_login_count = 0
    user.locked_until = None
    audit.record(ActivityAction.LOGIN, model="User", object_id=user.id,
                 summary=",".join(authn_via or []), user_id=user.id, user_email=user.email)
    session["last_seen"] = utcnow().timestamp()
    db.session.commit()


def _on_logout(app, user, **extra):
    if user is not None and getattr(user, "id", None):
        audit.record(ActivityAction.LOGOUT, model="User", object_id=user.id,
                     user_id=user.id, user_email=user.email)
        db.session.commit()


def _on_password_changed(app, user, **extra):
    # Flask-Security has already given the user a new fs_uniquifier, which ends
    # every other session of this account; here it is only logged.
    audit.record(ActivityAction.PASSWORD_CHANGED, model="User", object_id=user.id,
                 user_id=user.id, user_email=user.email)


def _record_other_refused_login(response):
    """Log a refused login that no signal reported: an unknown email, or a locked account."""
    if (request.endpoint == "security.login" and request.method == "POST"
            and response.status_code == 200 and not current_user.is_authenticated
            and not g.get("failed_login_recorded")):
        attempted = (request.form.get("email") or "")[:120]
        user = security.datastore.find_user(email=attempted) if attempted else None
        audit.record(ActivityAction.LOGIN_FAILED, model="User",
                     object_id=user.id if user else None,
                     summary="locked" if user and user.is_locked() else attempted,
                     user_id=user.id if user else None, user_email=attempted or None)
        db.session.commit()
    return response


def _end_idle_session():
    """Log out a session that has been idle longer than IDLE_TIMEOUT_MINUTES."""
    if not current_user.is_authenticated:
        return None
    now = utcnow().timestamp()
    last_seen = session.get("last_seen")
    limit = current_app.config["IDLE_TIMEOUT_MINUTES"] * 60
    if last_seen is not None and now - last_seen > limit:
        logout_user()
        session.pop("last_seen", None)
        flash(_("You were logged out after %(minutes)d idle minutes.",
                minutes=current_app.config["IDLE_TIMEOUT_MINUTES"]), "info")
        return redirect(url_for("security.login", next=request.path))
    # Background polling (the locker grid's live feed) is not someone using the desk.
    if request.headers.get("X-Requested-With") != "locker-grid-poll":
        session["last_seen"] = now
    session.permanent = True
    return None


def _require_super_admin_2fa():
    """With REQUIRE_2FA_FOR_SUPER_ADMIN on, a Super Admin must set up TOTP first."""
    if not current_app.config["REQUIRE_2FA_FOR_SUPER_ADMIN"]:
        return None
    if not current_user.is_authenticated or current_user.tf_primary_method:
        return None
    if not current_user.has_role(SUPER_ADMIN) or request.endpoint in _TWO_FACTOR_SETUP_ENDPOINTS:
        return None
    flash(_("Super Admins must set up two-factor authentication before continuing."), "warning")
    return redirect(url_for("security.two_factor_setup"))


def init_auth(app):
    """Connect the login policy to Flask-Security's signals and every request."""
    # Staff emails on a gym's own network are often name@gym.local (the demo
    # accounts are); email-validator refuses ".local" unless it is allowed here,
    # which its documentation says to do by editing this list.
    if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")
    user_failed_authn.connect(_on_failed_login, app)
    user_authenticated.connect(_on_login, app)
    password_changed.connect(_on_password_changed, app)
    user_logged_out.connect(_on_logout, app)
    app.before_request(_end_idle_session)
    app.before_request(_require_super_admin_2fa)
    app.after_request(_record_other_refused_login)


