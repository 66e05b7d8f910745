"""A client's hold on a locker for a term."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class RentalTerm(LabelledEnum):
    """Duration presets (SPEC R2); CUSTOM uses the rental's own day count."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"
    CUSTOM = "custom"

    @classmethod
    def _labels(cls):
        return {
            cls.DAILY: _l("Daily"),
            cls.WEEKLY: _l("Weekly"),
            cls.MONTHLY: _l("Monthly"),
            cls.QUARTERLY: _l("Quarterly"),
            cls.HALF_YEARLY: _l("Half-yearly"),
            cls.YEARLY: _l("Yearly"),
            cls.CUSTOM: _l("Custom"),
        }

    @property
    def days(self):
        """Length of a preset term in days; None for CUSTOM."""
        return {
            RentalTerm.DAILY: 1,
            RentalTerm.WEEKLY: 7,
            RentalTerm.MONTHLY: 30,
            RentalTerm.QUARTERLY: 90,
            RentalTerm.HALF_YEARLY: 182,
            RentalTerm.YEARLY: 365,
        }.get(self)


class RentalStatus(LabelledEnum):
    """Where a rental stands."""

    RESERVED = "reserved"
    ACTIVE = "active"
    EXPIRED = "expired"
    RELEASED = "released"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {
            cls.RESERVED: _l("Reserved"),
            cls.ACTIVE: _l("Active"),
            cls.EXPIRED: _l("Expired"),
            cls.RELEASED: _l("Released"),
            cls.ABANDONED: _l("Abandoned"),
            cls.CANCELLED: _l("Cancelled"),
        }


class Rental(TimestampMixin, db.Model):
    """A client renting a locker from `starts_at` until `ends_at` (UTC).

    A renewal is a new Rental row pointing at the one it renews, so every term
    keeps its own dates and price (the history of terms, SPEC R3).
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    locker_id = db.Column(db.ForeignKey("locker.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False)
    term = enum_column(RentalTerm, default=RentalTerm.MONTHLY)
    days = db.Column(db.Integer, nullable=False)
    starts_at = db.Column(db.DateTime, nullable=False, index=True)
    ends_at = db.Column(db.DateTime, nullable=False, index=True)
    status = enum_column(RentalStatus, default=RentalStatus.ACTIVE, index=True)
    price_poisha = db.Column(db.BigInteger, nullable=False, default=0)
    created_by_id = db.Column(db.ForeignKey("user.id"))
    # The locker's id while this rental holds it (Reserved, Active, Expired), else NULL.
    # UNIQUE: the database itself refuses two rentals holding one locker, on all
    # three databases (NULLs never clash), whatever the application does.
    holding_locker_id = db.Column(db.Integer, unique=True)
    reserved_until = db.Column(db.DateTime)
    renewed_from_id = db.Column(db.ForeignKey("rental.id"), index=True)
    ended_at = db.Column(db.DateTime)

    # A branch's desk reads its newest rentals first (the list's default order); the grid reads
    # what the holder of each locker owes on it (one client's rentals of one locker).
    __table_args__ = (db.Index("ix_rental_branch_starts_at", "branch_id", "starts_at"),
                      # Terms ending in a range at a branch (renewal rates, inactive clients).
                      db.Index("ix_rental_branch_ends_at", "branch_id", "ends_at"),
                      # Rentals given back after their term's end (time on lockers).
                      db.Index("ix_rental_ended_at", "ended_at"),
                      db.Index("ix_rental_locker_client", "locker_id", "client_id"),
                      # A client's rentals newest first (their profile), a page at a time.
                      db.Index("ix_rental_client_starts_at", "client_id", "starts_at"))

    branch = db.relationship("Branch")
    locker = db.relationship("Locker")
    client = db.relationship("Client")
    created_by = db.relationship("User")
    renewed_from = db.relationship("Rental", remote_side=[id])

    def __str__(self):
        return f"#{self.id} {self.locker} · {self.client.full_name if self.client else ''}"


class RentalStatusChange(db.Model):
    """Every status a rental went through, with who and why (SPEC R6)."""

    id = db.Column(db.Integer, primary_key=True)
    rental_id = db.Column(db.ForeignKey("rental.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    from_status = enum_column(RentalStatus, nullable=True, constraint_name="from_rentalstatus")
    to_status = enum_column(RentalStatus)
    reason = db.Column(db.String(255))
    changed_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    changed_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)

    rental = db.relationship("Rental", backref=db.backref(
        "status_changes", order_by="RentalStatusChange.id", passive_deletes=True))
    changed_by = db.relationship("User")

    def __str__(self):
        if self.from_status is None:
            return f"#{self.rental_id}: {self.to_status}"
        return f"#{self.rental_id}: {self.from_status} → {self.to_status}"
