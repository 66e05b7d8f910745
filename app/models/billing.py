"""Prices, invoices and what was paid against them (SPEC P1–P3, P6)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import JSONText
from app.models.base import LabelledEnum
from app.models.base import TimestampMixin
from app.models.base import enum_column
from app.models.base import utcnow
from app.models.branches import ZoneKind
from app.models.rentals import RentalTerm


class PriceRule(TimestampMixin, db.Model):
    """One cell of the pricing matrix: category × zone type × term, from a date on.

    A blank category or zone type matches any; the most specific rule in force
    on the day wins (see app.services.pricing).
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), index=True)  # None: every branch
    category_id = db.Column(db.ForeignKey("locker_category.id"), index=True)
    zone_kind = enum_column(ZoneKind, nullable=True)
    term = enum_column(RentalTerm)
    price_poisha = db.Column(db.BigInteger, nullable=False)
    effective_from = db.Column(db.Date, nullable=False)
    effective_to = db.Column(db.Date)  # inclusive; None: until further notice

    __table_args__ = (db.CheckConstraint("price_poisha >= 0", name="price_not_negative"),)

    branch = db.relationship("Branch")
    category = db.relationship("LockerCategory")

    def __str__(self):
        return f"{self.category or '*'} · {self.zone_kind or '*'} · {self.term}"


class DiscountKind(LabelledEnum):
    """What a discount rule looks at."""

    TERM = "term"  # e.g. yearly −10 %
    TAG = "tag"    # e.g. tag Corporate −5 %

    @classmethod
    def _labels(cls):
        return {cls.TERM: _l("By term"), cls.TAG: _l("By client tag")}


class DiscountRule(TimestampMixin, db.Model):
    """An automatic discount, applied in `position` order; stacks only if allowed."""

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    kind = enum_column(DiscountKind)
    term = enum_column(RentalTerm, nullable=True)
    tag_id = db.Column(db.ForeignKey("tag.id"), index=True)
    # Hundredths of a percent: 1000 = 10 %.
    percent_bp = db.Column(db.Integer, nullable=False)
    position = db.Column(db.Integer, nullable=False, default=0)
    stackable = db.Column(db.Boolean, nullable=False, default=False)
    active = db.Column(db.Boolean, nullable=False, default=True)

    __table_args__ = (db.CheckConstraint("percent_bp > 0 AND percent_bp <= 10000",
                                         name="percent_range"),)

    tag = db.relationship("Tag")

    def __str__(self):
        return self.name


class CouponKind(LabelledEnum):
    """A coupon takes off a percentage or a fixed amount."""

    PERCENT = "percent"
    AMOUNT = "amount"

    @classmethod
    def _labels(cls):
        return {cls.PERCENT: _l("Percent"), cls.AMOUNT: _l("Amount")}


class Coupon(TimestampMixin, db.Model):
    """A code a client brings; limited in time, in total uses and per client."""

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(40), nullable=False, unique=True)
    kind = enum_column(CouponKind)
    percent_bp = db.Column(db.Integer)
    amount_poisha = db.Column(db.BigInteger)
    valid_from = db.Column(db.Date)
    valid_to = db.Column(db.Date)
    usage_limit = db.Column(db.Integer)
    per_client_limit = db.Column(db.Integer)
    times_used = db.Column(db.Integer, nullable=False, default=0)
    active = db.Column(db.Boolean, nullable=False, default=True)

    def __str__(self):
        return self.code


class InvoiceCounter(db.Model):
    """The next number of an invoice series; the row is locked while a number is taken."""

    series = db.Column(db.String(40), primary_key=True)
    next_number = db.Column(db.Integer, nullable=False)


