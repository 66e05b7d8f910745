"""The rental life cycle and its guards (SPEC R1–R6)."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import ClientStatus
from app.models import Gender
from app.models import Locker
from app.models import LockerStatus
from app.models import LostItem
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import rentals
from app.services.errors import Refusal
from app.services.rentals import NeedsOverride
from app.services.rentals import RentalError


@pytest.fixture
def men_locker(desk):
    return desk.make_locker(zone=desk.make_zone(kind=ZoneKind.MEN), number="M-001")


def _client(desk, locker, **fields):
    return desk.make_client(branch=locker.branch, **fields)


def _status(locker):
    db.session.expire_all()
    return db.session.get(Locker, locker.id).status


def test_assign_gives_the_locker_for_a_term_at_the_listed_price(desk, men_locker):
    """A monthly rental runs 30 days at the settings' price with VAT, invoiced; the locker is Assigned."""
    desk_user = desk.make_user("Front Desk")
    client = _client(desk, men_locker)
    rental = rentals.assign(men_locker.id, client.id, RentalTerm.MONTHLY, by_user_id=desk_user.id)
    assert rental.status is RentalStatus.ACTIVE and rental.days == 30
    assert rental.ends_at - rental.starts_at == timedelta(days=30)
    # ৳800 from the settings' price table, plus 15% VAT.
    assert rental.price_poisha == 92000
    assert rental.holding_locker_id == men_locker.id
    assert _status(men_locker) is LockerStatus.ASSIGNED
    invoice = billing.invoice_of(rental.id)
    assert invoice.total_poisha == 92000 and invoice.client_id == rental.client_id
    history = [(c.from_status, c.to_status, c.changed_by_id) for c in rental.status_changes]
    assert history == [(None, RentalStatus.ACTIVE, desk_user.id)]


def test_a_custom_term_is_priced_per_day(desk, men_locker):
    """Ten custom days cost ten daily prices (with VAT)."""
    rental = rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.CUSTOM,
                            days=10, by_user_id=None)
    assert rental.days == 10
    assert rental.price_poisha == 10 * 5000 * 115 // 100
    with pytest.raises(Refusal):
        rentals.assign(desk.make_locker(zone=men_locker.zone).id, _client(desk, men_locker).id,
                       RentalTerm.CUSTOM, days=0, by_user_id=None)


@pytest.mark.parametrize("status, message", [
    (ClientStatus.BANNED, "is banned"), (ClientStatus.INACTIVE, "is inactive")])
def test_banned_or_inactive_clients_cannot_be_assigned(desk, men_locker, status, message):
    """The guard names the reason and the locker stays Available."""
    client = _client(desk, men_locker, status=status, ban_reason="Lost 3 keys")
    with pytest.raises(RentalError, match=message):
        rentals.assign(men_locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    assert _status(men_locker) is LockerStatus.AVAILABLE
    assert not db.session.execute(db.select(Rental)).first()


@pytest.mark.parametrize("status", [LockerStatus.MAINTENANCE, LockerStatus.OUT_OF_SERVICE,
                                    LockerStatus.CLEANING])
def test_lockers_out_of_use_cannot_be_assigned(desk, status):
    """Maintenance, Out of service and Cleaning lockers are refused."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY), status=status)
    with pytest.raises(RentalError, match="cannot be rented"):
        rentals.assign(locker.id, _client(desk, locker).id, RentalTerm.DAILY, by_user_id=None)


def test_a_locker_waiting_for_a_new_key_cannot_be_rented(desk):
    """After a lost key the locker is blocked until re-keyed."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY), needs_rekey=True)
    with pytest.raises(RentalError, match="new key or lock"):
        rentals.assign(locker.id, _client(desk, locker).id, RentalTerm.DAILY, by_user_id=None)


def test_gender_zone_mismatch_needs_a_managers_override_with_reason(desk, men_locker):
    """A woman in the men's zone: warning; the desk cannot override, a manager can."""
    client = _client(desk, men_locker, gender=Gender.FEMALE, name="Sadia Islam")
    front_desk = desk.make_user("Front Desk")
    manager = desk.make_user("Manager")
    with pytest.raises(NeedsOverride, match="Men zone"):
        rentals.assign(men_locker.id, client.id, RentalTerm.MONTHLY, by_user_id=manager.id)
    with pytest.raises(RentalError, match="Only a manager"):
        rentals.assign(men_locker.id, client.id, RentalTerm.MONTHLY, by_user_id=front_desk.id,
                       override_reason="She asked")
    rental = rentals.assign(men_locker.id, client.id, RentalTerm.MONTHLY, by_user_id=manager.id,
                            override_reason="Family locker full, husband's zone agreed")
    assert rental.status_changes[-1].reason.startswith("override: Family locker full")
    assert rental.status_changes[-1].changed_by_id == manager.id


def test_an_assigned_locker_cannot_be_assigned_again(desk, men_locker):
    """The second assignment is refused and the first rental stands."""
    rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.MONTHLY, by_user_id=None)
    with pytest.raises(RentalError, match="not available"):
        rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.MONTHLY,
                       by_user_id=None)
    assert len(db.session.execute(db.select(Rental)).scalars().all()) == 1


