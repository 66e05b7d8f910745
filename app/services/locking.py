"""One lock order for the life of a locker: the locker row first, then its rental's.

Every transition that touches a locker and a rental (reserve, assign, renew,
release, expire, abandon, key issue/return/loss, payment, refund,
cancellation) takes the row locks in this order and reads the rows afresh
under them, then checks the state again before acting. Two desks acting on
the same locker therefore run one after the other, the second sees what the
first did (and is refused if it no longer fits), and no two actions can hold
one lock each while waiting for the other's (a deadlock).

SQLite has no row locks; there the desk action already holds the whole
database's write lock (app.services.transactions), which serialises the same
way.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Invoice
from app.models import Locker
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.services.errors import Refusal

# Rentals that hold their locker (the UNIQUE rental.holding_locker_id is set).
HOLDING = (RentalStatus.RESERVED, RentalStatus.ACTIVE, RentalStatus.EXPIRED)


class NotFound(Refusal):
    """The record the desk acted on does not exist (any more)."""


@dataclass
class Locked:
    """A locker and the rental holding it (None if free), both locked and freshly read."""

    locker: Locker
    rental: Rental | None


def _locked(model, record_id, missing=None):
    """The row, locked and freshly read; None (or the refusal `missing`) when there is none."""
    row = db.session.get(model, record_id, with_for_update=True, populate_existing=True) \
        if record_id is not None else None
    if row is None and missing is not None:
        raise NotFound(missing)
    return row


def _locker(locker_id):
    return _locked(Locker, locker_id, _l("That locker does not exist."))


def _rental(rental_id):
    return _locked(Rental, rental_id)


def _holding(locker_id):
    return db.session.execute(
        db.select(Rental).where(Rental.holding_locker_id == locker_id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()


def lock_locker(locker_id):
    """Lock a locker, then the rental holding it; returns Locked(locker, rental or None)."""
    locker = _locker(locker_id)
    return Locked(locker, _holding(locker.id))


def lock_rental(rental_id):
    """Lock a rental's locker, then the rental itself; returns Locked(locker, rental).

    A rental never changes lockers, so its locker id is read without a lock
    first; the rental is then read again under the lock, with its current status.
    """
    # From the session when it holds the rental already: on MariaDB a plain read uses the
    # transaction's snapshot, which may predate a rental another desk just committed and
    # this one found with a locking read (a key returned right after a renewal).
    known = db.session.get(Rental, rental_id) if rental_id is not None else None
    if known is None:
        raise NotFound(_l("That rental does not exist."))
    locker_id = known.locker_id
    locker = _locker(locker_id)
    return Locked(locker, _rental(rental_id))


def lock_invoice(invoice_id):
    """Lock an invoice's locker and rental (when it has them), then the invoice itself."""
    rental_id = db.session.execute(db.select(Invoice.rental_id).where(Invoice.id == invoice_id)
                                   ).scalar_one_or_none() if invoice_id is not None else None
    if rental_id is not None:
        lock_rental(rental_id)
    return _locked(Invoice, invoice_id, _l("That invoice does not exist."))


def lock_payment(payment_id):
    """Lock a payment's locker, rental and invoice (when it has them), then the payment."""
    row = db.session.execute(db.select(Payment.invoice_id, Payment.rental_id)
                             .where(Payment.id == payment_id)).first()
    if row is None:
        raise NotFound(_l("That payment does not exist."))
    invoice_id, rental_id = row
    if invoice_id is not None:
        lock_invoice(invoice_id)
    elif rental_id is not None:
        lock_rental(rental_id)
    return _locked(Payment, payment_id)
