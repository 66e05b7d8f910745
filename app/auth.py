"""Login policy around Flask-Security: throttling, server-side sessions, 2FA, password age."""

import hashlib
import secrets
from datetime import timedelta

import email_validator
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
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
from app.integrations import sms
from app.models import ActivityAction
from app.models import StaffSession
from app.models import utcnow
from app.services import audit
from app.services import staff
from app.services import throttle
from app.services.access import SUPER_ADMIN
from app.services.network import request_address

# Pages a signed-in Super Admin without two-factor may still open. The first
# code of a new authenticator is checked at /tf-setup/<token>
# (two_factor_setup_validate), so that step must be open too.
_TWO_FACTOR_SETUP_ENDPOINTS = {"security.two_factor_setup", "security.two_factor_setup_validate",
                               "security.two_factor_token_validation", "security.logout",
                               "static", "web.set_language"}
# Pages someone whose password has expired may still open: the change itself.
_PASSWORD_CHANGE_ENDPOINTS = {"security.change_password", "security.logout", "static",
                              "web.set_language"}
_CODE_ENDPOINTS = {"security.two_factor_token_validation", "security.two_factor_setup_validate"}
# A session's last-seen time is written at most this often (not on every click).
_LAST_SEEN_EVERY = timedelta(seconds=60)
_SESSION_KEY = "desk_session"


def _address():
    return request_address() or "unknown"


def _attempted_email():
    return (request.form.get("email") or "").strip()[:255]


# --- failed attempts ---------------------------------------------------------------

def _too_many_attempts(minutes):
    """The one answer to a throttled attempt, whatever password or code was sent."""
    message = _("Too many failed attempts. Try again after %(minutes)d minutes.", minutes=minutes)
    response = current_app.make_response(
        (render_template("security/too_many_attempts.html", message=message), 429))
    response.headers["Retry-After"] = str(minutes * 60)
    return response


def _too_many_requests(error):
    """Flask-Limiter's refusal of a public page, in the desk's language."""
    message = _("Too many requests from this computer. Wait a minute and try again.")
    response = current_app.make_response(
        (render_template("security/too_many_attempts.html", message=message), 429))
    response.headers["Retry-After"] = "60"
    return response


def _refuse_throttled_attempt():
    """Refuse a login or code while its counter is exhausted, before checking the secret."""
    if request.method != "POST":
        return None
    if request.endpoint == "security.login":
        email = _attempted_email()
        minutes = throttle.login_refused_for(email, _address())
        user = security.datastore.find_user(email=email) if email and minutes else None
    elif request.endpoint in _CODE_ENDPOINTS:
        # Between password and code, Flask-Security keeps the person's fs_uniquifier.
        pending = session.get("tf_user_id")
        user = (security.datastore.find_user(fs_uniquifier=pending) if pending
                else current_user if current_user.is_authenticated else None)
        minutes = throttle.code_refused_for(user.id, _address()) if user is not None else None
    else:
        return None
    if minutes is None:
        return None
    g.failed_login_recorded = True
    audit.record(ActivityAction.LOGIN_FAILED, model="User", object_id=user.id if user else None,
                 summary="locked", user_id=user.id if user else None,
                 user_email=user.email if user else None)
    db.session.commit()
    return _too_many_attempts(minutes)


def _on_failed_login(app, user, auth_type=None, tfa=False, **extra):
    g.failed_login_recorded = True
    address = _address()
    locked = (throttle.code_failed(user.id, address) if tfa
              else throttle.login_failed(user.email, address))
    audit.record(ActivityAction.LOGIN_FAILED, model="User", object_id=user.id,
                 summary=auth_type, user_id=user.id, user_email=user.email)
    if locked:
        audit.record(ActivityAction.LOCKED_OUT, model="User", object_id=user.id,
                     summary=address, user_id=user.id, user_email=user.email)
    db.session.commit()


def _record_other_refused_login(response):
    """Count and log a refused login that no signal reported: an email that is no account.

    What was typed is not stored: people type a password into the email box by
    mistake, and the activity log is read by managers.
    """
    if (request.endpoint == "security.login" and request.method == "POST"
            and response.status_code == 200 and not current_user.is_authenticated
            and not g.get("failed_login_recorded")):
        attempted = _attempted_email()
        if attempted:
            throttle.login_failed(attempted, _address())
        audit.record(ActivityAction.LOGIN_FAILED, model="User", summary="unknown account")
        db.session.commit()
    return response


