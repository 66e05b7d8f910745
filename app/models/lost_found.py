"""Things left in lockers (SPEC L7)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column


class LostItemStatus(LabelledEnum):
    """Held in storage until claimed by the client or disposed of."""

    HELD = "held"
    CLAIMED = "claimed"
    DISPOSED = "disposed"

    @classmethod
    def _labels(cls):
        return {cls.HELD: _l("Held"), cls.CLAIMED: _l("Claimed"), cls.DISPOSED: _l("Disposed")}


class LostItem(TimestampMixin, db.Model):
    """An item cleaned out of a locker, kept until claimed or disposed of."""

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    locker_id = db.Column(db.ForeignKey("locker.id"), index=True)
    rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    client_id = db.Column(db.ForeignKey("client.id"), index=True)
    description = db.Column(db.String(255), nullable=False)
    photo_path = db.Column(db.String(255))
    cleaned_out_on = db.Column(db.Date, nullable=False, index=True)
    storage_place = db.Column(db.String(120))
    status = enum_column(LostItemStatus, default=LostItemStatus.HELD, index=True)
    claimed_on = db.Column(db.Date)
    disposed_on = db.Column(db.Date)
    handled_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    branch = db.relationship("Branch")
    locker = db.relationship("Locker")
    rental = db.relationship("Rental")
    client = db.relationship("Client")
    handled_by = db.relationship("User")

    def __str__(self):
        return self.description
