"""Where lockers stand: branch → floor → zone."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import BilingualName
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column


class ZoneKind(LabelledEnum):
    """Who may use a zone; it drives the gender check when a locker is assigned."""

    MEN = "men"
    WOMEN = "women"
    FAMILY = "family"
    STAFF = "staff"
    VIP = "vip"

    @classmethod
    def _labels(cls):
        return {
            cls.MEN: _l("Men"),
            cls.WOMEN: _l("Women"),
            cls.FAMILY: _l("Family"),
            cls.STAFF: _l("Staff"),
            cls.VIP: _l("VIP"),
        }


class Branch(TimestampMixin, db.Model):
    """One gym of the chain, with its own lockers, clients and timezone."""

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False, unique=True)
    code = db.Column(db.String(12), nullable=False, unique=True)
    address = db.Column(db.String(255))
    phone = db.Column(db.String(20))
    timezone = db.Column(db.String(40), nullable=False, default="Asia/Dhaka")
    is_active = db.Column(db.Boolean, nullable=False, default=True)

    floors = db.relationship("Floor", back_populates="branch", order_by="Floor.level")

    def __str__(self):
        return self.name


class Floor(BilingualName, TimestampMixin, db.Model):
    """A floor or room of a branch."""

    __table_args__ = (db.UniqueConstraint("branch_id", "name"),)

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    name = db.Column(db.String(60), nullable=False)
    name_bn = db.Column(db.String(60))
    level = db.Column(db.Integer, nullable=False, default=0)

    branch = db.relationship("Branch", back_populates="floors")
    zones = db.relationship("Zone", back_populates="floor", order_by="Zone.name")

    def __str__(self):
        return f"{self.branch} · {self.local_name}" if self.branch else self.local_name


class Zone(BilingualName, TimestampMixin, db.Model):
    """A section of a floor (Men, Women, Family, Staff, VIP)."""

    __table_args__ = (db.UniqueConstraint("floor_id", "name"),)

    id = db.Column(db.Integer, primary_key=True)
    # The branch is the floor's; it is kept here so lists scope to a branch cheaply.
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    floor_id = db.Column(db.ForeignKey("floor.id"), nullable=False, index=True)
    name = db.Column(db.String(60), nullable=False)
    name_bn = db.Column(db.String(60))
    kind = enum_column(ZoneKind)

    branch = db.relationship("Branch")
    floor = db.relationship("Floor", back_populates="zones")

    @db.validates("floor")
    def _take_branch_from_floor(self, key, floor):
        if floor is not None:
            self.branch = floor.branch
        return floor

    def __str__(self):
        return f"{self.floor.local_name if self.floor else ''} · {self.local_name}"
