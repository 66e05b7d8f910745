"""Waitlist jobs for the `default` queue, run on a schedule (jobs/schedule.py)."""

from app.services import waitlist


def accept_waitlist_offers():
    """Mark Accepted the offers whose client has taken the reserved locker."""
    return waitlist.accept_offers()


def lapse_waitlist_offers():
    """End offers past their deadline and offer their lockers to the next in line."""
    return waitlist.lapse_offers()


def offer_free_lockers():
    """Offer every free locker to the first client waiting for its zone and size."""
    return len(waitlist.offer_free_lockers())
