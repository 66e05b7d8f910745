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
