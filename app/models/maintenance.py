"""Maintenance tickets for lockers, one-off or on a schedule (SPEC L6)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class TicketPriority(LabelledEnum):
    """How soon a ticket needs attention; URGENT can take the locker out of use."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @classmethod
    def _labels(cls):
        return {cls.LOW: _l("Low"), cls.NORMAL: _l("Normal"), cls.HIGH: _l("High"),
                cls.URGENT: _l("Urgent")}


class TicketStatus(LabelledEnum):
    """Open → In progress → Resolved."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"

    @classmethod
    def _labels(cls):
        return {cls.OPEN: _l("Open"), cls.IN_PROGRESS: _l("In progress"),
                cls.RESOLVED: _l("Resolved")}


class MaintenanceTicket(TimestampMixin, db.Model):
    """Work on a locker: a repair, damage by a client, or scheduled upkeep.

    A scheduled ticket has `due_on`; one with `repeat_every_days` opens its
    successor when it is resolved.
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    locker_id = db.Column(db.ForeignKey("locker.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), index=True)  # damage caused by a client
    description = db.Column(db.Text, nullable=False)
    photo_path = db.Column(db.String(255))
    priority = enum_column(TicketPriority, default=TicketPriority.NORMAL, index=True)
    status = enum_column(TicketStatus, default=TicketStatus.OPEN, index=True)
    assignee_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    opened_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    cost_poisha = db.Column(db.BigInteger, nullable=False, default=0)
    opened_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    due_on = db.Column(db.Date, index=True)
    repeat_every_days = db.Column(db.Integer)
    resolved_at = db.Column(db.DateTime)
    resolution = db.Column(db.String(255))

    __table_args__ = (db.CheckConstraint("cost_poisha >= 0", name="cost_not_negative"),)

    branch = db.relationship("Branch")
    locker = db.relationship("Locker", backref=db.backref(
        "tickets", order_by="MaintenanceTicket.opened_at.desc()"))
    client = db.relationship("Client")
    assignee = db.relationship("User", foreign_keys=[assignee_id])
    opened_by = db.relationship("User", foreign_keys=[opened_by_id])

    def __str__(self):
        return f"#{self.id} {self.locker}: {self.description[:40]}"
