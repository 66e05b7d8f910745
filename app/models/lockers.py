"""Lockers and the physical keys that open them."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import BilingualName
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class LockerSize(LabelledEnum):
    """Physical size of a locker."""

    SMALL = "s"
    MEDIUM = "m"
    LARGE = "l"

    @classmethod
    def _labels(cls):
        return {cls.SMALL: _l("Small"), cls.MEDIUM: _l("Medium"), cls.LARGE: _l("Large")}


class LockerStatus(LabelledEnum):
    """Where a locker stands in its life cycle (SPEC L3)."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    ASSIGNED = "assigned"
    EXPIRED = "expired"
    MAINTENANCE = "maintenance"
    OUT_OF_SERVICE = "out_of_service"
    CLEANING = "cleaning"

    @classmethod
    def _labels(cls):
        return {
            cls.AVAILABLE: _l("Available"),
            cls.RESERVED: _l("Reserved"),
            cls.ASSIGNED: _l("Assigned"),
            cls.EXPIRED: _l("Expired"),
            cls.MAINTENANCE: _l("Maintenance"),
            cls.OUT_OF_SERVICE: _l("Out of service"),
            cls.CLEANING: _l("Cleaning"),
        }


class KeyState(LabelledEnum):
    """Where a physical key is."""

    IN_OFFICE = "in_office"
    WITH_CLIENT = "with_client"
    LOST = "lost"
    COMPROMISED = "compromised"

    @classmethod
    def _labels(cls):
        return {
            cls.IN_OFFICE: _l("In office"),
            cls.WITH_CLIENT: _l("With client"),
            cls.LOST: _l("Lost"),
            cls.COMPROMISED: _l("Compromised"),
        }


class LockerCategory(BilingualName, TimestampMixin, db.Model):
    """A custom category beyond size (Day-use, Premium, Standard …)."""

    id = db.Column(db.Integer, primary_key=True)
    # The English name is also the category's key in the rental_prices_taka setting.
    name = db.Column(db.String(60), nullable=False, unique=True)
    name_bn = db.Column(db.String(60))
    description = db.Column(db.String(255))

    def __str__(self):
        return self.local_name


class Locker(TimestampMixin, db.Model):
    """A locker. Its number is unique within the branch (SPEC L1)."""

    __table_args__ = (db.UniqueConstraint("branch_id", "number"),)

    id = db.Column(db.Integer, primary_key=True)
    # branch_id is the zone's branch; kept here so the database itself refuses
    # a duplicate number in a branch.
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    zone_id = db.Column(db.ForeignKey("zone.id"), nullable=False, index=True)
    category_id = db.Column(db.ForeignKey("locker_category.id"), index=True)
    # Stored in capitals (app.services.lockers); indexed for a number typed at any branch's desk.
    number = db.Column(db.String(20), nullable=False, index=True)
    size = enum_column(LockerSize, default=LockerSize.MEDIUM)
    status = enum_column(LockerStatus, default=LockerStatus.AVAILABLE, index=True)
    notes = db.Column(db.String(255))
    # Set when a key is lost: nobody may rent the locker until a new key or lock is fitted.
    needs_rekey = db.Column(db.Boolean, nullable=False, default=False)

    branch = db.relationship("Branch")
    zone = db.relationship("Zone")
    category = db.relationship("LockerCategory")
    keys = db.relationship("Key", back_populates="locker", order_by="Key.tag")

    @db.validates("zone")
    def _take_branch_from_zone(self, key, zone):
        if zone is not None:
            self.branch = zone.branch
        return zone

    def __str__(self):
        return self.number


class Key(TimestampMixin, db.Model):
    """A key tag for a locker; a locker may have spares (SPEC K1)."""

    id = db.Column(db.Integer, primary_key=True)
    locker_id = db.Column(db.ForeignKey("locker.id"), nullable=False, index=True)
    tag = db.Column(db.String(40), nullable=False, unique=True)
    is_spare = db.Column(db.Boolean, nullable=False, default=False)
    state = enum_column(KeyState, default=KeyState.IN_OFFICE)
    notes = db.Column(db.String(255))

    locker = db.relationship("Locker", back_populates="keys")

    def __str__(self):
        return self.tag


class LockerStatusChange(db.Model):
    """One transition of a locker's status: who, when, why (SPEC L3)."""

    id = db.Column(db.Integer, primary_key=True)
    locker_id = db.Column(db.ForeignKey("locker.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    from_status = enum_column(LockerStatus, nullable=True, constraint_name="from_lockerstatus")
    to_status = enum_column(LockerStatus)
    reason = db.Column(db.String(255))
    changed_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    changed_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)

    locker = db.relationship("Locker", backref=db.backref(
        "status_changes", order_by="LockerStatusChange.changed_at.desc()", passive_deletes=True))
    changed_by = db.relationship("User")

    def __str__(self):
        if self.from_status is None:
            return f"{self.locker}: {self.to_status}"
        return f"{self.locker}: {self.from_status} → {self.to_status}"


class KeyEventKind(LabelledEnum):
    """What happened to a key."""

    ADDED = "added"
    ISSUED = "issued"
    RETURNED = "returned"
    LOST = "lost"
    FOUND = "found"
    COMPROMISED = "compromised"
    RETIRED = "retired"

    @classmethod
    def _labels(cls):
        return {
            cls.ADDED: _l("Added"),
            cls.ISSUED: _l("Issued to client"),
            cls.RETURNED: _l("Returned"),
            cls.LOST: _l("Reported lost"),
            cls.FOUND: _l("Found"),
            cls.COMPROMISED: _l("Marked compromised"),
            cls.RETIRED: _l("Retired"),
        }


class KeyEvent(db.Model):
    """One event in a key's history (SPEC K1)."""

    id = db.Column(db.Integer, primary_key=True)
    key_id = db.Column(db.ForeignKey("key.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = enum_column(KeyEventKind)
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), index=True)
    staff_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    note = db.Column(db.String(255))

    key = db.relationship("Key", backref=db.backref(
        "events", order_by="KeyEvent.at.desc()", passive_deletes=True))
    client = db.relationship("Client")
    staff = db.relationship("User")

    def __str__(self):
        return f"{self.key}: {self.kind}"
