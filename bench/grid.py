"""The live locker grid (SPEC L4): server time, size of a live update, and time to reach another page.

    REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/grid.py \\
        [--lockers 2000] [--clients 50000] [--requests 50] [--changes 20] [--workers 2] [--no-browser]

Builds a fresh SQLite database in a temporary folder (as bench/run.py does) with the
demo data, signs in as the demo Front Desk and then

1. times the grid page, its tiles JSON and an empty poll of the change feed through
   the WSGI app (no network), and counts their SQL statements;
2. measures the bytes of the change feed's answer after one rented locker changed;
3. starts gunicorn with --workers processes on a free port, opens the grid in two
   headless Chromium pages (Debian's /usr/bin/chromium) and changes a locker
   --changes times, half through the service in this process, half through page
   one's status form (so the change is made by one gunicorn worker and read by
   whichever answers page two); each time it measures from just before the change
   until page two's tile shows the new status.

Redis is REDIS_URL (the app's default when unset); the feed's keys are
locker_grid:<branch>:*, so do not point it at a Redis a live desk with the same
branch ids uses. Figures go to bench/README.md by hand, with the command.
"""

import argparse
import gc
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
GRID = "/admin/locker_grid/"
# Page two records when each tile is put on the page, with the browser's clock.
WATCH_TILES = """() => {
  window.__seen = {};
  new MutationObserver(function (mutations) {
    var now = Date.now();
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(function (node) {
        if (node.dataset && node.dataset.id) {
          window.__seen[node.dataset.id] = {s: node.dataset.s, t: now};
        }
      });
    });
  }).observe(document.getElementById("grid"), {childList: true, subtree: true});
}"""


def percentiles(values):
    """(p50, p95) of a list; p95 by nearest rank (the 48th of 50 samples, the 19th of 20)."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(len(ordered) * 0.95) - 1]


def time_requests(browser, path, count):
    """Server time of `count` GETs of `path` in ms, and the size of the last answer."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = browser.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return timings, len(response.data)


def count_statements(db, browser, path):
    """How many SQL statements one GET of `path` runs."""
    from sqlalchemy import event

    statements = []

    def note(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        browser.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return len(statements)


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(workdir, workers):
    """gunicorn serving wsgi:app on a free port; returns (process, base URL)."""
    port = free_port()
    with open(workdir / "gunicorn.log", "w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--bind",
             f"127.0.0.1:{port}", "--chdir", str(ROOT), "wsgi:app"],
            env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/login", timeout=2) as answer:
                if answer.status == 200:
                    return process, base_url
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"gunicorn did not start, see {workdir / 'gunicorn.log'}")


def open_grid(chromium, base_url, email, password):
    """A new browser window signed in as `email`, showing the grid."""
    context = chromium.new_context(viewport={"width": 1366, "height": 1024})
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.goto(f"{base_url}{GRID}")
    page.wait_for_selector("#grid .tile")
    return context, page


def live_latency(app, base_url, count, seed=2026):
    """Milliseconds from a change to page two showing it, for `count` changes."""
    from playwright.sync_api import sync_playwright

    from app.extensions import db
    from app.models import Locker
    from app.models import LockerStatus
    from app.models import User
    from app.services import lockers
    from app.services.demo import DEMO_PASSWORD

    rng = random.Random(seed)
    with app.app_context():
        desk_user = db.session.execute(
            db.select(User).where(User.email == "desk@demo.local")).scalar_one()
        user_id = desk_user.id
        chosen = db.session.execute(
            db.select(Locker.id).where(Locker.status == LockerStatus.AVAILABLE,
                                       Locker.needs_rekey.is_(False))
            .order_by(Locker.id).limit(count)).scalars().all()
    results = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        one_context, one = open_grid(chromium, base_url, "desk@demo.local", DEMO_PASSWORD)
        two_context, two = open_grid(chromium, base_url, "desk@demo.local", DEMO_PASSWORD)
        two.evaluate(WATCH_TILES)
        for number, locker_id in enumerate(chosen):
            time.sleep(rng.uniform(0.2, 0.9))  # changes land at any point of the poll cycle
            via_form = number >= count // 2
            if via_form:
                one.goto(f"{base_url}/admin/lockers/status/?ids={locker_id}&status=MAINTENANCE")
                one.select_option("select[name=status]", "MAINTENANCE")
                one.fill("textarea[name=reason]", "bench")
                started = time.time() * 1000
                with one.expect_navigation():
                    one.click("form[action*='/admin/lockers/status/'] button[type=submit]")
            else:
                with app.app_context():
                    started = time.time() * 1000
                    lockers.change_status(locker_id, LockerStatus.MAINTENANCE, by_user_id=user_id,
                                          manual=True, reason="bench")
                    db.session.commit()
            two.wait_for_function(
                "([id, status]) => window.__seen[id] && window.__seen[id].s === status",
                arg=[str(locker_id), "MAINTENANCE"], timeout=15000)
            shown = two.evaluate(f"window.__seen['{locker_id}'].t")
            results.append(("form" if via_form else "service", shown - started))
        one_context.close()
        two_context.close()
        chromium.close()
    return results


