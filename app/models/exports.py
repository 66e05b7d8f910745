"""Files exported for a member of staff, built by a worker (SPEC Rep4, "My exports")."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import JSONText
from app.models.base import LabelledEnum
from app.models.base import enum_column
from app.models.base import utcnow


class ExportStatus(LabelledEnum):
    """Where an export is on its way to the download list."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"

    @classmethod
    def _labels(cls):
        return {cls.QUEUED: _l("Waiting for a worker"), cls.RUNNING: _l("Being written"),
                cls.READY: _l("Ready to download"), cls.FAILED: _l("Failed"),
                cls.EXPIRED: _l("Expired")}


class ExportFile(db.Model):
    """One export a user asked for that was too large to build in the request.

    `source` names what is exported ("list:clients", a list with the filters,
    search and sort in `params`; "report:collections", a report with its
    parameters) so the worker builds exactly what the screen showed, through
    the same code, as the user who asked.
    """

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False)
    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="SET NULL"))
    title = db.Column(db.String(200), nullable=False)
    source = db.Column(db.String(80), nullable=False)
    params = db.Column(JSONText)
    kind = db.Column(db.String(8), nullable=False)  # csv, xlsx, pdf
    status = enum_column(ExportStatus, default=ExportStatus.QUEUED)
    rows_done = db.Column(db.Integer, nullable=False, default=0)
    rows_expected = db.Column(db.Integer)
    file_name = db.Column(db.String(255), nullable=False)
    stored_as = db.Column(db.String(255))
    size_bytes = db.Column(db.BigInteger)
    error = db.Column(db.String(255))
    requested_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    finished_at = db.Column(db.DateTime)
    expires_at = db.Column(db.DateTime, nullable=False, index=True)

    # "My exports" is each user's list, newest first.
    __table_args__ = (db.Index("ix_export_file_user_requested", "user_id", "requested_at"),)

    user = db.relationship("User")

    def __str__(self):
        return self.file_name


class ReportFrequency(LabelledEnum):
    """How often a scheduled report is emailed."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @classmethod
    def _labels(cls):
        return {cls.DAILY: _l("Every day"), cls.WEEKLY: _l("Every week"),
                cls.MONTHLY: _l("Every month")}


class ReportSchedule(db.Model):
    """A report a member of staff has emailed to them (SPEC Rep, scheduled reports).

    Each sending covers the period just ended at the user's branch: yesterday,
    the last seven days, or last month; `params` keeps the report's branch and
    zone. `next_run_at` (UTC) is when it is due next; a worker claims it by
    moving it on, so two workers never send one twice.
    """

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    report_key = db.Column(db.String(40), nullable=False)
    params = db.Column(JSONText)
    frequency = enum_column(ReportFrequency)
    kind = db.Column(db.String(8), nullable=False, default="xlsx")
    next_run_at = db.Column(db.DateTime, nullable=False, index=True)
    last_sent_at = db.Column(db.DateTime)
    last_error = db.Column(db.String(255))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    user = db.relationship("User")

    def __str__(self):
        return f"{self.report_key} ({self.frequency.value})"
