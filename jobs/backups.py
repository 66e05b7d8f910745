"""Backup jobs on the `maintenance` queue (jobs/schedule.py)."""

from app.services import backups


def backup_if_due():
    """Make the scheduled backup when settings "backup_schedule" says one is due."""
    return backups.create_if_due()


def backup_now(user_id):
    """A backup a Super Admin asked for on the Backups page."""
    return backups.create(reason="asked for", by_user_id=user_id).name


def restore_backup(name, user_id):
    """A restore a Super Admin asked for on the Backups page (the current state is backed up first)."""
    return backups.restore(name, by_user_id=user_id).name
