"""The dashboard at chain size (issue 13): the page and each widget's own request, p50/p95/max.

    .venv/bin/python bench/dashboard.py [--rounds 20] [--readme bench/README.md]
    .venv/bin/python bench/dashboard.py --database-url sqlite:////tmp/copy.sqlite   # as it is

Target: "dashboard server time p95 ≤ 200 ms". On the chain data set (bench.chain_data,
built once and cached; or a copy of it given with --database-url, used as it is),
Locker desk runs under gunicorn as in production (bench.pages.start_locker_desk) and
two users sign in: the demo Manager, who sees every branch and every widget, and the
Front Desk of one branch. For each, the dashboard page and then each widget of their
default layout (/admin/widget/<key>, as the page's script fetches the widgets read over
a long history) are fetched in turn, `rounds` times, timed from the call to the end of
the body. A figure kept by app.services.figure_cache is counted on the first view
of the day and read from Redis after that, until a desk action in its branch has a
worker count it again: the first round is that first view, shown in a column of its
own, and p50 / p95 / max are of the views after it.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pages  # noqa: E402

USERS = {"manager@demo.local": "Manager (every branch)", "desk@demo.local": "Front Desk (one branch)"}
TARGET_MS = 200


def measure(base, email, rounds):
    """{path: [ms, …]} for the dashboard page and each widget the user's page shows."""
    import re

    session = pages.login_locker_desk(base, email)
    page = session.get(f"{base}/admin/").text
    paths = ["/admin/"] + [f"/admin/widget/{key}?size={size}" for key, size in
                           re.findall(r'data-widget="([a-z_]+)" data-size="([sml])"', page)]
    times = {path: [] for path in paths}
    for _round in range(rounds):
        for path in paths:
            started = time.monotonic()
            response = session.get(base + path)
            times[path].append((time.monotonic() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    return times


def table(results):
    rows = ["| user | request | first view of the day ms | then p50 ms | p95 ms | max ms | target |",
            "|---|---|---|---|---|---|---|"]
    for email, times in results.items():
        for path, (first, *values) in times.items():
            p95 = pages.nearest_rank(values, 0.95)
            verdict = "met" if p95 <= TARGET_MS else f"missed: p95 {p95:.0f} > {TARGET_MS} ms"
            rows.append(f"| {USERS[email]} | `{path}` | {first:.0f} | "
                        f"{pages.nearest_rank(values, 0.5):.0f} | {p95:.0f} | {max(values):.0f} | "
                        f"{verdict} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    from bench.chain_data.build import PASSWORD_SALT
    from bench.chain_data.build import ensure_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="a copy of the chain data, as it is")
    parser.add_argument("--rounds", type=int, default=20, help="the first view and 19 after it")
    parser.add_argument("--readme", default=str(ROOT / "bench" / "README.md"))
    args = parser.parse_args(argv)
    url = args.database_url or ensure_dataset()["database_url"]
    base, stop = pages.start_locker_desk(url, password_salt=PASSWORD_SALT)
    try:
        results = {email: measure(base, email, args.rounds) for email in USERS}
    finally:
        stop()
    rendered = table(results)
    print(rendered)
    (ROOT / "bench" / "dashboard.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.readme:
        pages.update_readme(rendered, args.readme, name="dashboard", heading=(
            f"Dashboard on {pages.redacted(url)}, the first view of the day and "
            f"{args.rounds - 1} after it "
            "(`.venv/bin/python bench/dashboard.py`):\n\n"))


if __name__ == "__main__":
    main()
