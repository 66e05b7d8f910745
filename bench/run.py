"""Server time of the desk's busiest pages on a large demo database.

    .venv/bin/python bench/run.py [--lockers 2000] [--clients 50000] [--requests 50]

Builds a fresh SQLite database in a temporary folder (or uses DATABASE_URL),
loads demo data of the given size, signs in as the demo Front Desk and measures
each page through the WSGI app (no network), printing p50/p95 in milliseconds.
Figures go to bench/README.md by hand, with the command that produced them.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGES = ["/admin/", "/admin/clients/", "/admin/clients/?search=01711", "/admin/lockers/",
         "/admin/rentals/", "/admin/activity/"]


def main():
    """Build the data set, then time every page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lockers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="locker-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)

    from flask_migrate import upgrade

    from app import create_app
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

    browser = app.test_client()
    response = browser.post("/login", data={"email": "desk@demo.local", "password": DEMO_PASSWORD})
    assert response.status_code == 302, "demo login failed"
    print(f"{'page':<36}{'p50 ms':>9}{'p95 ms':>9}")
    for page in PAGES:
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = browser.get(page)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (page, response.status_code)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        print(f"{page:<36}{statistics.median(timings):>9.1f}{p95:>9.1f}")


if __name__ == "__main__":
    main()
