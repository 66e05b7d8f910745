"""Domain events: written with the change, heard after the commit, never lost."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import DomainEvent
from app.models import PaymentMethod
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import billing
from app.services import events
from app.services import rentals
from app.services.errors import Refusal


@pytest.fixture
def heard():
    """What a subscriber hears; it can be told to fail (Redis down) with heard.failing = True."""

    class Ear:
        batches = []
        failing = False

        def __call__(self, batch):
            if self.failing:
                return False
            self.batches.append([(event.name, event.locker_id) for event in batch])
            return True

    ear = Ear()
    ear.batches = []
    events.subscribe(ear)
    yield ear
    events._subscribers.remove((ear, None))


def _names(batches):
    return [name for batch in batches for name, _locker in batch]


def test_an_assignment_is_heard_once_after_its_commit(desk, heard):
    """Assigning a locker: the rental, the locker's status and the invoice, heard in one batch."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    client = desk.make_client(branch=locker.branch)
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    assert heard.batches == [[(events.LOCKER_STATUS_CHANGED, locker.id),
                              (events.RENTAL_ASSIGNED, locker.id),
                              (events.INVOICE_ISSUED, locker.id)]]
    rows = db.session.execute(db.select(DomainEvent)).scalars().all()
    assert all(row.dispatched_at is not None for row in rows) and len(rows) == 3


def test_a_refused_action_leaves_no_event(desk, heard):
    """A payment over the balance is refused: no row, nothing heard."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    rental = rentals.assign(locker.id, desk.make_client(branch=locker.branch).id,
                            RentalTerm.MONTHLY, by_user_id=None)
    invoice = billing.invoice_of(rental.id)
    heard.batches.clear()
    before = db.session.execute(db.select(db.func.count(DomainEvent.id))).scalar_one()
    with pytest.raises(Refusal):
        billing.record_payment(invoice.id, invoice.total_poisha + 1, PaymentMethod.CASH,
                               by_user_id=None)
    assert heard.batches == []
    assert db.session.execute(db.select(db.func.count(DomainEvent.id))).scalar_one() == before


def test_events_a_subscriber_could_not_take_are_swept_later(desk, heard):
    """Redis is down when a desk acts: the events wait, and the sweeper delivers them once."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    heard.failing = True
    rental = rentals.assign(locker.id, desk.make_client(branch=locker.branch).id,
                            RentalTerm.WEEKLY, by_user_id=None)
    waiting = db.session.execute(db.select(DomainEvent).where(
        DomainEvent.dispatched_at.is_(None))).scalars().all()
    assert len(waiting) == 3 and heard.batches == []
    # Not yet: an event is swept only once it is older than a moment (its own commit
    # may still be delivering it).
    assert events.dispatch_undelivered() == 0
    heard.failing = False
    assert events.dispatch_undelivered(older_than=timedelta(0)) == 3
    assert _names(heard.batches) == [events.LOCKER_STATUS_CHANGED, events.RENTAL_ASSIGNED,
                                     events.INVOICE_ISSUED]
    assert events.dispatch_undelivered(older_than=timedelta(0)) == 0
    assert rental.id is not None


def test_a_subscriber_that_raises_does_not_undo_the_desk_action(desk, heard):
    """A broken subscriber is logged; the rental stands and its events wait for the sweeper."""
    def broken(batch):
        raise RuntimeError("subscriber bug")

    events.subscribe(broken)
    try:
        locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
        rental = rentals.assign(locker.id, desk.make_client(branch=locker.branch).id,
                                RentalTerm.WEEKLY, by_user_id=None)
    finally:
        events._subscribers.remove((broken, None))
    assert rentals.release(rental.id, by_user_id=None).status.name == "RELEASED"
    undelivered = db.session.execute(db.select(db.func.count(DomainEvent.id)).where(
        DomainEvent.dispatched_at.is_(None))).scalar_one()
    assert undelivered == 3
