"""Server time of the Ctrl+K quick search on a large demo database (SPEC D5).

    .venv/bin/python bench/quick_search.py [--lockers 2000] [--clients 50000] [--queries 200]
                                           [--user desk@demo.local] [--index SQL ...]

Builds a fresh SQLite database in a temporary folder (or uses DATABASE_URL),
loads demo data of the given size, signs in as a demo user and sends a
realistic, repeatable mix of queries to /admin/quick_search/ through the WSGI
app (no network): name fragments, full phones typed with dashes, 4-digit
phone tails, locker numbers and key tags, as the desk types or scans them.
Prints p50/p95/max in milliseconds per kind and overall. `--index` runs extra
SQL (e.g. CREATE INDEX …) after loading and measures again, to weigh an index.
Figures go to bench/README.md by hand, with the command that produced them.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import nearest_rank  # noqa: E402

KINDS = (("name", 50), ("phone", 40), ("tail", 40), ("locker", 40), ("key tag", 30))
FRAGMENTS = ["karim", "akter", "rahm", "nasr", "tanv", "hoss", "sultana", "islam", "jahid",
             "fatema", "chowdh", "uddin", "mitu", "sabbir ahm", "rokeya beg", "zahid", "haque"]


def _queries(rng, phones, numbers, tags, count):
    """`count` (kind, text) pairs in a fixed mix, shuffled the same way every run."""
    makers = {
        "name": lambda: rng.choice(FRAGMENTS),
        # "+8801711123456" as the desk types it: "01711-123456".
        "phone": lambda: (lambda p: f"0{p[4:8]}-{p[8:]}")(rng.choice(phones)),
        "tail": lambda: rng.choice(phones)[-4:],
        "locker": lambda: rng.choice(numbers),
        "key tag": lambda: rng.choice(tags),
    }
    total = sum(weight for _, weight in KINDS)
    mix = []
    for kind, weight in KINDS:
        mix += [(kind, makers[kind]()) for _ in range(round(count * weight / total))]
    rng.shuffle(mix)
    return mix[:count]


def _measure(browser, queries):
    timings = {}
    for kind, text in queries:
        started = time.perf_counter()
        response = browser.get("/admin/quick_search/", query_string={"q": text})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (text, response.status_code)
        timings.setdefault(kind, []).append(elapsed)
        timings.setdefault("all", []).append(elapsed)
    print(f"{'queries':<12}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for kind in [k for k, _ in KINDS] + ["all"]:
        values = timings[kind]
        print(f"{kind:<12}{len(values):>5}{statistics.median(values):>9.1f}"
              f"{nearest_rank(values, 0.95):>9.1f}{max(values):>9.1f}")


def main():
    """Build the data set, then time the query mix (and again after any --index SQL)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lockers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--user", default="desk@demo.local")
    parser.add_argument("--index", action="append", default=[], metavar="SQL")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="locker-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Client
    from app.models import Key
    from app.models import Locker
    from app.services.demo import DEMO_PASSWORD
    from app.services.demo import load_demo_data

    app = create_app({"LOCKER_ENV": "development",
                      "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
                      "WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        summary = load_demo_data(lockers=args.lockers, clients=args.clients, years=1)
        print(f"demo data: {summary['lockers']} lockers, {summary['clients']} clients, "
              f"{summary['rentals']} rentals in {time.perf_counter() - started:.1f} s")
        phones = db.session.execute(sa.select(Client.phone).order_by(Client.id)).scalars().all()
        numbers = db.session.execute(sa.select(Locker.number).order_by(Locker.id)).scalars().all()
        tags = db.session.execute(sa.select(Key.tag).order_by(Key.id)).scalars().all()
    queries = _queries(random.Random(2026), phones, numbers, tags, args.queries)

    browser = app.test_client()
    response = browser.post("/login", data={"email": args.user, "password": DEMO_PASSWORD})
    assert response.status_code == 302, "demo login failed"
    for _ in range(5):  # warm up: first requests compile templates and fill caches
        browser.get("/admin/quick_search/", query_string={"q": "warm up"})
    print(f"signed in as {args.user}; {len(queries)} queries")
    _measure(browser, queries)
    if args.index:
        with app.app_context():
            for statement in args.index:
                db.session.execute(sa.text(statement))
            db.session.commit()
        print("after: " + "; ".join(args.index))
        _measure(browser, queries)


if __name__ == "__main__":
    main()
