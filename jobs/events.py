"""Domain-event jobs for the `default` queue (jobs/schedule.py)."""

from app.services import events


def dispatch_undelivered_events():
    """Hand out events whose delivery after their commit failed (Redis was down, a crash)."""
    return events.dispatch_undelivered()
