"""Health endpoint, RQ queues and the schedule, against the real Redis."""

import os
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Worker
from rq.cron import CronScheduler

from app.extensions import rq
from jobs.maintenance import CRON_HEARTBEAT_KEY
from jobs.maintenance import cron_heartbeat
from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def test_health_is_503_without_a_worker(client):
    """Database and Redis up but no worker: degraded, and the JSON says why."""
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["database"]["ok"] and body["redis"]["ok"] and not body["worker"]["ok"]


def test_health_is_200_with_a_live_worker(app, client):
    """A worker with a fresh heartbeat makes the app healthy."""
    with app.app_context():
        worker = Worker([rq.queue("default")], connection=rq.connection)
        worker.register_birth()
        worker.heartbeat()
    try:
        response = client.get("/healthz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["worker"]["alive"] == 1
    finally:
        with app.app_context():
            worker.register_death()


def test_the_desk_keeps_serving_when_redis_is_down(desk):
    """With Redis unreachable, /healthz says so and the admin still works."""
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/clients/").status_code == 200
    response = browser.get("/healthz")
    assert response.status_code == 503 and not response.get_json()["redis"]["ok"]


def test_a_queued_job_runs_in_a_worker_process_with_the_app(app, database_url):
    """`flask worker --burst` runs a queued job inside the app context."""
    with app.app_context():
        rq.enqueue(cron_heartbeat, queue="maintenance")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL,
           "FLASK_APP": "wsgi.py", "LOCKER_ENV": "testing"}
    result = subprocess.run([sys.executable, "-m", "flask", "worker", "--burst"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Redis.from_url(TEST_REDIS_URL).get(CRON_HEARTBEAT_KEY) is not None


def test_unknown_queues_are_refused(app):
    """Jobs go only to the queues the app declares."""
    import pytest

    with app.app_context(), pytest.raises(KeyError):
        rq.queue("mystery")


def test_the_schedule_is_declared_once_for_known_queues(app):
    """jobs/schedule.py registers its jobs with rq cron, each on a declared queue."""
    scheduler = CronScheduler(connection=Redis.from_url(TEST_REDIS_URL))
    scheduler.load_config_from_file(str(ROOT / "jobs" / "schedule.py"))
    jobs = scheduler.get_jobs()
    assert jobs, "no scheduled jobs"
    assert {job.queue_name for job in jobs} <= set(app.config["RQ_QUEUES"])
    assert any(job.func is cron_heartbeat for job in jobs)


def test_the_status_page_says_what_works_and_what_needs_attention(desk):
    """The manager sees database, Redis, workers, schedule, last backup and disk space at a glance."""
    browser = desk.login_as("Manager")
    page = browser.get("/admin/queues/").get_data(as_text=True)
    for row in ("status-database", "status-redis", "status-workers", "status-schedule",
                "last-backup"):
        assert f'id="{row}"' in page, row
    assert 'class="status-disk"' in page and "GB free of" in page
    database_row = page.split('id="status-database"')[1].split("</tr>")[0]
    assert "badge-success" in database_row
    # No worker and no schedule tick in this test: both are marked, and the home page says so.
    for row in ("status-workers", "status-schedule"):
        assert "badge-danger" in page.split(f'id="{row}"')[1].split("</tr>")[0], row
    assert 'id="workers-down"' in browser.get("/admin/").get_data(as_text=True)
    # The front desk cannot open the page and is not told about workers.
    front = desk.login_as("Front Desk")
    assert front.get("/admin/queues/").status_code == 403
    assert 'id="workers-down"' not in front.get("/admin/").get_data(as_text=True)


def test_a_disk_short_of_space_is_marked_on_the_page_and_in_healthz(desk):
    """Below the free-space floor the disk row needs attention; /healthz reports it, still 200-able."""
    browser = desk.login_as("Super Admin")
    assert browser.get("/healthz").get_json()["disk"]["ok"]
    desk.app.config["DISK_FREE_MIN_BYTES"] = 10**18  # more than any disk here has free
    report = browser.get("/healthz").get_json()["disk"]
    assert not report["ok"] and {"uploads", "backups"} <= {
        use for disk in report["disks"] for use in disk["uses"]}
    page = browser.get("/admin/queues/").get_data(as_text=True)
    assert "badge-danger" in page.split('class="status-disk"')[1].split("</tr>")[0]


def test_a_live_worker_takes_the_banner_away(desk):
    """With a worker's fresh heartbeat, the home page shows no workers-down banner."""
    worker = Worker([rq.queue("default")], connection=rq.connection)
    worker.register_birth()
    worker.heartbeat()
    try:
        page = desk.login_as("Manager").get("/admin/").get_data(as_text=True)
        assert 'id="workers-down"' not in page
    finally:
        worker.register_death()
