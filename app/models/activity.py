"""The activity log: who did what, when, from where (SPEC S3)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import JSONText
from app.models.base import LabelledEnum
from app.models.base import enum_column
from app.models.base import utcnow


class ActivityAction(LabelledEnum):
    """What kind of event a log entry records."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    LOCKED_OUT = "locked_out"
    PASSWORD_CHANGED = "password_changed"
    # A copy of business data left the desk (a backup downloaded).
    DOWNLOADED = "downloaded"

    @classmethod
    def _labels(cls):
        return {
            cls.CREATE: _l("Created"),
            cls.UPDATE: _l("Updated"),
            cls.DELETE: _l("Deleted"),
            cls.LOGIN: _l("Logged in"),
            cls.LOGIN_FAILED: _l("Failed login"),
            cls.LOGOUT: _l("Logged out"),
            cls.LOCKED_OUT: _l("Locked out"),
            cls.PASSWORD_CHANGED: _l("Password changed"),
            cls.DOWNLOADED: _l("Downloaded"),
        }


class ActivityLog(db.Model):
    """One recorded event. Rows are only ever inserted."""

    id = db.Column(db.Integer, primary_key=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    user_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # Kept as text too: the log must still say who it was if the account goes.
    user_email = db.Column(db.String(255), index=True)
    action = enum_column(ActivityAction, index=True)
    model = db.Column(db.String(60), index=True)
    object_id = db.Column(db.String(64))
    summary = db.Column(db.String(255))
    # {"field": [before, after]} for updates, {"field": value} for create/delete.
    changes = db.Column(JSONText)
    ip = db.Column(db.String(64))
    user_agent = db.Column(db.String(255))
    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="SET NULL"), index=True)

    # The log is read newest first, per branch, and per record ("what happened to client 42").
    __table_args__ = (db.Index("ix_activity_log_branch_at", "branch_id", "at"),
                      db.Index("ix_activity_log_model_object", "model", "object_id"))

    user = db.relationship("User")
    branch = db.relationship("Branch")
