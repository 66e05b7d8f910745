"""Backup jobs on the `maintenance` queue (jobs/schedule.py).

A backup job also makes the off-site copy (app.services.backup_offsite): each of
its network steps times out, and a failed copy is reported on the Backups page
without failing the job, whose archive stands.
"""

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


def copy_latest_offsite():
    """Copy the newest archive off-site again, asked for on the Backups page; returns the
    targets whose copy failed."""
    outcome = backups.copy_latest_offsite() or {}
    return sorted(target for target, error in outcome.items() if error is not None)
