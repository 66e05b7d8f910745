"""Two desks, one locker, two different actions at the same moment: one consistent story.

Every transition of a locker's life locks the locker, then its rental, and
checks the state again under the locks (app.services.locking). Whatever the
order the two desks are served in, the rental, the locker and their histories
must agree afterwards, and a desk whose action no longer fits is told why.
"""

from functools import partial

import pytest

from app.extensions import db
from app.models import Invoice
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import Payment
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import handover
from app.services import rentals
from app.services.errors import Refusal
from tests.races import race

pytestmark = pytest.mark.race

# The locker status that goes with each status of the rental holding it.
LOCKER_OF = {RentalStatus.RESERVED: LockerStatus.RESERVED, RentalStatus.ACTIVE: LockerStatus.ASSIGNED,
             RentalStatus.EXPIRED: LockerStatus.EXPIRED}


def attempt(action, *args):
    """Run a desk action in a racing desk: "won", or "refused: <the message staff see>"."""
    try:
        action(*args, by_user_id=None)
    except Refusal as exc:
        return f"refused: {exc.message}"
    return "won"


def _job(job, *args, **kwargs):
    return f"moved {job(*args, **kwargs)}"


def assert_one_story(locker_id):
    """The locker, the rentals of it and their histories tell one consistent story."""
    db.session.expire_all()
    locker = db.session.get(Locker, locker_id)
    holding = db.session.execute(db.select(Rental).where(
        Rental.holding_locker_id == locker_id)).scalars().all()
    assert len(holding) <= 1, f"{len(holding)} rentals hold locker {locker.number}"
    if holding:
        assert locker.status is LOCKER_OF[holding[0].status], (locker.status, holding[0].status)
    else:
        assert locker.status not in LOCKER_OF.values(), f"{locker.status} but no rental holds it"
    for rental in db.session.execute(db.select(Rental).where(Rental.locker_id == locker_id)).scalars():
        steps = sorted(rental.status_changes, key=lambda change: change.id)
        previous = None
        for step in steps:
            assert step.from_status is previous, f"rental {rental.id}: {previous} then {step}"
            previous = step.to_status
        assert previous is rental.status, f"rental {rental.id} is {rental.status}, history {previous}"
    changes = sorted(locker.status_changes, key=lambda change: change.id)
    for before, after in zip(changes, changes[1:], strict=False):
        assert after.from_status is before.to_status, (before, after)
    if changes:
        assert changes[-1].to_status is locker.status


@pytest.fixture
def rented(desk):
    """(locker, client, rental): an active monthly rental of a men's locker, with its invoice."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.MEN))
    client = desk.make_client(branch=locker.branch)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    return locker, client, rental


def test_renew_and_release_of_one_rental_at_once(app, rented):
    """Renew and release the same rental at the same moment: one wins, one is told why."""
    locker, _client, rental = rented
    outcomes = race(app, attempt, [(rentals.renew, rental.id), (rentals.release, rental.id)])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "won"], outcomes
    if outcomes[0] == "won":   # renewed: the release came too late for the old term
        assert outcomes[1] == "refused: This rental does not hold a locker any more."
        assert db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one() == 2
    else:
        assert outcomes[0] == "refused: Only an active or expired rental can be renewed."
        assert db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one() == 1
    assert_one_story(locker.id)
    # The locker is usable afterwards: a release or a new assignment goes through.
    holder = db.session.execute(db.select(Rental).where(
        Rental.holding_locker_id == locker.id)).scalar_one_or_none()
    if holder is not None:
        rentals.release(holder.id, by_user_id=None, locker_to=LockerStatus.AVAILABLE)
    else:
        from app.services import lockers
        lockers.change_status(locker.id, LockerStatus.AVAILABLE, by_user_id=None)
        db.session.commit()
    assert_one_story(locker.id)


def test_release_and_the_expiry_job_at_once(app, rented):
    """The expiry job and a release meet: released either way, history in order."""
    locker, _client, rental = rented
    rental.ends_at = utcnow()
    db.session.commit()
    outcomes = race(app, lambda kind: attempt(rentals.release, rental.id)
                    if kind == "release" else _job(rentals.expire_due), [("release",), ("expire",)])
    assert outcomes[0] == "won", outcomes
    assert outcomes[1] in ("moved 0", "moved 1"), outcomes
    assert db.session.get(Rental, rental.id).status is RentalStatus.RELEASED
    assert_one_story(locker.id)


def test_assign_and_reserve_of_one_locker_at_once(app, desk):
    """One desk assigns, another reserves the same locker for someone else: one gets it."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    first, second = (desk.make_client(branch=locker.branch, name=n) for n in ("Asha", "Bithi"))
    outcomes = race(app, attempt, [
        (rentals.assign, locker.id, first.id, RentalTerm.MONTHLY),
        (rentals.reserve, locker.id, second.id)])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "won"], outcomes
    loser = [o for o in outcomes if o != "won"][0]
    assert "not available" in loser or "Someone else has just taken this locker" in loser, loser
    assert_one_story(locker.id)


