"""Message jobs: delivery on the `notifications` queue, sweeps on `default` (jobs/schedule.py)."""

from app.services import notifications


def deliver_notification(notification_id):
    """Send one message; a temporary failure raises, and RQ retries it with back-off."""
    return notifications.deliver(notification_id)


def hand_out_for_events(event_ids):
    """Enqueue the delivery of the messages these desk actions wrote (one job each)."""
    return notifications.hand_out(event_ids)


def send_due_notifications():
    """Hand out messages that are due and not on their way (Redis was down, a retry is due)."""
    return notifications.send_due()


def sweep_reminders():
    """Write today's expiry reminders and overdue notices (once each, however often it runs)."""
    written = notifications.sweep_reminders()
    notifications.send_due()
    return written


def send_manager_digests():
    """Email each manager the morning digest of their branch (once a day)."""
    from app.services import digest

    return digest.send_all()
