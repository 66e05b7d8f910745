"""The gym members who rent lockers. They never log in."""

from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql

from app.extensions import db
from app.models.base import BilingualName
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


# The member id on the client card ("MEM-000042"), read back by the Ctrl+K quick search
# when a scanner types it from the card's QR code. It is the client's id written out, so
# it needs no column, is never reused and never changes. "MEM", not "M": "M-001" is a
# locker of the men's zone. Six digits are zero-padded; a seventh is simply added.
MEMBER_ID_PREFIX = "MEM"
MEMBER_ID_DIGITS = 6
# client.id is a 32-bit INTEGER: a larger number names no client (and PostgreSQL refuses it).
_MAX_CLIENT_ID = 2**31 - 1


client_tags = db.Table(
    "client_tag",
    db.Column("client_id", db.ForeignKey("client.id", ondelete="CASCADE"), primary_key=True),
    db.Column("tag_id", db.ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(BilingualName, TimestampMixin, db.Model):
    """A label on clients (VIP, Corporate, Long-term …), used in search and pricing."""

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(40), nullable=False, unique=True)
    name_bn = db.Column(db.String(40))

    def __str__(self):
        return self.local_name


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
    # Once the term of the rental a client started last has ended unrenewed and they hold
    # no locker: that rental and when its term ended; both NULL while the client is active.
    # Kept by app.services.inactivity with every change to the client's rentals, so the
    # inactive-clients report reads one index. (No foreign key: rental already points here.)
    inactive_rental_id = db.Column(db.Integer)
    inactive_since = db.Column(db.DateTime, index=True)

    # A branch's desk lists its newest clients first.
    __table_args__ = (db.Index("ix_client_branch_registered_at", "branch_id", "registered_at"),)

    branch = db.relationship("Branch")
    referred_by = db.relationship("Client", remote_side=[id])
    tags = db.relationship("Tag", secondary=client_tags, order_by="Tag.name")

    def __str__(self):
        return f"{self.full_name} ({self.phone})"

    @property
    def member_id(self):
        """The member id printed on the client card, "MEM-000042"; None until the client is saved."""
        if self.id is None:
            return None
        return f"{MEMBER_ID_PREFIX}-{self.id:0{MEMBER_ID_DIGITS}d}"

    @staticmethod
    def id_from_member_id(text):
        """The client id a member id names, or None if `text` is not exactly one.

        Read as printed, or as typed at the desk: any case, with a dash, a space or
        nothing after the prefix, in ASCII or Bengali digits ("MEM-000042",
        "mem000042", "MEM-০০০০৪২" → 42). The digits must be all of them: "MEM-42"
        and "MEM-0000042" are not member ids, so a fragment never opens a client.
        """
        text = str(text or "").strip().upper()
        if not text.startswith(MEMBER_ID_PREFIX):
            return None
        digits = text[len(MEMBER_ID_PREFIX):]
        if digits[:1] in ("-", " "):
            digits = digits[1:]
        # isdecimal(), not isdigit(): int() reads Bengali digits, but not "²". More digits
        # than the largest id has name no client (and int() refuses thousands of them).
        if not digits.isdecimal() or len(digits) > len(str(_MAX_CLIENT_ID)):
            return None
        number = int(digits)
        if not 1 <= number <= _MAX_CLIENT_ID:
            return None
        return number if len(digits) == len(f"{number:0{MEMBER_ID_DIGITS}d}") else None


# Search keys compare byte by byte on every database, so that a prefix range
# ("tahm" <= key < "tahn") means the same everywhere and uses the index.
SEARCH_KEY_LENGTH = 80
SearchKeyString = (db.String(SEARCH_KEY_LENGTH)
                   .with_variant(postgresql.VARCHAR(SEARCH_KEY_LENGTH, collation="C"), "postgresql")
                   .with_variant(mysql.VARCHAR(SEARCH_KEY_LENGTH, collation="utf8mb4_bin"),
                                 "mysql", "mariadb"))


class ClientSearchKey(db.Model):
    """One normalised word by which a client is found (see app.services.client_search).

    A name word, the phone's digits from either end, the NID or the email,
    folded as the desk's search box folds what is typed; kept by the session
    whenever a client's name, phone, email or NID changes. The primary key
    (key, client_id) is the index every search reads.
    """

    key = db.Column(SearchKeyString, primary_key=True)
    client_id = db.Column(db.ForeignKey("client.id", ondelete="CASCADE"), primary_key=True,
                          index=True)


class ClientNote(db.Model):
    """A dated note by staff on a client's timeline (SPEC C2)."""

    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.ForeignKey("client.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    author_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)

    client = db.relationship("Client", backref=db.backref(
        "timeline", order_by="ClientNote.created_at.desc()", passive_deletes=True))
    author = db.relationship("User")

    def __str__(self):
        return self.body[:60]


class TermsVersion(TimestampMixin, db.Model):
    """One published version of the terms & conditions / liability waiver (SPEC S6)."""

    id = db.Column(db.Integer, primary_key=True)
    version = db.Column(db.Integer, nullable=False, unique=True)
    title = db.Column(db.String(120), nullable=False)
    body = db.Column(db.Text, nullable=False)
    published_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    published_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    published_by = db.relationship("User")

    def __str__(self):
        return f"{self.title} ({self.version})"


class TermsSignature(db.Model):
    """A client's on-screen signature of one terms version, witnessed by staff."""

    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    terms_version_id = db.Column(db.ForeignKey("terms_version.id"), nullable=False, index=True)
    # PNG of the signature under UPLOAD_DIR, random name.
    signature_path = db.Column(db.String(255), nullable=False)
    signed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    staff_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    ip = db.Column(db.String(64))

    client = db.relationship("Client", backref=db.backref(
        "signatures", order_by="TermsSignature.signed_at.desc()"))
    terms_version = db.relationship("TermsVersion")
    staff = db.relationship("User")

    def __str__(self):
        return f"{self.client} · v{self.terms_version.version if self.terms_version else ''}"
