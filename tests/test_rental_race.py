"""Two desks, one locker: exactly one assignment wins, on every database."""

import multiprocessing
import os

from app.extensions import db
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalTerm
from app.models import ZoneKind

RACERS = 20


def _race(database_url, locker_id, client_id, barrier, results):
    """One desk process: build its own app, wait for the others, then assign.

    It ends with os._exit: a normal exit would garbage-collect connection objects
    inherited from the parent and close the parent's database sockets.
    """
    try:
        _assign_once(database_url, locker_id, client_id, barrier, results)
    except BaseException as exc:  # the parent must hear about every racer
        results.put(f"crashed: {exc.__class__.__name__}: {exc}")
    finally:
        results.close()
        results.join_thread()
        os._exit(0)


def _assign_once(database_url, locker_id, client_id, barrier, results):
    from app import create_app
    from app.services import rentals
    from tests.conftest import config_for

    app = create_app(config_for(database_url))
    with app.app_context():
        db.session.execute(db.select(Locker.id).limit(1)).all()  # connect before the start
        db.session.rollback()
        barrier.wait(timeout=180)
        try:
            rentals.assign(locker_id, client_id, RentalTerm.MONTHLY, by_user_id=None)
            results.put("won")
        except rentals.RentalError:
            results.put("refused")
        except Exception as exc:  # anything else is a bug the test must show
            results.put(f"crashed: {exc.__class__.__name__}: {exc}")
        finally:
            db.engine.dispose()


def test_twenty_desks_assigning_one_locker_have_exactly_one_winner(desk, database_url):
    """20 processes assign the same locker to 20 clients at once: one rental, 19 refusals."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY), number="F-001")
    clients = [desk.make_client(branch=locker.branch, name=f"Client {n}") for n in range(RACERS)]
    db.session.commit()
    db.engine.dispose()  # no pooled connection may cross the fork
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    processes = [context.Process(target=_race, args=(database_url, locker.id, c.id, barrier, results))
                 for c in clients]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * (RACERS - 1) + ["won"], outcomes
    # Reading the clients' ids above began a transaction; on MariaDB (REPEATABLE READ)
    # its snapshot predates the race, so end it before looking at the result.
    db.session.rollback()
    assert len(db.session.execute(db.select(Rental)).scalars().all()) == 1
    assert db.session.get(Locker, locker.id).status is LockerStatus.ASSIGNED
