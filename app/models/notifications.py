"""Messages to clients: templates, every message sent or waiting, and channel consent (SPEC N1–N5)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import JSONText
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.clients import Language


class Channel(LabelledEnum):
    """How a message reaches a client."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"

    @classmethod
    def _labels(cls):
        return {cls.EMAIL: _l("Email"), cls.SMS: _l("SMS"), cls.WHATSAPP: _l("WhatsApp")}


class MessageKind(LabelledEnum):
    """Why a message is sent: one set of templates each (SPEC N3)."""

    WELCOME = "welcome"
    ASSIGNMENT = "assignment"
    RECEIPT = "receipt"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    RESERVATION_LAPSED = "reservation_lapsed"
    WAITLIST_OFFER = "waitlist_offer"
    ABANDONED = "abandoned"
    CAMPAIGN = "campaign"  # words from the campaign, not from a template
    PAYMENT_LINK = "payment_link"  # staff send an invoice's online payment link

    @classmethod
    def _labels(cls):
        return {cls.CAMPAIGN: _l("Campaign"), cls.WELCOME: _l("Welcome"),
                cls.ASSIGNMENT: _l("Locker assigned"),
                cls.RECEIPT: _l("Payment receipt"), cls.REMINDER: _l("Expiry reminder"),
                cls.OVERDUE: _l("Overdue notice"),
                cls.RESERVATION_LAPSED: _l("Reservation lapsed"),
                cls.WAITLIST_OFFER: _l("Waitlist offer"),
                cls.ABANDONED: _l("Abandoned rental"), cls.PAYMENT_LINK: _l("Payment link")}


class MessageStatus(LabelledEnum):
    """Where a message stands; it only ever moves forward."""

    QUEUED = "queued"        # waiting for a worker, its due time, or its channel to be set up
    SENDING = "sending"      # a worker has it and is talking to the provider
    SENT = "sent"            # the provider accepted it
    DELIVERED = "delivered"  # the provider says it reached the phone
    READ = "read"
    FAILED = "failed"        # refused for good; `error` says why
    UNCERTAIN = "uncertain"  # the worker stopped mid-send: it may have gone out; staff decide
    EXPIRED = "expired"      # could not be sent while it still mattered
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {cls.QUEUED: _l("Queued"), cls.SENDING: _l("Sending"), cls.SENT: _l("Sent"),
                cls.DELIVERED: _l("Delivered"), cls.READ: _l("Read"), cls.FAILED: _l("Failed"),
                cls.UNCERTAIN: _l("Uncertain"), cls.EXPIRED: _l("Expired"),
                cls.CANCELLED: _l("Cancelled")}


class MessageTemplate(TimestampMixin, db.Model):
    """The words of one kind of message on one channel in one language (SPEC N1).

    The body is a sandboxed Jinja template using only the placeholders of
    app.services.notifications.PLACEHOLDERS. A WhatsApp template must also be
    approved by Meta under `whatsapp_name`: the body here is the desk's copy of
    it, and its placeholders, in order, are the parameters sent.
    """

    id = db.Column(db.Integer, primary_key=True)
    kind = enum_column(MessageKind)
    channel = enum_column(Channel)
    language = enum_column(Language)
    subject = db.Column(db.String(200))  # email only
    body = db.Column(db.Text, nullable=False)
    whatsapp_name = db.Column(db.String(120))
    is_active = db.Column(db.Boolean, nullable=False, default=True)

    __table_args__ = (db.UniqueConstraint("kind", "channel", "language"),)

    def __str__(self):
        return f"{self.kind.label} · {self.channel.label} · {self.language.label}"


