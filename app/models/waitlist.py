"""Clients waiting for a locker of a zone and size."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.lockers import LockerSize


class WaitlistStatus(LabelledEnum):
    """Where a waiting client stands."""

    WAITING = "waiting"
    OFFERED = "offered"      # a locker is reserved for them until offer_expires_at
    ACCEPTED = "accepted"
    SKIPPED = "skipped"      # passed over by staff (with a reason)
    LAPSED = "lapsed"        # did not take the offer in time
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {cls.WAITING: _l("Waiting"), cls.OFFERED: _l("Offered"),
                cls.ACCEPTED: _l("Accepted"), cls.SKIPPED: _l("Skipped"),
                cls.LAPSED: _l("Lapsed"), cls.CANCELLED: _l("Cancelled")}


class WaitlistEntry(db.Model):
    """A client in line for a zone (and optionally a size); first come, first offered."""

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    zone_id = db.Column(db.ForeignKey("zone.id"), nullable=False, index=True)
    size = enum_column(LockerSize, nullable=True)
    status = enum_column(WaitlistStatus, default=WaitlistStatus.WAITING, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    created_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    offered_rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    offer_expires_at = db.Column(db.DateTime)
    note = db.Column(db.String(255))

    branch = db.relationship("Branch")
    client = db.relationship("Client")
    zone = db.relationship("Zone")
    offered_rental = db.relationship("Rental")
    created_by = db.relationship("User")

    def __str__(self):
        return f"{self.client} · {self.zone}"
