"""The reminder sweep over a chain's active rentals (SPEC N3; target ≤ 30 s for 100,000).

    .venv/bin/python bench/reminders.py [--rentals 100000] [--branches 20]

Builds a fresh SQLite database in a temporary folder (or uses DATABASE_URL,
which must then name a database of its own), bulk-inserts `--rentals` active
rentals (one locker and one client each, every client opted in to email and
SMS, expiries spread from 10 days ago to 50 days ahead across `--branches`
branches) with the shipped templates, then times `sweep_reminders()` twice:
the first run writes today's reminders and overdue notices under the default
schedule; the second must write nothing. Delivery is not part of the sweep
(workers send afterwards), so no provider is needed. Figures go to
bench/README.md by hand, with the command that produced them.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 5000


def _bulk(connection, table, rows):
    for start in range(0, len(rows), CHUNK):
        connection.execute(table.insert(), rows[start:start + CHUNK])


def build(db, rentals, branches, now):
    """Branches, zones, lockers, clients and active rentals, inserted in bulk."""
    from app.models import Branch
    from app.models import Client
    from app.models import Floor
    from app.models import Locker
    from app.models import Rental
    from app.models import Zone

    with db.engine.begin() as connection:
        _bulk(connection, Branch.__table__, [
            {"id": b, "name": f"Branch {b}", "code": f"B{b:02d}", "timezone": "Asia/Dhaka",
             "is_active": True, "created_at": now, "updated_at": now}
            for b in range(1, branches + 1)])
        _bulk(connection, Floor.__table__, [
            {"id": b, "branch_id": b, "name": "Ground", "level": 0, "created_at": now,
             "updated_at": now} for b in range(1, branches + 1)])
        _bulk(connection, Zone.__table__, [
            {"id": b, "floor_id": b, "branch_id": b, "name": "Family", "kind": "FAMILY",
             "created_at": now,
             "updated_at": now} for b in range(1, branches + 1)])
        span = 60 * 24 * 60  # minutes from 10 days ago to 50 days ahead
        lockers, clients, held = [], [], []
        for n in range(1, rentals + 1):
            branch = 1 + n % branches
            lockers.append({"id": n, "branch_id": branch, "zone_id": branch,
                            "number": f"L-{n:06d}", "size": "MEDIUM", "status": "ASSIGNED",
                            "needs_rekey": False, "created_at": now, "updated_at": now})
            clients.append({"id": n, "branch_id": branch, "full_name": f"Client {n}",
                            "phone": f"+88017{n:08d}", "email": f"c{n}@example.com",
                            "preferred_language": "BENGALI" if n % 3 else "ENGLISH",
                            "opt_in_email": True, "opt_in_sms": True, "opt_in_whatsapp": n % 4 == 0,
                            "status": "ACTIVE", "registered_at": now, "created_at": now,
                            "updated_at": now})
            ends = now - timedelta(days=10) + timedelta(minutes=(n * 7919) % span)
            held.append({"id": n, "branch_id": branch, "locker_id": n, "client_id": n,
                         "term": "MONTHLY", "days": 30, "starts_at": ends - timedelta(days=30),
                         "ends_at": ends, "price_poisha": 80000,
                         "status": "ACTIVE" if ends > now else "EXPIRED",
                         "holding_locker_id": n, "created_at": now, "updated_at": now})
        _bulk(connection, Locker.__table__, lockers)
        _bulk(connection, Client.__table__, clients)
        _bulk(connection, Rental.__table__, held)


def main():
    """Build the data set, then time the sweep twice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rentals", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=20)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="locker-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Notification
    from app.models import utcnow
    from app.services import message_templates
    from app.services import notifications
    from app.services import settings

    app = create_app({"LOCKER_ENV": "development",
                      "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    with app.app_context():
        upgrade()
        settings.ensure_defaults()
        message_templates.install_defaults()
        started = time.perf_counter()
        build(db, args.rentals, args.branches, utcnow())
        print(f"data: {args.rentals} active rentals in {args.branches} branches, "
              f"built in {time.perf_counter() - started:.1f} s")
        for run in (1, 2):
            started = time.perf_counter()
            written = notifications.sweep_reminders()
            elapsed = time.perf_counter() - started
            print(f"sweep run {run}: {written} reminders written in {elapsed:.2f} s")
        total = db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar()
        print(f"notifications in the outbox: {total}; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