def main():
    """Build the data set, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lockers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-browser", action="store_true", help="skip the two-page measurement")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="locker-grid-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)
    os.environ["LOCKER_ENV"] = "development"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Locker
    from app.models import LockerStatus
    from app.models import User
    from app.services import lockers
    from app.services.demo import DEMO_PASSWORD
    from app.services.demo import load_demo_data

    app = create_app({"LOCKER_ENV": "development",
                      "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
                      "REDIS_URL": os.environ["REDIS_URL"],
                      "WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        summary = load_demo_data(lockers=args.lockers, clients=args.clients, years=1)
        print(f"demo data: {summary['lockers']} lockers, {summary['clients']} clients, "
              f"{summary['rentals']} rentals in {time.perf_counter() - started:.1f} s")
        print(f"database: {os.environ['DATABASE_URL']}  redis: {os.environ['REDIS_URL']}")

    browser = app.test_client()
    response = browser.post("/login", data={"email": "desk@demo.local", "password": DEMO_PASSWORD})
    assert response.status_code == 302, "demo login failed"
    tiles = browser.get(GRID + "tiles").get_json()
    version = tiles["version"]
    assert version is not None, "Redis is not reachable: the live feed cannot be measured"
    print(f"tiles on the grid: {len(tiles['tiles'])}")
    gc.collect()  # the demo loader's garbage is not the grid's
    print(f"\n{'request':<34}{'p50 ms':>9}{'p95 ms':>9}{'bytes':>10}{'SQL':>6}")
    for label, path in (("grid page", GRID), ("tiles JSON", GRID + "tiles"),
                        ("change feed, nothing new", f"{GRID}changes?since={version}")):
        timings, size = time_requests(browser, path, args.requests)
        p50, p95 = percentiles(timings)
        with app.app_context():
            statements = count_statements(db, browser, path)
        print(f"{label:<34}{p50:>9.1f}{p95:>9.1f}{size:>10,}{statements:>6}")

    with app.app_context():
        user_id = db.session.execute(
            db.select(User.id).where(User.email == "desk@demo.local")).scalar_one()
        locker_id = db.session.execute(
            db.select(Locker.id).where(Locker.status == LockerStatus.ASSIGNED)
            .order_by(Locker.id).limit(1)).scalar_one()
        since = browser.get(GRID + "tiles").get_json()["version"]
        lockers.change_status(locker_id, LockerStatus.MAINTENANCE, by_user_id=user_id,
                              manual=True, reason="bench")
        db.session.commit()
    started = time.perf_counter()
    answer = browser.get(f"{GRID}changes?since={since}")
    elapsed = (time.perf_counter() - started) * 1000
    body = answer.get_data()
    assert len(answer.get_json()["tiles"]) == 1, body
    print(f"{'change feed, one rented locker':<34}{elapsed:>9.1f}{'':>9}{len(body):>10,}")
    print(f"  one change on the wire ({len(body)} bytes): {body.decode()}")

    if args.no_browser:
        return
    process, base_url = start_gunicorn(workdir, args.workers)
    try:
        results = live_latency(app, base_url, args.changes)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"\nchange -> shown on page two (gunicorn --workers {args.workers}, poll every 500 ms)")
    for how in ("service", "form"):
        values = [ms for kind, ms in results if kind == how]
        if values:
            p50, p95 = percentiles(values)
            print(f"  via {how:<8} n={len(values):<3} p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  "
                  f"max {max(values):6.0f} ms")
    p50, p95 = percentiles([ms for _kind, ms in results])
    print(f"  all          n={len(results):<3} p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  "
          f"max {max(ms for _kind, ms in results):6.0f} ms")


if __name__ == "__main__":
    main()
