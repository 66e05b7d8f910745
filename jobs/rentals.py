"""Rental jobs for the `default` queue, run on a schedule (jobs/schedule.py)."""

from app.services import rentals


def expire_due_rentals():
    """Mark rentals whose term ended as Expired."""
    return rentals.expire_due()


def lapse_reservations():
    """Free lockers whose reservation deadline passed."""
    return rentals.lapse_reservations()


def abandon_overdue_rentals():
    """Abandon expired rentals past the grace period."""
    return rentals.abandon_overdue()
