"""The gym members who rent lockers. They never log in."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class ClientStatus(LabelledEnum):
    """A client is never deleted; they become Inactive or Banned (SPEC C2)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    BANNED = "banned"

    @classmethod
    def _labels(cls):
        return {cls.ACTIVE: _l("Active"), cls.INACTIVE: _l("Inactive"), cls.BANNED: _l("Banned")}


class Gender(LabelledEnum):
    """Recorded because zones are segregated."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"

    @classmethod
    def _labels(cls):
        return {cls.MALE: _l("Male"), cls.FEMALE: _l("Female"), cls.OTHER: _l("Other")}


class Language(LabelledEnum):
    """Languages the desk and its messages speak."""

    BENGALI = "bn"
    ENGLISH = "en"

    @classmethod
    def _labels(cls):
        return {cls.BENGALI: _l("Bengali"), cls.ENGLISH: _l("English")}


class Client(TimestampMixin, db.Model):
    """A gym member (SPEC C1)."""

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    full_name = db.Column(db.String(120), nullable=False, index=True)
    # Always +8801XXXXXXXXX; see app.services.phones.
    phone = db.Column(db.String(16), nullable=False, unique=True)
    email = db.Column(db.String(255), index=True)
    nid = db.Column(db.String(32), unique=True)
    address = db.Column(db.String(255))
    notes = db.Column(db.Text)
    gender = enum_column(Gender, nullable=True)
    date_of_birth = db.Column(db.Date)
    emergency_contact_name = db.Column(db.String(120))
    emergency_contact_phone = db.Column(db.String(16))
    tier = db.Column(db.String(40))
    referred_by_id = db.Column(db.ForeignKey("client.id"), index=True)
    preferred_language = enum_column(Language, default=Language.BENGALI)
    opt_in_email = db.Column(db.Boolean, nullable=False, default=True)
    opt_in_sms = db.Column(db.Boolean, nullable=False, default=True)
    opt_in_whatsapp = db.Column(db.Boolean, nullable=False, default=False)
    # Paths relative to UPLOAD_DIR, random names; served only to staff.
    photo_path = db.Column(db.String(255))
    id_scan_path = db.Column(db.String(255))
    status = enum_column(ClientStatus, default=ClientStatus.ACTIVE, index=True)
    ban_reason = db.Column(db.String(255))
    registered_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)

    branch = db.relationship("Branch")
    referred_by = db.relationship("Client", remote_side=[id])

    def __str__(self):
        return f"{self.full_name} ({self.phone})"
