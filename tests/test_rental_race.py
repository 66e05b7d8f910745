"""Two desks, one locker: exactly one assignment wins, on every database."""

import pytest

from app.extensions import db
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import rentals
from tests.races import race

pytestmark = pytest.mark.race
RACERS = 8


def _assign(locker_id, client_id):
    try:
        rentals.assign(locker_id, client_id, RentalTerm.MONTHLY, by_user_id=None)
    except rentals.RentalError:
        return "refused"
    return "won"


def test_desks_assigning_one_locker_at_once_have_exactly_one_winner(desk, app):
    """8 processes assign the same locker to 8 clients at once: one rental, 7 refusals."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY), number="F-001")
    clients = [desk.make_client(branch=locker.branch, name=f"Client {n}") for n in range(RACERS)]
    outcomes = race(app, _assign, [(locker.id, client.id) for client in clients])
    assert sorted(outcomes) == ["refused"] * (RACERS - 1) + ["won"], outcomes
    assert len(db.session.execute(db.select(Rental)).scalars().all()) == 1
    assert db.session.get(Locker, locker.id).status is LockerStatus.ASSIGNED
