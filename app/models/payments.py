"""Money received from clients. Amounts are integer poisha (1 taka = 100 poisha)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow


class PaymentMethod(LabelledEnum):
    """How the money came in."""

    CASH = "cash"
    BKASH = "bkash"
    NAGAD = "nagad"
    SSLCOMMERZ = "sslcommerz"
    CARD = "card"
    BANK = "bank"
    # Paid from the key deposit the gym held (on key return); no money changes hands.
    DEPOSIT = "deposit"

    @classmethod
    def _labels(cls):
        return {
            cls.CASH: _l("Cash"),
            cls.BKASH: _l("bKash"),
            cls.NAGAD: _l("Nagad"),
            cls.SSLCOMMERZ: _l("SSLCommerz"),
            cls.CARD: _l("Card"),
            cls.BANK: _l("Bank transfer"),
            cls.DEPOSIT: _l("From the key deposit"),
        }


class PaymentStatus(LabelledEnum):
    """State of one payment (SPEC P2)."""

    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"

    @classmethod
    def _labels(cls):
        return {
            cls.PENDING: _l("Pending"),
            cls.PAID: _l("Paid"),
            cls.REFUNDED: _l("Refunded"),
            cls.CANCELLED: _l("Cancelled"),
        }


class Payment(TimestampMixin, db.Model):
    """A payment by a client, usually for a rental."""

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False)
    rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id"), index=True)
    shift_id = db.Column(db.ForeignKey("shift.id"), index=True)
    amount_poisha = db.Column(db.BigInteger, nullable=False)
    method = enum_column(PaymentMethod, default=PaymentMethod.CASH)
    status = enum_column(PaymentStatus, default=PaymentStatus.PAID, index=True)
    # Indexed: Ctrl+K finds a payment by the reference on a receipt or a gateway's SMS.
    reference = db.Column(db.String(64), index=True)
    paid_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    received_by_id = db.Column(db.ForeignKey("user.id"))

    # A client's payments newest first (their profile) are read from the index in that
    # order, a page at a time, not sorted from all of a regular's thousands.
    __table_args__ = (db.CheckConstraint("amount_poisha > 0", name="amount_positive"),
                      db.Index("ix_payment_branch_paid_at", "branch_id", "paid_at"),
                      db.Index("ix_payment_client_paid_at", "client_id", "paid_at"))

    branch = db.relationship("Branch")
    client = db.relationship("Client")
    rental = db.relationship("Rental")
    invoice = db.relationship("Invoice", backref=db.backref("payments", order_by="Payment.paid_at"))
    received_by = db.relationship("User")

    def __str__(self):
        return f"#{self.id}"