def test_the_database_refuses_two_rentals_holding_one_locker(desk, men_locker):
    """Even bypassing the service, a second holding rental breaks the UNIQUE constraint."""
    from sqlalchemy.exc import IntegrityError

    now = utcnow()
    for name in ("A", "B"):
        db.session.add(Rental(branch_id=men_locker.branch_id, locker=men_locker,
                              client=_client(desk, men_locker, name=name), days=30,
                              starts_at=now, ends_at=now, holding_locker_id=men_locker.id,
                              status=RentalStatus.ACTIVE))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_reserve_then_assign_the_same_client(desk, men_locker):
    """A reservation holds the locker for its client, who then gets it."""
    client = _client(desk, men_locker)
    other = _client(desk, men_locker, name="Other")
    held = rentals.reserve(men_locker.id, client.id, by_user_id=None, hours=2)
    assert _status(men_locker) is LockerStatus.RESERVED
    assert held.reserved_until - held.starts_at == timedelta(hours=2)
    with pytest.raises(RentalError):
        rentals.assign(men_locker.id, other.id, RentalTerm.MONTHLY, by_user_id=None)
    rental = rentals.assign(men_locker.id, client.id, RentalTerm.WEEKLY, by_user_id=None)
    assert rental.id == held.id and rental.status is RentalStatus.ACTIVE and rental.days == 7
    assert [c.to_status for c in rental.status_changes] == [RentalStatus.RESERVED,
                                                            RentalStatus.ACTIVE]


def test_a_lapsed_reservation_frees_the_locker(desk, men_locker):
    """The job cancels reservations past their deadline."""
    held = rentals.reserve(men_locker.id, _client(desk, men_locker).id, by_user_id=None, hours=1)
    assert rentals.lapse_reservations(now=utcnow() + timedelta(minutes=30)) == 0
    assert rentals.lapse_reservations(now=utcnow() + timedelta(hours=2)) == 1
    db.session.refresh(held)
    assert held.status is RentalStatus.CANCELLED and held.holding_locker_id is None
    assert _status(men_locker) is LockerStatus.AVAILABLE


def test_renew_adds_the_same_term_after_the_current_one(desk, men_locker):
    """One click: a new 30-day term starting when the current one ends."""
    first = rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.MONTHLY,
                           by_user_id=None)
    renewal = rentals.renew(first.id, by_user_id=None)
    db.session.refresh(first)
    assert renewal.renewed_from_id == first.id and renewal.starts_at == first.ends_at
    assert renewal.ends_at - renewal.starts_at == timedelta(days=30)
    assert first.status is RentalStatus.RELEASED and first.holding_locker_id is None
    assert renewal.holding_locker_id == men_locker.id
    assert _status(men_locker) is LockerStatus.ASSIGNED


def test_expiry_grace_and_abandonment(desk, men_locker):
    """Expired at the end of term; abandoned after the grace period with a lost item."""
    rental = rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.DAILY,
                            by_user_id=None)
    assert rentals.expire_due(now=utcnow() + timedelta(days=2)) == 1
    assert _status(men_locker) is LockerStatus.EXPIRED
    grace = 3  # the default setting
    assert rentals.abandon_overdue(now=utcnow() + timedelta(days=1 + grace - 1)) == 0
    assert rentals.abandon_overdue(now=utcnow() + timedelta(days=2 + grace)) == 1
    db.session.expire_all()
    assert db.session.get(Rental, rental.id).status is RentalStatus.ABANDONED
    assert _status(men_locker) is LockerStatus.CLEANING
    item = db.session.execute(db.select(LostItem)).scalar_one()
    assert item.rental_id == rental.id and item.client_id == rental.client_id


def test_release_sends_the_locker_to_cleaning(desk, men_locker):
    """Releasing a rental ends it now and the locker goes to Cleaning."""
    rental = rentals.assign(men_locker.id, _client(desk, men_locker).id, RentalTerm.MONTHLY,
                            by_user_id=None)
    rentals.release(rental.id, by_user_id=None, reason="Moved to Uttara branch")
    db.session.refresh(rental)
    assert rental.status is RentalStatus.RELEASED and rental.ended_at is not None
    assert rental.status_changes[-1].reason == "Moved to Uttara branch"
    assert _status(men_locker) is LockerStatus.CLEANING
