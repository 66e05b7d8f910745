"""A client's standing at the desk: what they hold, what they owe, what the gym holds for them.

The profile's header and its next-step buttons are built from this, so the desk
sees dues and deposit before it renews, takes a payment or takes a key back.
"""

from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from app.extensions import db
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Key
from app.models import KeyState
from app.models import Rental
from app.models.gateways import UNSETTLED
from app.services import billing
from app.services import handover

# How many invoices with a balance the header lists; the rest are on the invoice list.
OPEN_INVOICES_SHOWN = 5


@dataclass
class Holding:
    """One rental that holds a locker now, with its current invoice and key."""

    rental: Rental
    invoice: Invoice | None
    balance_poisha: int
    key: Key | None


@dataclass
class Standing:
    """Everything the profile header says about the client's money and lockers."""

    holdings: list = field(default_factory=list)
    owed_poisha: int = 0
    deposit_poisha: int = 0
    open_invoices: list = field(default_factory=list)
    # Online payment attempts staff should know of: still being paid or checked, or
    # money a gateway took that the invoice no longer owed (to refund).
    online_attempts: list = field(default_factory=list)


def _key_with(client_id, locker_id):
    keys = db.session.execute(sa.select(Key).where(Key.locker_id == locker_id,
                                                   Key.state == KeyState.WITH_CLIENT)).scalars()
    return next((key for key in keys if handover.issued_to(key.id) == client_id), None)


def of(client_id):
    """The client's standing now: a handful of indexed queries, whatever the history's length."""
    rentals = db.session.execute(sa.select(Rental).where(
        Rental.client_id == client_id, Rental.holding_locker_id.is_not(None))
        .order_by(Rental.ends_at, Rental.id)).scalars().all()
    holdings = []
    for rental in rentals:
        invoice = billing.invoice_of(rental.id)
        holdings.append(Holding(rental, invoice, billing.balance(invoice) if invoice else 0,
                                _key_with(client_id, rental.locker_id)))
    open_invoices = db.session.execute(
        sa.select(Invoice).where(Invoice.client_id == client_id, billing.open_balance_sql() > 0)
        .order_by(Invoice.issued_at, Invoice.id).limit(OPEN_INVOICES_SHOWN)).scalars().all()
    online_attempts = db.session.execute(
        sa.select(GatewayTransaction).where(
            GatewayTransaction.client_id == client_id,
            GatewayTransaction.status.in_((*UNSETTLED, GatewayStatus.UNAPPLIED)))
        .order_by(GatewayTransaction.id.desc()).limit(OPEN_INVOICES_SHOWN)).scalars().all()
    return Standing(holdings=holdings, owed_poisha=billing.client_owes(client_id),
                    deposit_poisha=handover.deposit_balance(client_id),
                    open_invoices=[(invoice, billing.balance(invoice)) for invoice in open_invoices],
                    online_attempts=online_attempts)
