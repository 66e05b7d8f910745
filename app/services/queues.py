"""What the background workers are doing: workers, queue lengths, failed jobs (SPEC U6).

Read from Redis by RQ's own registries. When Redis is down the answer says so
and the desk goes on: every job's work is also found again by its sweeper.
"""

from dataclasses import dataclass
from dataclasses import field

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from app.extensions import rq
from app.services import health

FAILED_LISTED = 50


@dataclass
class FailedJob:
    id: str
    function: str
    queue: str
    ended_at: object
    reason: str


@dataclass
class QueueState:
    name: str
    waiting: int
    running: int
    scheduled: int
    failed: int


@dataclass
class Status:
    reachable: bool
    workers: list = field(default_factory=list)
    queues: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    last_cron_run: str | None = None


def _reason(job):
    text = (job.latest_result().exc_string if job.latest_result() else job.exc_info) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def status():
    """Workers alive, each queue's lengths, and the latest failed jobs."""
    try:
        rq.connection.ping()
    except Exception:
        return Status(reachable=False)
    result = Status(reachable=True, workers=health.check_workers().get("workers", []),
                    last_cron_run=health.last_cron_run())
    for name in current_app.config["RQ_QUEUES"]:
        queue = rq.queue(name)
        failed = queue.failed_job_registry
        result.queues.append(QueueState(
            name=name, waiting=queue.count, running=queue.started_job_registry.count,
            scheduled=queue.scheduled_job_registry.count, failed=failed.count))
        for job_id in failed.get_job_ids(0, FAILED_LISTED - 1):
            try:
                job = Job.fetch(job_id, connection=rq.connection)
            except NoSuchJobError:
                continue
            result.failed.append(FailedJob(id=job.id, function=job.func_name.rsplit(".", 1)[-1],
                                           queue=name, ended_at=job.ended_at,
                                           reason=_reason(job)))
    return result


def retry(queue_name, job_id):
    """Put one failed job back on its queue; False if it is not among the failed any more."""
    registry = FailedJobRegistry(queue=rq.queue(queue_name))
    if job_id not in registry.get_job_ids():
        return False
    registry.requeue(job_id)
    return True