def test_key_return_and_renewal_at_once(app, desk, rented):
    """The client hands the key back while another desk renews: the locker ends up free, or
    renewed with the key still out; never a renewal holding a locker whose key came back."""
    locker, _client, rental = rented
    key = Key(locker=locker, tag=f"K-RACE-{locker.id}")
    db.session.add(key)
    db.session.commit()
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    outcomes = race(app, attempt, [
        (partial(handover.return_key, refund_poisha=50000), key.id),
        (rentals.renew, rental.id)])
    assert outcomes[0] == "won", outcomes
    # Either order is a true story: returned first (the renewal is refused), or renewed first
    # and then the key's return ends the renewal.
    assert outcomes[1] in ("won", "refused: Only an active or expired rental can be renewed."), \
        outcomes
    assert db.session.get(Key, key.id).state is KeyState.IN_OFFICE
    assert db.session.execute(db.select(Rental).where(
        Rental.holding_locker_id == locker.id)).scalar_one_or_none() is None
    assert_one_story(locker.id)


def test_payment_and_cancellation_of_one_invoice_at_once(app, rented):
    """A desk takes the full amount while a manager cancels the invoice: one wins."""
    _locker, _client, rental = rented
    invoice = billing.invoice_of(rental.id)
    outcomes = race(app, attempt, [
        (billing.record_payment, invoice.id, invoice.total_poisha, PaymentMethod.CASH),
        (billing.cancel_invoice, invoice.id, "entered twice")])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "won"], outcomes
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    paid = db.session.execute(db.select(db.func.count(Payment.id)).where(
        Payment.invoice_id == invoice.id)).scalar_one()
    if outcomes[0] == "won":
        assert paid == 1 and invoice.cancelled_at is None
        assert billing.invoice_state(invoice) is billing.InvoiceState.PAID
    else:
        assert paid == 0 and invoice.cancelled_at is not None
        assert outcomes[0].startswith("refused: Invoice") and "cancelled" in outcomes[0]


def test_two_full_refunds_of_one_payment_at_once(app, rented):
    """Two desks refund the same payment in full at the same moment: the money goes back once."""
    _locker, _client, rental = rented
    invoice = billing.invoice_of(rental.id)
    payment = billing.record_payment(invoice.id, invoice.total_poisha, PaymentMethod.CASH,
                                     by_user_id=None)
    amount = payment.amount_poisha
    outcomes = race(app, attempt, [
        (billing.refund_payment, payment.id, amount, "client left"),
        (billing.refund_payment, payment.id, amount, "client left")])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "won"], outcomes
    assert billing.refundable(db.session.get(Payment, payment.id)) == 0
    assert billing.totals(db.session.get(Invoice, invoice.id)).refunded == amount

