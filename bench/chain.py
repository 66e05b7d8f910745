"""The chain benchmark of `make bench` (issue "Chain scale"): every key page at a chain's size.

    .venv/bin/python bench/chain.py [--databases sqlite,postgresql,mariadb] [--rounds 30]
                                    [--scale 1.0] [--time-limit 3600] [--no-peer]

For each database in turn:

1. the chain data set (bench/chain_data: 20 branches, 5,000 lockers, 200,000
   clients, 1,000,000 rentals, 2,000,000 payments, 5,000,000 activity-log rows),
   built once with bulk inserts and then found again (SQLite: bench/.cache/;
   PostgreSQL and MariaDB: the databases `bench_chain`, never `test`);
2. Locker desk under gunicorn as production runs it, and Django's stock admin
   (bench/peer, via inspectdb, read-only) over the same database;
3. each page fetched by a signed-in session, ours and Django's in turn
   (bench/pages.py), p50 / p95 / max and bytes, and ours ÷ Django;
4. each figure checked against the issue's target (TARGETS below), a missed one
   marked in the table.

Results go to bench/results.json (one entry per database) and to bench/README.md
between the markers `<!-- bench/pages.py: chain-<database> … -->`. A database
that does not finish within --time-limit seconds (MariaDB's bulk load is the
slowest) is reported as such and the others still run.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pages  # noqa: E402  (needs the project on sys.path)

SERVER_URLS = {
    "sqlite": None,  # the data set's own cache file
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/bench_chain",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/bench_chain",
}
# What a chain's MariaDB would give InnoDB at least (server_sized_for_the_chain).
MARIADB_BUFFER_POOL = 4 * 2**30
# The targets, p95 server time in ms and the most ours ÷ Django may be, by page.
LIST_TARGET, SEARCH_TARGET = (75, 0.5), (50, 0.3)
TARGETS = {
    "clients": LIST_TARGET, "clients: status Active": LIST_TARGET, "rentals": LIST_TARGET,
    "payments": LIST_TARGET, "invoices": LIST_TARGET, "activity log": LIST_TARGET,
    f"clients: search {pages.NAME_SEARCH}": SEARCH_TARGET,
    f"clients: search {pages.PHONE_SEARCH}": SEARCH_TARGET,
    f"Ctrl+K: {pages.NAME_SEARCH}": (30, None), f"Ctrl+K: {pages.PHONE_SEARCH}": (30, None),
    "client profile (most rentals)": (150, None), "locker grid": (100, None),
}


def verdict(page):
    """"met", or what was missed, for one measured page."""
    target = TARGETS.get(page["name"])
    ours = page["ours"]
    if target is None or "p95_ms" not in ours:
        return "" if target is None else "no answer"
    limit_ms, limit_ratio = target
    missed = []
    if ours["p95_ms"] > limit_ms:
        missed.append(f"p95 {ours['p95_ms']:.0f} > {limit_ms} ms")
    ratio = (page["ratio"] or {}).get("p95")
    if limit_ratio is not None and ratio is not None and ratio > limit_ratio:
        missed.append(f"{ratio} × Django > {limit_ratio}")
    return "missed: " + "; ".join(missed) if missed else "met"


def measure_database(name, scale, rounds, warmup, workers, with_peer, queue):
    """Build or find the data set on one database, measure its pages; put the outcome on `queue`."""
    from bench.chain_data.build import ensure_dataset

    started = time.monotonic()
    summary = ensure_dataset(SERVER_URLS[name], scale)
    with server_sized_for_the_chain(summary["database_url"]) as server:
        _measure_pages(name, summary, started, server, rounds, warmup, workers, with_peer, queue)


@contextlib.contextmanager
def server_sized_for_the_chain(url):
    """MariaDB with a buffer pool a chain's server would have, for the run; put back after.

    MariaDB's default pool is 128 MB. Beside the chain's few GB, each of Django's full
    scans evicts what our pages had read, and our next request reads from disk: that
    measures the server's configuration, not either application. PostgreSQL reads
    through the system's file cache, so it needs nothing. Yields what was run with.
    """
    import sqlalchemy as sa

    if not url.startswith("mysql"):
        yield {}
        return
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        default = connection.execute(sa.text("SELECT @@innodb_buffer_pool_size")).scalar()
        if default < MARIADB_BUFFER_POOL:
            connection.execute(sa.text(f"SET GLOBAL innodb_buffer_pool_size = {MARIADB_BUFFER_POOL}"))
        used = connection.execute(sa.text("SELECT @@innodb_buffer_pool_size")).scalar()
    try:
        yield {"innodb_buffer_pool_mb": used // 2**20}
    finally:
        if default < MARIADB_BUFFER_POOL:
            with engine.connect() as connection:
                connection.execute(sa.text(f"SET GLOBAL innodb_buffer_pool_size = {default}"))
        engine.dispose()


def _measure_pages(name, summary, started, server, rounds, warmup, workers, with_peer, queue):
    from bench.peer import login as login_peer
    from bench.peer import start_django_peer

    outcome = {"database": name, "dataset": {key: summary[key] for key in summary
                                             if key not in ("app_config", "database_url")},
               "dataset_seconds_this_run": round(time.monotonic() - started, 1), "server": server}
    url = summary["database_url"]
    stops = []
    try:
        base, stop = pages.start_locker_desk(
            url, workers=workers, password_salt=summary["app_config"]["SECURITY_PASSWORD_SALT"])
        stops.append(stop)
        session = pages.login_locker_desk(base)
        peer_base = peer_session = None
        if with_peer:
            peer_base, stop = start_django_peer(url, workers=workers)
            stops.append(stop)
            peer_session = login_peer(pages.new_session(), peer_base)
        pairs = pages.pages_to_compare(base, session, url, peer_base)
        outcome["pages"] = pages.measure(pairs, rounds, session, peer_session, warmup)
    finally:
        for stop in reversed(stops):
            stop()
    for page in outcome["pages"]:
        page["target"] = verdict(page)
    queue.put(outcome)


def table(outcome):
    """The page table of one database with a column saying whether each target was met."""
    rows = pages.render_table(outcome["pages"]).rstrip("\n").split("\n")
    rows[0] += " target |"
    rows[1] += "---|"
    for index, page in enumerate(outcome["pages"], start=2):
        rows[index] += f" {page['target']} |"
    return "\n".join(rows) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql,mariadb")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=int, default=3600,
                        help="seconds one database may take, building included")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--readme", default=str(ROOT / "bench" / "README.md"))
    args = parser.parse_args(argv)
    results_path = pages.RESULTS
    # Databases measured by earlier runs keep their entries; each run replaces its own.
    earlier = json.loads(results_path.read_text()) if results_path.exists() else {}
    document = {"chain": earlier.get("chain", {}), **{key: earlier[key] for key in earlier
                                                      if key not in ("chain", "meta", "pages")}}
    failed = False
    for name in args.databases.split(","):
        print(f"== {name}", flush=True)
        # A process of its own: a database that runs past the limit is stopped with its servers.
        queue = multiprocessing.Queue()
        worker = multiprocessing.Process(target=measure_database, args=(
            name, args.scale, args.rounds, args.warmup, args.workers, not args.no_peer, queue))
        worker.start()
        worker.join(args.time_limit)
        if worker.is_alive():
            worker.terminate()
            worker.join()
            outcome = {"database": name, "unfinished": f"not done within {args.time_limit} s"}
        elif queue.empty():
            outcome = {"database": name, "unfinished": f"failed (exit code {worker.exitcode})"}
        else:
            outcome = queue.get()
        outcome["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        document["chain"][name] = outcome
        results_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if "unfinished" in outcome:
            failed = True
            print(f"{name}: {outcome['unfinished']}", flush=True)
            continue
        text = table(outcome)
        print(text, flush=True)
        dataset = outcome["dataset"]
        heading = (f"**{name}**, chain data set {json.dumps(dataset.get('counts', {}))}, built in "
                   f"{dataset.get('build_seconds', '?')} s; {args.rounds} rounds, gunicorn "
                   f"{args.workers} workers each"
                   + "".join(f"; {key} {value}" for key, value in outcome["server"].items())
                   + f"; {outcome['measured_at'][:10]}.\n\n")
        pages.update_readme(text, args.readme, heading, name=f"chain-{name}")
        failed = failed or any(page["ours"]["errors"] for page in outcome["pages"])
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
    sys.exit(main())
