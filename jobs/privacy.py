"""Privacy jobs for the `maintenance` queue, run on a schedule (jobs/schedule.py)."""

from app.services import privacy


def anonymise_due_clients():
    """Anonymise the clients whose deletion request's retention period is over (SPEC S5)."""
    return privacy.anonymise_due()
