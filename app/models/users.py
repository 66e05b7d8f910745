"""Staff accounts (Flask-Security fsqla models) with a language and a branch."""

from datetime import timedelta

from flask import current_app
from flask import flash
from flask import has_request_context
from flask_babel import gettext as _
from flask_security.models import fsqla_v3 as fsqla

from app.extensions import db
from app.models.base import utcnow

fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    """A staff role; its `permissions` are `<module>-<action>` strings."""

    def __str__(self):
        return self.name


class User(db.Model, fsqla.FsUserMixin):
    """A staff member who logs in to the desk."""

    full_name = db.Column(db.String(120))
    locale = db.Column(db.String(5), nullable=False, default="bn")
    # None means every branch; otherwise lists, forms and counts show this branch only.
    branch_id = db.Column(db.ForeignKey("branch.id"), index=True)
    failed_login_count = db.Column(db.Integer, nullable=False, default=0)
    locked_until = db.Column(db.DateTime)

    branch = db.relationship("Branch")

    def is_locked(self, form_error=None):
        """True while a lockout from repeated wrong passwords is running.

        Flask-Security calls this after the password was checked, so a correct
        password during the lockout is refused too. The message is flashed rather
        than put on the form: with generic responses on (so the login page never
        reveals which emails are staff) Flask-Security replaces field errors.
        """
        if self.locked_until is None or self.locked_until <= utcnow():
            return False
        if has_request_context():
            flash(_("Too many failed attempts. Try again after %(minutes)d minutes.",
                    minutes=self.lockout_minutes_left()), "error")
        return True

    def lockout_minutes_left(self):
        """Whole minutes until the lockout ends (at least 1)."""
        seconds = (self.locked_until - utcnow()).total_seconds()
        return max(1, int(seconds // 60) + (1 if seconds % 60 else 0))

    def register_failed_login(self):
        """Count a wrong password; the LOCKOUT_ATTEMPTS-th one starts a lockout."""
        self.failed_login_count = (self.failed_login_count or 0) + 1
        if self.failed_login_count >= current_app.config["LOCKOUT_ATTEMPTS"]:
            self.locked_until = utcnow() + timedelta(
                minutes=current_app.config["LOCKOUT_MINUTES"]
            )
            self.failed_login_count = 0

    def __str__(self):
        return self.full_name or self.email


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
    """Required by the fsqla v3 user model; passkeys are not enabled."""
