"""Online payments: the links the desk sends, and the ledger of gateway transactions (SPEC P4)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import JSONText
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class Gateway(LabelledEnum):
    """A payment gateway a client can pay an invoice through."""

    BKASH = "bkash"
    NAGAD = "nagad"
    SSLCOMMERZ = "sslcommerz"

    @classmethod
    def _labels(cls):
        return {cls.BKASH: _l("bKash"), cls.NAGAD: _l("Nagad"), cls.SSLCOMMERZ: _l("SSLCommerz")}


class GatewayStatus(LabelledEnum):
    """Where one attempt to pay through a gateway stands."""

    # The gateway opened a payment page; the client is on it (or walked away).
    STARTED = "started"
    # We asked the gateway to take the money and have no answer we can trust yet:
    # only the gateway's own query settles it (never a second execute).
    PENDING = "pending"
    # Verified with the gateway and credited to the invoice as a payment.
    COMPLETED = "completed"
    # The gateway took the money but the invoice no longer owed it (paid at the
    # desk meanwhile): nothing was credited; staff refund it through the gateway.
    UNAPPLIED = "unapplied"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"

    @classmethod
    def _labels(cls):
        return {
            cls.STARTED: _l("Started"),
            cls.PENDING: _l("Pending"),
            cls.COMPLETED: _l("Completed"),
            cls.UNAPPLIED: _l("Paid, not applied: refund it"),
            cls.FAILED: _l("Failed"),
            cls.CANCELLED: _l("Cancelled"),
            cls.EXPIRED: _l("Expired"),
            cls.REFUNDED: _l("Refunded"),
        }


# States the verification job still has to settle.
UNSETTLED = (GatewayStatus.STARTED, GatewayStatus.PENDING)
# Reasons the desk gives itself, stored as these codes and shown translated; anything
# else in `error` is the gateway's own words (or a check that failed), shown as is.
PAID_MEANWHILE = "paid-meanwhile"
NOT_OWED = "not-owed"
OUR_REASONS = {
    PAID_MEANWHILE: _l("The invoice was paid meanwhile: not executed, nothing taken."),
    NOT_OWED: _l("The invoice no longer owed this amount: refund it."),
}


class PaymentLink(db.Model):
    """A link that lets a client pay one invoice online without signing in.

    The token in the URL is signed and carries this row's id and nonce; the row
    says until when it works and whether it was used (a link pays once).
    """

    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id"), nullable=False, index=True)
    nonce = db.Column(db.String(32), nullable=False)
    expires_at = db.Column(db.DateTime, nullable=False)
    used_at = db.Column(db.DateTime)
    created_by_id = db.Column(db.ForeignKey("user.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    invoice = db.relationship("Invoice")
    created_by = db.relationship("User")

    def __str__(self):
        return f"#{self.id}"


class GatewayTransaction(TimestampMixin, db.Model):
    """One attempt to pay an invoice through a gateway: the ledger the gateways are reconciled on.

    `reference` is ours (bKash's merchantInvoiceNumber, SSLCommerz's tran_id,
    Nagad's orderId); `gateway_reference` is the gateway's id of the session
    (paymentID, sessionkey, paymentReferenceId); `transaction_id` is the id of
    the money movement (trxID, bank_tran_id, issuerPaymentRefNo), unique per
    gateway in the database, so one movement can never be credited twice.
    """

    id = db.Column(db.Integer, primary_key=True)
    gateway = enum_column(Gateway)
    status = enum_column(GatewayStatus, default=GatewayStatus.STARTED, index=True)
    link_id = db.Column(db.ForeignKey("payment_link.id"), index=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id"), nullable=False, index=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    reference = db.Column(db.String(30), nullable=False, unique=True)
    gateway_reference = db.Column(db.String(120), index=True)
    # Indexed alone too: the ledger's search box finds an id from a gateway's statement.
    transaction_id = db.Column(db.String(64), index=True)
    amount_poisha = db.Column(db.BigInteger, nullable=False)
    currency = db.Column(db.String(3), nullable=False, default="BDT")
    payment_id = db.Column(db.ForeignKey("payment.id"), unique=True)
    checks = db.Column(db.Integer, nullable=False, default=0)
    next_check_at = db.Column(db.DateTime, index=True)
    # Set while one staff member's refund is with the gateway, so a second waits.
    refund_started_at = db.Column(db.DateTime)
    error = db.Column(db.String(255))
    # Every call to the gateway and every callback, secrets redacted: [{at, call, sent, got}].
    exchanges = db.Column(JSONText)

    __table_args__ = (
        db.UniqueConstraint("gateway", "transaction_id"),
        db.CheckConstraint("amount_poisha > 0", name="gateway_amount_positive"),
    )

    invoice = db.relationship("Invoice")
    branch = db.relationship("Branch")
    client = db.relationship("Client")
    link = db.relationship("PaymentLink")
    payment = db.relationship("Payment")

    def __str__(self):
        return self.reference

    @property
    def reason(self):
        """Why the attempt ended as it did, for staff: our reasons translated, the gateway's as is."""
        return OUR_REASONS.get(self.error, self.error) if self.error else ""
