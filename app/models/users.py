"""Staff accounts (Flask-Security fsqla models) with a language, a theme and a branch."""

from flask_babel import lazy_gettext as _l
from flask_security.datastore import AsaList
from flask_security.models import fsqla_v3 as fsqla

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import utcnow

# Flask-Security's role permission list keeps no state of its own, so statements using
# it may be cached; unset, SQLAlchemy warns on the first such query and compiles afresh.
AsaList.cache_ok = True

fsqla.FsModels.set_db_info(db)


class Theme(LabelledEnum):
    """The look a staff member chose for the desk (SPEC U2)."""

    LIGHT = "light"
    DARK = "dark"

    @classmethod
    def _labels(cls):
        return {cls.LIGHT: _l("Light mode"), cls.DARK: _l("Dark mode")}


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
    # When the current password was set; with the password_max_age_days setting
    # on, an older one must be changed at the next sign-in (SPEC S1).
    password_changed_at = db.Column(db.DateTime)
    # Stored as "light"/"dark" (the values, unlike enum_column's names): the switch posts
    # them and the page names them. An Enum type all the same, so the activity log shows a
    # change of theme by its translated label.
    theme = db.Column(
        db.Enum(Theme, native_enum=False, create_constraint=False, length=24,
                validate_strings=True, values_callable=lambda members: [m.value for m in members]),
        nullable=False, default=Theme.LIGHT)

    branch = db.relationship("Branch")

    def __str__(self):
        return self.full_name or self.email


class PasswordHistory(db.Model):
    """A password hash a staff member has used, so the last few are not used again."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    password = db.Column(db.String(255), nullable=False)
    set_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class StaffSession(db.Model):
    """One signed-in browser, known on the server so that logging out really ends it.

    The browser's cookie carries a random token; only its hash is stored. A
    copied cookie stops working when the session ends: on logging out, after the
    idle timeout, or when the password changes.
    """

    id = db.Column(db.Integer, primary_key=True)
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    user_id = db.Column(db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    started_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    ended_at = db.Column(db.DateTime)
    address = db.Column(db.String(45))
    user_agent = db.Column(db.String(255))


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
    """Required by the fsqla v3 user model; passkeys are not enabled."""
