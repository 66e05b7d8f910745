"""Export jobs: the files of "My exports" (app.services.export_files) and scheduled reports."""

from app.services import export_files
from app.services import report_schedules


def build_export(export_id):
    """Write the file of one export a user asked for; returns its status."""
    return export_files.build(export_id)


def tidy_exports():
    """Hourly: expire old exports and their files, fail stuck ones, requeue lost ones."""
    return export_files.tidy()


def send_scheduled_reports():
    """Every five minutes: email the scheduled reports that are due; returns how many went."""
    return report_schedules.send_due()
