"""Every report at chain size (issue 13: "each report ≤ 1 s"), over HTTP as the Manager sees it.

    .venv/bin/python bench/reports.py [--rounds 3] [--readme bench/README.md]
    .venv/bin/python bench/reports.py --database-url sqlite:////tmp/copy.sqlite   # as it is

On the chain data set (bench.chain_data; or a copy given with --database-url, used as
it is), Locker desk under gunicorn as in production (bench.pages.start_locker_desk);
the demo Manager (every branch, every report) opens each report of the catalogue
(app.services.report_book) for this month so far (what a report opens with) and for
the last twelve months, `rounds` times each; the time is from the call to the end of
the page.
"""

import argparse
import json
import sys
import time
from datetime import date
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pages  # noqa: E402

TARGET_MS = 1000


def measure(base, rounds):
    from app.services.report_book import REPORTS

    session = pages.login_locker_desk(base, "manager@demo.local")
    today = date.today()
    year = f"start={(today - timedelta(days=364)):%d/%m/%Y}&end={today:%d/%m/%Y}"
    results = {}
    for key in REPORTS:
        for label, query in (("this month", ""), ("12 months", year)):
            times = []
            for _round in range(rounds):
                started = time.monotonic()
                response = session.get(f"{base}/admin/reports/{key}/?{query}", timeout=600)
                times.append((time.monotonic() - started) * 1000)
                assert response.status_code == 200, (key, response.status_code)
            results[f"{key} ({label})"] = times
    return results


def heatmap_file_rows(url, password_salt, rounds):
    """The heatmap of every branch's lockers is offered as a file (too long for a screen):
    the time to work out its cells for the last twelve months, in process, as its job does."""
    from app import create_app
    from app.services import figures

    app = create_app({"LOCKER_ENV": "development", "SQLALCHEMY_DATABASE_URI": url,
                      "SECRET_KEY": "bench", "SECURITY_TOTP_SECRETS": {"1": "bench"},
                      "SECURITY_PASSWORD_SALT": password_salt})
    today = date.today()
    times = []
    with app.app_context():
        for _round in range(rounds):
            started = time.monotonic()
            figures.utilisation_by_locker(None, today - timedelta(days=364), today, by="week")
            times.append((time.monotonic() - started) * 1000)
    return {"utilisation-heatmap, every branch's cells for the file (12 months)": times}


def table(results):
    rows = ["| report | p50 ms | p95 ms | target |", "|---|---|---|---|"]
    for name, times in results.items():
        p95 = pages.nearest_rank(times, 0.95)
        verdict = "met" if p95 <= TARGET_MS else f"missed: p95 {p95:.0f} > {TARGET_MS} ms"
        rows.append(f"| {name} | {pages.nearest_rank(times, 0.5):.0f} | {p95:.0f} | {verdict} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    from bench.chain_data.build import PASSWORD_SALT
    from bench.chain_data.build import ensure_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="a copy of the chain data, as it is")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--readme", default=str(ROOT / "bench" / "README.md"))
    args = parser.parse_args(argv)
    url = args.database_url or ensure_dataset()["database_url"]
    base, stop = pages.start_locker_desk(url, password_salt=PASSWORD_SALT)
    try:
        results = measure(base, args.rounds)
    finally:
        stop()
    results.update(heatmap_file_rows(url, PASSWORD_SALT, args.rounds))
    rendered = table(results)
    print(rendered)
    (ROOT / "bench" / "reports.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.readme:
        pages.update_readme(rendered, args.readme, name="reports", heading=(
            f"Reports on {pages.redacted(url)}, as the Manager (every branch), {args.rounds} rounds "
            "(`.venv/bin/python bench/reports.py`):\n\n"))


if __name__ == "__main__":
    main()
