"""What is owed on each invoice is kept with it (Invoice.owed_poisha) and always says what its
payments say: billing's flush hook writes it in the transaction of every change."""

import sqlalchemy as sa

from app.extensions import db
from app.models import Invoice
from app.models import PaymentMethod
from app.models import RentalTerm
from app.services import billing
from app.services import rentals
from tests.test_figures import story  # noqa: F401  (the fixture)


def _owed(invoice_id):
    return db.session.execute(sa.select(Invoice.owed_poisha).where(
        Invoice.id == invoice_id)).scalar_one()


def test_owed_follows_payments_refunds_and_cancelling(desk):
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    total = invoice.total_poisha
    assert total > 0 and _owed(invoice.id) == total == invoice.owed_poisha
    payment = billing.record_payment(invoice.id, 30000, PaymentMethod.CASH, by_user_id=None)
    assert _owed(invoice.id) == total - 30000
    # The invoice the session holds says so too, without being read again.
    assert invoice.owed_poisha == total - 30000
    billing.refund_payment(payment.id, 10000, "overcharged", by_user_id=None)
    assert _owed(invoice.id) == total - 20000
    billing.refund_payment(payment.id, 20000, "wrong locker", by_user_id=None)
    assert _owed(invoice.id) == total
    billing.cancel_invoice(invoice.id, "wrong locker", by_user_id=None)
    assert _owed(invoice.id) == 0


def test_every_invoice_of_the_story_owes_what_its_payments_say(story):  # noqa: F811
    """Across the story's payments, refunds, deposits settling dues and an old invoice."""
    kept = dict(db.session.execute(sa.select(Invoice.id, Invoice.owed_poisha)).all())
    assert kept and any(owed > 0 for owed in kept.values())
    for invoice in db.session.execute(sa.select(Invoice)).scalars():
        expected = 0 if invoice.cancelled_at else billing.balance(invoice)
        assert kept[invoice.id] == expected, invoice.number
    # Written afresh from the payments, nothing changes.
    billing.keep_owed_again()
    db.session.commit()
    assert dict(db.session.execute(sa.select(Invoice.id, Invoice.owed_poisha)).all()) == kept