class Notification(db.Model):
    """One message to one client on one channel: the outbox row and its delivery log (SPEC N4).

    Written in the same transaction as what it tells of, so it exists exactly
    when that does; workers deliver it afterwards. `dedupe_key` makes every
    trigger create it once however often it runs (the event's id, or the
    rental, day and rule of a reminder).
    """

    id = db.Column(db.Integer, primary_key=True)
    dedupe_key = db.Column(db.String(120), nullable=False, unique=True)
    kind = enum_column(MessageKind)
    channel = enum_column(Channel)
    language = enum_column(Language)
    branch_id = db.Column(db.ForeignKey("branch.id"), index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id"))
    payment_id = db.Column(db.ForeignKey("payment.id"))
    event_id = db.Column(db.Integer, index=True)  # the DomainEvent it tells of, if any
    campaign_id = db.Column(db.ForeignKey("campaign.id"), index=True)
    # Facts only the trigger knows (days to expiry, an offer's deadline), for the placeholders.
    facts = db.Column(JSONText)
    # Reminders and campaigns wait out quiet hours; messages from the desk go at once.
    respects_quiet_hours = db.Column(db.Boolean, nullable=False, default=False)
    status = enum_column(MessageStatus, default=MessageStatus.QUEUED)
    due_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    enqueued_at = db.Column(db.DateTime)
    claimed_at = db.Column(db.DateTime)
    sent_at = db.Column(db.DateTime)
    delivered_at = db.Column(db.DateTime)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    # Written when a worker first takes it, and sent the same way on every attempt.
    recipient = db.Column(db.String(255))
    subject = db.Column(db.String(200))
    body = db.Column(db.Text)
    provider_id = db.Column(db.String(128), index=True)
    cost_poisha = db.Column(db.Integer)
    error = db.Column(db.String(255))
    by_user_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    client = db.relationship("Client")
    rental = db.relationship("Rental")
    branch = db.relationship("Branch")

    __table_args__ = (
        # The sweeper's question, "what is waiting and due", from an index.
        db.Index("ix_notification_status_due", "status", "due_at"),
        db.Index("ix_notification_channel_sent", "channel", "sent_at"),
    )

    def __str__(self):
        return f"{self.kind.label} · {self.channel.label} · {self.recipient or ''}"


class CampaignStatus(LabelledEnum):
    """A campaign is drafted, then sent once."""

    DRAFT = "draft"
    SENDING = "sending"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {cls.DRAFT: _l("Draft"), cls.SENDING: _l("Sent out"),
                cls.CANCELLED: _l("Cancelled")}


class Campaign(TimestampMixin, db.Model):
    """One message to a chosen audience ("Women's zone, expiring this month") (SPEC N5).

    The audience is stored as the filters staff chose; who it reaches is worked
    out when it is sent, and only clients who said yes to the channel get it.
    Each message goes out as a Notification (and is logged and retried like any
    other), `per_minute` at most.
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), index=True)
    name = db.Column(db.String(120), nullable=False)
    channel = enum_column(Channel)
    subject = db.Column(db.String(200))
    body_bn = db.Column(db.Text, nullable=False)
    body_en = db.Column(db.Text, nullable=False)
    zone_id = db.Column(db.ForeignKey("zone.id"))
    expiring_within_days = db.Column(db.Integer)
    holders_only = db.Column(db.Boolean, nullable=False, default=True)
    per_minute = db.Column(db.Integer, nullable=False, default=60)
    status = enum_column(CampaignStatus, default=CampaignStatus.DRAFT, index=True,
                         constraint_name="campaignstatus")
    recipients = db.Column(db.Integer)
    started_at = db.Column(db.DateTime)
    created_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    started_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    branch = db.relationship("Branch")
    zone = db.relationship("Zone")

    def __str__(self):
        return self.name


class ConsentChange(db.Model):
    """A client agreeing to, or declining, messages on a channel: when, how and who recorded it (N5)."""

    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.ForeignKey("client.id", ondelete="CASCADE"), nullable=False,
                          index=True)
    channel = enum_column(Channel)
    opted_in = db.Column(db.Boolean, nullable=False)
    source = db.Column(db.String(40), nullable=False)  # "registration", "desk", "import", …
    changed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    changed_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    client = db.relationship("Client")
    changed_by = db.relationship("User")