class Invoice(TimestampMixin, db.Model):
    """What a client owes for a rental term (or a fee); its state comes from its payments."""

    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.String(40), nullable=False, unique=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False)
    rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    coupon_id = db.Column(db.ForeignKey("coupon.id"), index=True)
    issued_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    due_on = db.Column(db.Date, nullable=False, index=True)
    subtotal_poisha = db.Column(db.BigInteger, nullable=False)
    discount_poisha = db.Column(db.BigInteger, nullable=False, default=0)
    vat_poisha = db.Column(db.BigInteger, nullable=False, default=0)
    total_poisha = db.Column(db.BigInteger, nullable=False)
    cancelled_at = db.Column(db.DateTime)
    cancel_reason = db.Column(db.String(255))
    issued_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    # What is still owed: total − received + refunded, 0 once cancelled. Kept by
    # app.services.billing in the transaction of every change to the invoice, its
    # payments or their refunds, so dues over a chain's million invoices read the
    # open ones from an index instead of summing every invoice's payments.
    owed_poisha = db.Column(db.BigInteger, nullable=False, default=0, server_default="0")

    __table_args__ = (db.CheckConstraint("total_poisha >= 0", name="total_not_negative"),
                      db.Index("ix_invoice_branch_issued_at", "branch_id", "issued_at"),
                      db.Index("ix_invoice_owed", "owed_poisha", "branch_id"),
                      # A client's open invoices (their standing) without reading the paid ones.
                      db.Index("ix_invoice_client_owed", "client_id", "owed_poisha"))

    branch = db.relationship("Branch")
    client = db.relationship("Client")
    rental = db.relationship("Rental")
    coupon = db.relationship("Coupon")
    issued_by = db.relationship("User")
    lines = db.relationship("InvoiceLine", back_populates="invoice", order_by="InvoiceLine.position",
                            cascade="all, delete-orphan")
    instalments = db.relationship("Instalment", back_populates="invoice",
                                  order_by="Instalment.due_on", cascade="all, delete-orphan")

    def __str__(self):
        return self.number


class InvoiceLine(db.Model):
    """One explained line of an invoice: the rent, each discount, the coupon, the VAT."""

    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    position = db.Column(db.Integer, nullable=False)
    kind = db.Column(db.String(20), nullable=False)  # rent, discount, coupon, vat, fee
    description = db.Column(db.String(255), nullable=False)
    amount_poisha = db.Column(db.BigInteger, nullable=False)  # discounts are negative

    invoice = db.relationship("Invoice", back_populates="lines")


class Instalment(db.Model):
    """A part of a long term's invoice due on a date."""

    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    due_on = db.Column(db.Date, nullable=False)
    amount_poisha = db.Column(db.BigInteger, nullable=False)

    invoice = db.relationship("Invoice", back_populates="instalments")


class CouponRedemption(db.Model):
    """A coupon used on an invoice by a client."""

    id = db.Column(db.Integer, primary_key=True)
    coupon_id = db.Column(db.ForeignKey("coupon.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    invoice_id = db.Column(db.ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False,
                           unique=True)
    redeemed_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    coupon = db.relationship("Coupon")
    client = db.relationship("Client")
    invoice = db.relationship("Invoice")


class Refund(db.Model):
    """Money given back on a payment, with the reason and who allowed it (SPEC P6)."""

    id = db.Column(db.Integer, primary_key=True)
    payment_id = db.Column(db.ForeignKey("payment.id"), nullable=False, index=True)
    amount_poisha = db.Column(db.BigInteger, nullable=False)
    reason = db.Column(db.String(255), nullable=False)
    refunded_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    refunded_by_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))

    __table_args__ = (db.CheckConstraint("amount_poisha > 0", name="refund_positive"),)

    payment = db.relationship("Payment", backref="refunds")
    refunded_by = db.relationship("User")


class Shift(db.Model):
    """A desk shift, closed by counting cash and keys (end-of-shift reconciliation)."""

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    staff_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    opened_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    closed_at = db.Column(db.DateTime)
    # {"CASH": poisha, "BKASH": poisha, …} taken during the shift, as the app counts it.
    expected_by_method = db.Column(JSONText)
    expected_cash_poisha = db.Column(db.BigInteger)
    counted_cash_poisha = db.Column(db.BigInteger)
    expected_keys = db.Column(db.Integer)
    counted_keys = db.Column(db.Integer)
    note = db.Column(db.String(255))

    branch = db.relationship("Branch")
    staff = db.relationship("User")

    def __str__(self):
        return f"#{self.id} {self.staff}"
