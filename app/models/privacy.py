"""A client's request that the gym delete their personal data (SPEC S5)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import enum_column
from app.models.base import utcnow


class Requester(LabelledEnum):
    """Who asked for the data to be deleted."""

    CLIENT = "client"
    REPRESENTATIVE = "representative"  # someone on the client's behalf (family, a lawyer)

    @classmethod
    def _labels(cls):
        return {cls.CLIENT: _l("The client"),
                cls.REPRESENTATIVE: _l("Someone on the client's behalf")}


class RequestChannel(LabelledEnum):
    """How the request reached the gym."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"

    @classmethod
    def _labels(cls):
        return {cls.IN_PERSON: _l("In person at the desk"), cls.PHONE: _l("By phone"),
                cls.EMAIL: _l("By email"), cls.LETTER: _l("By letter")}


class DeletionStatus(LabelledEnum):
    """Pending until the client is anonymised (once) or a manager cancels it."""

    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {cls.PENDING: _l("Pending"), cls.DONE: _l("Anonymised"),
                cls.CANCELLED: _l("Cancelled")}


class DeletionRequest(db.Model):
    """A deletion request: who asked, when and how, and what became of it.

    The row stays after the client is anonymised: it is the gym's proof that
    the request was honoured, and says when. Only the name of a representative
    is personal, and it is removed with the client's data.
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    requested_by = enum_column(Requester, default=Requester.CLIENT)
    representative = db.Column(db.String(120))
    received_via = enum_column(RequestChannel, default=RequestChannel.IN_PERSON)
    # The branch day the client asked; the retention period counts from it.
    requested_on = db.Column(db.Date, nullable=False)
    recorded_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    recorded_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    status = enum_column(DeletionStatus, default=DeletionStatus.PENDING, index=True)
    anonymised_at = db.Column(db.DateTime)
    cancelled_at = db.Column(db.DateTime)
    cancelled_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    cancel_reason = db.Column(db.String(255))

    branch = db.relationship("Branch")
    client = db.relationship("Client")
    recorded_by = db.relationship("User", foreign_keys=[recorded_by_id])
    cancelled_by = db.relationship("User", foreign_keys=[cancelled_by_id])

    def __str__(self):
        # Never the client's name: the activity log keeps this text after anonymisation.
        return f"#{self.id} · client #{self.client_id}"
