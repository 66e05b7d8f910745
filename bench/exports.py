"""Exports at chain size (issue 13): the 200,000-client CSV from the running app, the XLSX as a job.

    .venv/bin/python bench/exports.py [--database-url URL] [--scale 1.0] [--readme bench/README.md]

Targets: "the 200,000-client CSV export complete in ≤ 10 s with the worker's peak
memory growth ≤ 100 MB; XLSX of the same as a job ≤ 60 s".

On the chain data set (bench.chain_data, built once and cached), Locker desk is
served by gunicorn as in production (bench.pages.start_locker_desk, 2 sync workers)
and the demo Accountant signs in.

- CSV: GET /admin/clients/export/csv/ is read to its end; the time is from the call
  to the last byte. The memory is that of the gunicorn worker that answered: each
  worker's peak resident size is reset before (/proc/<pid>/clear_refs "5") and its
  VmHWM read after, the growth being VmHWM minus the resident size before.
- XLSX: GET /admin/clients/export/xlsx/ (past the in-request limit, so it is queued
  for a worker and the page sends the browser to My exports); then an RQ worker
  (SimpleWorker, burst, as `flask worker` runs a job but without the fork, so its
  own peak is the job's) is run in a child process of this script until the queue
  is empty; the time is from the request to the worker's end, and the child's peak
  resident size (getrusage of the child) less its size before it took the job is
  the memory growth. The file is downloaded from My exports and its rows counted.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pages  # noqa: E402

ACCOUNTANT = "accounts@demo.local"
# Its own Redis database: the export job must not meet another bench's queue or flush.
REDIS_URL = "redis://127.0.0.1:6379/12"
TARGETS = {"csv_seconds": 10, "csv_memory_mb": 100, "xlsx_seconds": 60}


def _status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _kib(text):
    return int(text.split()[0])


def _workers_of(master_pid):
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _gunicorn_master(port):
    out = subprocess.run(["pgrep", "-f", f"gunicorn.*127.0.0.1:{port}"], capture_output=True,
                         text=True).stdout.split()
    pids = [int(pid) for pid in out]
    return next(pid for pid in pids if _workers_of(pid))


def measure_csv(base, session):
    master = _gunicorn_master(base.rsplit(":", 1)[1])
    before = {}
    for pid in _workers_of(master):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        before[pid] = _kib(_status(pid)["VmRSS"])
    started = time.monotonic()
    response = session.get(f"{base}/admin/clients/export/csv/", stream=True, timeout=600)
    size = lines = 0
    for chunk in response.iter_content(chunk_size=1 << 16):
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.monotonic() - started
    growth = max(_kib(_status(pid)["VmHWM"]) - rss for pid, rss in before.items())
    return {"status": response.status_code, "seconds": round(seconds, 2), "bytes": size,
            "rows": lines - 1, "worker_peak_growth_mb": round(growth / 1024, 1)}


WORK = """
import json, resource, sys
from app import create_app
from app.extensions import AppContextJob, rq
from rq import SimpleWorker
app = create_app()
with app.app_context():
    before = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])
    SimpleWorker([rq.queue('default')], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "peak_kib": peak}))
"""


def measure_xlsx(base, session, env):
    from openpyxl import load_workbook

    started = time.monotonic()
    response = session.get(f"{base}/admin/clients/export/xlsx/", allow_redirects=False)
    assert response.status_code == 302 and "my-exports" in response.headers["Location"], (
        response.status_code, response.headers.get("Location"))
    work = subprocess.run([sys.executable, "-c", WORK], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    seconds = time.monotonic() - started
    memory = json.loads(work.stdout.strip().splitlines()[-1])
    states = session.get(f"{base}/admin/my-exports/progress").json()
    newest = max(states, key=lambda state: state["id"])
    download = session.get(f"{base}/admin/my-exports/{newest['id']}/download")
    sheet = load_workbook(io.BytesIO(download.content), read_only=True).active
    rows = sum(1 for _row in sheet.iter_rows(values_only=True)) - 1
    return {"status": newest["status"], "seconds": round(seconds, 2),
            "bytes": len(download.content), "rows": rows,
            "worker_peak_growth_mb": round((memory["peak_kib"] - memory["before_kib"]) / 1024, 1)}


def table(results):
    rows = ["| export | rows | bytes | time s | worker peak growth MB | target |",
            "|---|---|---|---|---|---|"]
    for kind, target_s in (("csv", TARGETS["csv_seconds"]), ("xlsx", TARGETS["xlsx_seconds"])):
        result = results[kind]
        missed = []
        if result["seconds"] > target_s:
            missed.append(f"{result['seconds']} s > {target_s} s")
        if kind == "csv" and result["worker_peak_growth_mb"] > TARGETS["csv_memory_mb"]:
            missed.append(f"{result['worker_peak_growth_mb']} MB > {TARGETS['csv_memory_mb']} MB")
        verdict = "missed: " + "; ".join(missed) if missed else "met"
        how = "streamed by the web worker" if kind == "csv" else "RQ job, My exports"
        rows.append(f"| clients {kind.upper()} ({how}) | {result['rows']:,} | "
                    f"{result['bytes']:,} | {result['seconds']} | "
                    f"{result['worker_peak_growth_mb']} | {verdict} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    from bench.chain_data.build import ensure_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--readme", default=str(ROOT / "bench" / "README.md"))
    args = parser.parse_args(argv)
    summary = ensure_dataset(args.database_url, args.scale)
    url, salt = summary["database_url"], summary["app_config"]["SECURITY_PASSWORD_SALT"]
    export_dir = tempfile.mkdtemp(prefix="locker-desk-bench-exports-")
    env = {**os.environ, "LOCKER_ENV": "production", "DATABASE_URL": url,
           "REDIS_URL": REDIS_URL, "PASSWORD_SALT": salt, "EXPORT_DIR": export_dir,
           "LOCKER_INSTANCE_DIR": tempfile.mkdtemp(prefix="locker-desk-bench-instance-"),
           "SECRET_KEY": "bench-exports-worker"}
    base, stop = pages.start_locker_desk(url, password_salt=salt,
                                         env={"EXPORT_DIR": export_dir, "REDIS_URL": REDIS_URL})
    try:
        session = pages.login_locker_desk(base, ACCOUNTANT)
        results = {"database": pages.redacted(url), "clients": summary.get("counts", {}).get(
            "client"), "csv": measure_csv(base, session), "xlsx": measure_xlsx(base, session, env)}
    finally:
        stop()
    print(json.dumps(results, indent=2))
    rendered = table(results)
    print(rendered)
    if args.readme:
        pages.update_readme(rendered, args.readme, name="exports",
                            heading=f"Exports on {results['database']} "
                                    "(`.venv/bin/python bench/exports.py`):\n\n")
    (ROOT / "bench" / "exports.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
