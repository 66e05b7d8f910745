"""Each client row knows whether the client has gone inactive, and since when.

A client is inactive once the term of the rental they started last has ended
unrenewed and they hold no locker; app.services.inactivity keeps that on the
client with every change to their rentals, and the inactive-clients report
reads it. The expected moments below are worked out by hand from the story.
"""

import importlib
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Client
from app.models import RentalTerm
from app.services import figures
from app.services import inactivity
from app.services import rentals
from tests.test_figures import MARCH
from tests.test_figures import at
from tests.test_figures import story  # noqa: F401  (the fixture)


def _kept(client_id):
    """(inactive_rental_id, inactive_since) as the database holds them."""
    return tuple(db.session.execute(sa.select(Client.inactive_rental_id, Client.inactive_since)
                                    .where(Client.id == client_id)).one())


def test_a_client_goes_inactive_when_the_locker_comes_back_and_active_when_they_rent_again(desk):
    branch = desk.make_branch(timezone="Asia/Dhaka")
    zone = desk.make_zone(branch=branch)
    first, second = desk.make_locker(zone=zone, number="M-1"), desk.make_locker(zone=zone, number="M-2")
    client = desk.make_client(branch=branch, name="Rafiq")
    assert _kept(client.id) == (None, None)

    with at(datetime(2026, 3, 1, 4, 0)):
        rental = rentals.assign(first.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    assert _kept(client.id) == (None, None)
    edited = db.session.execute(sa.select(Client.updated_at).where(Client.id == client.id)).scalar()
    # Released early, on 10 March: the term ended then.
    with at(datetime(2026, 3, 10, 5, 0)):
        rentals.release(rental.id, by_user_id=None)
    assert _kept(client.id) == (rental.id, datetime(2026, 3, 10, 5, 0))
    # Bookkeeping, not an edit of the client.
    assert db.session.execute(sa.select(Client.updated_at).where(Client.id == client.id)).scalar() == edited
    # The client object the session holds says so too, without being read again.
    held = db.session.get(Client, client.id)
    assert held.inactive_since == datetime(2026, 3, 10, 5, 0)
    (gone,) = figures.inactive_clients(branch.id, *MARCH)
    assert (gone.client_name, gone.locker_number) == ("Rafiq", "M-1")

    # Renting again makes the client active; the term running out while the key is
    # still out does not make them inactive; handing the locker back does, from the
    # term's end.
    with at(datetime(2026, 3, 20, 4, 0)):
        again = rentals.assign(second.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    assert _kept(client.id) == (None, None) and held.inactive_since is None
    with at(again.ends_at + timedelta(days=2)):
        assert rentals.expire_due() == 1
        assert _kept(client.id) == (None, None)
    with at(again.ends_at + timedelta(days=5)):
        rentals.release(again.id, by_user_id=None)
    assert _kept(client.id) == (again.id, again.ends_at)
    assert figures.inactive_clients(branch.id, *MARCH) == []


def test_a_renewed_term_is_not_where_inactivity_starts(desk):
    branch = desk.make_branch(timezone="Asia/Dhaka")
    locker = desk.make_locker(zone=desk.make_zone(branch=branch), number="M-1")
    client = desk.make_client(branch=branch, name="Sumi")
    with at(datetime(2026, 3, 1, 4, 0)):
        rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    with at(datetime(2026, 3, 25, 4, 0)):
        renewal = rentals.renew(rental.id, by_user_id=None)
    assert _kept(client.id) == (None, None)
    with at(datetime(2026, 4, 10, 4, 0)):
        rentals.release(renewal.id, by_user_id=None)
    assert _kept(client.id) == (renewal.id, datetime(2026, 4, 10, 4, 0))


def test_what_the_flushes_kept_is_what_the_definition_says(story):  # noqa: F811
    """Written afresh from the rentals, nothing changes: Babul alone is inactive."""
    clients = [story.arif, story.babul, story.chameli, story.dipu]
    kept = {client.id: _kept(client.id) for client in clients}
    assert kept[story.babul.id] == (story.babul_rental.id, datetime(2026, 3, 12, 6, 0))
    assert [client_id for client_id, (rental_id, _since) in kept.items() if rental_id] == [
        story.babul.id]
    inactivity.keep_inactive_again()
    assert {client.id: _kept(client.id) for client in clients} == kept


def test_the_upgrade_fills_in_what_the_service_keeps(story):  # noqa: F811
    """Migration 0021's SQL, run over the story's rentals, writes what the flushes wrote."""
    migration = importlib.import_module("migrations.versions.0021_client_inactivity")
    clients = [story.arif, story.babul, story.chameli, story.dipu]
    kept = {client.id: _kept(client.id) for client in clients}
    db.session.execute(sa.update(Client).values(inactive_rental_id=None, inactive_since=None))
    for statement in (migration.INACTIVE_RENTAL, migration.INACTIVE_SINCE):
        db.session.execute(sa.text(statement))
    assert {client.id: _kept(client.id) for client in clients} == kept
    db.session.rollback()
