"""Key deposits: money held for the client, a liability, never revenue (SPEC P5)."""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models.base import LabelledEnum
from app.models.base import enum_column
from app.models.base import utcnow


class DepositEntryKind(LabelledEnum):
    """One movement of a client's key deposit."""

    TAKEN = "taken"              # + money received when a key is issued
    REFUNDED = "refunded"        # - money handed back when the key returns
    FEE_DEDUCTED = "fee"         # - kept to pay a lost-key fee (becomes revenue)
    APPLIED_TO_DUES = "dues"     # - kept to pay what the client owes (a payment by deposit)

    @classmethod
    def _labels(cls):
        return {cls.TAKEN: _l("Deposit taken"), cls.REFUNDED: _l("Deposit refunded"),
                cls.FEE_DEDUCTED: _l("Lost-key fee from deposit"),
                cls.APPLIED_TO_DUES: _l("Dues paid from deposit")}


class DepositEntry(db.Model):
    """A ledger line; a client's deposit balance is the sum of their lines' amounts.

    Amounts are signed integer poisha: positive when the gym receives money it
    holds for the client, negative when it gives it back or keeps it as a fee.
    """

    id = db.Column(db.Integer, primary_key=True)
    branch_id = db.Column(db.ForeignKey("branch.id"), nullable=False, index=True)
    client_id = db.Column(db.ForeignKey("client.id"), nullable=False, index=True)
    rental_id = db.Column(db.ForeignKey("rental.id"), index=True)
    key_id = db.Column(db.ForeignKey("key.id"), index=True)
    kind = enum_column(DepositEntryKind)
    amount_poisha = db.Column(db.BigInteger, nullable=False)
    at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    staff_id = db.Column(db.ForeignKey("user.id", ondelete="SET NULL"))
    note = db.Column(db.String(255))

    __table_args__ = (db.CheckConstraint("amount_poisha <> 0", name="amount_not_zero"),)

    branch = db.relationship("Branch")
    client = db.relationship("Client")
    rental = db.relationship("Rental")
    key = db.relationship("Key")
    staff = db.relationship("User")

    def __str__(self):
        return f"{self.kind} {self.amount_poisha}"


class DepositsHeld(db.Model):
    """What a branch holds in key deposits in all: the sum of its ledger lines, kept as they are written.

    The ledger of a chain runs to millions of lines; every page of it says the
    total held, which would otherwise be a sum over all of them each time. The
    one writer of ledger lines (app.services.handover) adds each line's amount
    here in the same transaction, and tests compare it with the ledger's sum.
    """

    branch_id = db.Column(db.ForeignKey("branch.id"), primary_key=True)
    held_poisha = db.Column(db.BigInteger, nullable=False, default=0)
