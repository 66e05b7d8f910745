"""Housekeeping jobs for the `maintenance` queue."""

from app.extensions import rq
from app.models import utcnow
from app.services import day_figures
from app.services import figure_cache
from app.services import planner_statistics

CRON_HEARTBEAT_KEY = "locker-desk:cron:last-run"


def cron_heartbeat():
    """Record that the schedule reached a worker; /healthz reports how long ago."""
    rq.connection.set(CRON_HEARTBEAT_KEY, utcnow().isoformat(timespec="seconds"))


def refresh_planner_statistics():
    """Nightly: the database's statistics of the growing tables, so searches keep their indexes."""
    return planner_statistics.refresh()


def refresh_figure(name, branch_id, args):
    """A dashboard figure counted again after the desk changed (app.services.figure_cache)."""
    from app.services import dashboard  # noqa: F401  (registers the kept figures)

    return figure_cache.refresh(name, branch_id, args)


def count_days():
    """Every ten minutes: count the days that are over, for the reports (app.services.day_figures).

    Within four minutes a run; a chain's first years are counted over several runs.
    """
    return day_figures.count_days(budget_seconds=240)
