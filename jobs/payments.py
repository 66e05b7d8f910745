"""Online payment jobs: re-verify the attempts the gateways have not settled (jobs/schedule.py)."""

from app.services import online_payments


def verify_online_payments():
    """Ask the gateways about every attempt that is due a check; returns {status: count}."""
    return online_payments.verify_due()