# --- sessions ------------------------------------------------------------------------

def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _on_login(app, user, authn_via=None, **extra):
    throttle.login_succeeded(user.email, _address())
    audit.record(ActivityAction.LOGIN, model="User", object_id=user.id,
                 summary=",".join(authn_via or []), user_id=user.id, user_email=user.email)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(StaffSession(token_hash=_token_hash(token), user_id=user.id, started_at=now,
                                last_seen_at=now, address=request_address(),
                                user_agent=(request.user_agent.string or "")[:255] or None))
    session[_SESSION_KEY] = token
    db.session.commit()


def _current_staff_session():
    token = session.get(_SESSION_KEY)
    if not token:
        return None
    return db.session.execute(
        db.select(StaffSession).where(StaffSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()


def _on_logout(app, user, **extra):
    desk_session = _current_staff_session()
    if desk_session is not None and desk_session.ended_at is None:
        desk_session.ended_at = utcnow()
    session.pop(_SESSION_KEY, None)
    if user is not None and getattr(user, "id", None):
        audit.record(ActivityAction.LOGOUT, model="User", object_id=user.id,
                     user_id=user.id, user_email=user.email)
    db.session.commit()


def _on_password_changed(app, user, **extra):
    # Flask-Security has already given the user a new fs_uniquifier, which ends
    # every other session of this account; here it is remembered and logged.
    staff.password_was_set(user)
    audit.record(ActivityAction.PASSWORD_CHANGED, model="User", object_id=user.id,
                 user_id=user.id, user_email=user.email)
    db.session.commit()


def _end_stale_session():
    """Sign out a browser whose server-side session is over: logged out, idle, or unknown.

    The cookie alone proves nothing after a logout (a copy of it would still be
    signed correctly), so every signed-in request must match a live session row.
    """
    if not current_user.is_authenticated:
        return None
    desk_session = _current_staff_session()
    now = utcnow()
    idle_limit = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
    idle = desk_session is not None and now - desk_session.last_seen_at > idle_limit
    if desk_session is None or desk_session.ended_at is not None or \
            desk_session.user_id != current_user.id or idle:
        if desk_session is not None and desk_session.ended_at is None:
            desk_session.ended_at = now
            db.session.commit()
        logout_user()
        session.pop(_SESSION_KEY, None)
        if idle:
            flash(_("You were logged out after %(minutes)d idle minutes.",
                    minutes=current_app.config["IDLE_TIMEOUT_MINUTES"]), "info")
        else:
            flash(_("Your session has ended. Please log in again."), "info")
        return redirect(url_for("security.login", next=request.path))
    # Background polling (the locker grid's live feed) is not someone using the desk.
    polling = request.headers.get("X-Requested-With") == "locker-grid-poll"
    if not polling and now - desk_session.last_seen_at >= _LAST_SEEN_EVERY:
        desk_session.last_seen_at = now
        db.session.commit()
    session.permanent = True
    return None


# --- what a signed-in person must do first --------------------------------------------

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


def _require_fresh_password():
    """An expired password (password_max_age_days) must be changed before anything else."""
    if not current_user.is_authenticated or request.endpoint in _PASSWORD_CHANGE_ENDPOINTS:
        return None
    if not staff.password_expired(current_user):
        return None
    flash(_("Your password has expired. Choose a new one to continue."), "warning")
    return redirect(url_for("security.change_password"))


def init_auth(app):
    """Connect the login policy to Flask-Security's signals and every request."""
    # Staff emails on a gym's own network are often name@gym.local (the demo
    # accounts are); email-validator refuses ".local" unless it is allowed here,
    # which its documentation says to do by editing this list.
    if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")
    sms.install_login_codes()
    user_failed_authn.connect(_on_failed_login, app)
    user_authenticated.connect(_on_login, app)
    password_changed.connect(_on_password_changed, app)
    user_logged_out.connect(_on_logout, app)
    app.before_request(_refuse_throttled_attempt)
    app.before_request(_end_stale_session)
    app.before_request(_require_super_admin_2fa)
    app.before_request(_require_fresh_password)
    app.after_request(_record_other_refused_login)
    app.register_error_handler(429, _too_many_requests)
