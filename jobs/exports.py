"""Export jobs: the files of "My exports" (app.services.export_files)."""

from app.services import export_files


def build_export(export_id):
    """Write the file of one export a user asked for; returns its status."""
    return export_files.build(export_id)


def tidy_exports():
    """Hourly: expire old exports and their files, fail stuck ones, requeue lost ones."""
    return export_files.tidy()
