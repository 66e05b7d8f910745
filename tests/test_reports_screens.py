"""The report screens (SPEC Rep1–Rep4, issue 13): who may run which, filters, files.

The figures are those of the hand-worked story of tests/test_figures.py.
"""

import codecs
import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from rq import SimpleWorker

from app.extensions import AppContextJob
from app.extensions import db
from app.extensions import rq
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import ExportFile
from app.models import ExportStatus
from app.services import exports
from app.services import report_book
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from tests.test_figures import story  # noqa: F401  (the fixture)

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

MARCH = "start=01/03/2026&end=31/03/2026"


def _csv(data):
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8):].decode("utf-8"))))


def test_each_role_is_offered_the_reports_it_may_run(desk):
    manager, accountant = desk.login_as(MANAGER), desk.login_as(ACCOUNTANT)
    everything = manager.get("/admin/reports/").get_data(as_text=True)
    assert all(f'data-report="{key}"' in everything for key in report_book.REPORTS)
    assert desk.login_as(FRONT_DESK).get("/admin/reports/").status_code == 403
    assert desk.login_as(FRONT_DESK).get("/admin/reports/occupancy/").status_code == 403
    assert accountant.get("/admin/reports/collections-month/").status_code == 200
    assert manager.get("/admin/reports/no-such-report/").status_code == 404


def test_a_report_shows_the_storys_figures_and_exports_them(story, desk):  # noqa: F811
    accountant = desk.login_as(ACCOUNTANT, locale="bn")
    page = accountant.get(f"/admin/reports/collections-month/?{MARCH}").get_data(as_text=True)
    assert "৳৩,১৪০.০০" in page  # March's money, in the reader's digits
    assert "০১/০৩/২০২৬ – ৩১/০৩/২০২৬" in page  # and the range it covers

    rows = _csv(accountant.get(f"/admin/reports/collections-month/export/csv/?{MARCH}").data)
    assert rows[0][0] == "মাস" and rows[-1][-1] == "3140.00"
    sheet = load_workbook(io.BytesIO(accountant.get(
        f"/admin/reports/collections-month/export/xlsx/?{MARCH}").data)).active
    totals = [cell.value for cell in list(sheet.iter_rows())[-1]]
    assert totals[-1] == 3140 and isinstance(totals[-1], (int, float, Decimal))
    pdf = accountant.get(f"/admin/reports/collections-month/export/pdf/?{MARCH}")
    assert pdf.data.startswith(b"%PDF-")
    logged = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED, ActivityLog.model == "Report")).scalars()
    assert len(logged.all()) == 3


@pytest.mark.parametrize(("query", "field", "message"), [
    ("start=31/03/2026&end=01/03/2026", "end", "before the first day"),
    ("start=31/02/2026", "start", "dd/mm/yyyy"),
    ("zone_id=abc", "zone_id", "Choose one from the list"),
    ("branch_id=999999", "branch_id", "does not exist"),
])
def test_bad_filters_are_refused_beside_the_field_and_show_no_table(desk, query, field, message):
    manager = desk.login_as(MANAGER)
    response = manager.get(f"/admin/reports/collections-day/?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and f'data-error="{field}"' in page and message in page
    assert 'id="report-table"' not in page
    exported = manager.get(f"/admin/reports/collections-day/export/csv/?{query}")
    assert exported.status_code == 302


def test_a_branchs_staff_see_only_their_branch(desk):
    mine, other = desk.make_branch(), desk.make_branch()
    accountant = desk.login_as(ACCOUNTANT, branch=mine)
    response = accountant.get(f"/admin/reports/collections-day/?branch_id={other.id}")
    assert response.status_code == 400 and "your own branch" in response.get_data(as_text=True)
    zone = desk.make_zone(branch=other)
    manager = desk.login_as(MANAGER)
    response = manager.get(f"/admin/reports/occupancy/?branch_id={mine.id}&zone_id={zone.id}")
    assert response.status_code == 400 and "not in the chosen branch" in response.get_data(
        as_text=True)


def test_a_report_too_long_for_a_request_is_written_by_a_worker(story, desk,  # noqa: F811
                                                                monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 5)
    manager = desk.login_as(MANAGER)
    response = manager.get(f"/admin/reports/collections-day/export/xlsx/?{MARCH}")
    assert response.status_code == 302 and response.location.endswith("/admin/my-exports/")
    db.session.commit()
    SimpleWorker([rq.queue("default")], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)
    db.session.expire_all()
    export = db.session.execute(db.select(ExportFile)).scalar_one()
    assert export.status == ExportStatus.READY and export.rows_done == 32  # 31 days + total
    sheet = load_workbook(io.BytesIO(manager.get(
        f"/admin/my-exports/{export.id}/download").data)).active
    assert sheet.max_row == 33


def test_a_heatmap_too_long_for_a_screen_is_offered_as_a_file(desk, monkeypatch):
    monkeypatch.setattr(report_book, "SCREEN_ROWS", 2)
    zone = desk.make_zone()
    for number in ("H-1", "H-2", "H-3"):
        desk.make_locker(zone=zone, number=number)
    manager = desk.login_as(MANAGER)
    page = manager.get("/admin/reports/utilisation-heatmap/").get_data(as_text=True)
    assert 'id="report-too-long"' in page and 'id="report-table"' not in page
    assert 'data-export="xlsx"' in page
    rows = _csv(manager.get("/admin/reports/utilisation-heatmap/export/csv/").data)
    assert [row[0] for row in rows[1:]] == ["H-1", "H-2", "H-3"]
    # One zone of it fits.
    other = desk.make_zone(branch=zone.branch)
    desk.make_locker(zone=other, number="Z-1")
    page = manager.get(f"/admin/reports/utilisation-heatmap/?zone_id={other.id}").get_data(
        as_text=True)
    assert 'id="report-table"' in page


def test_any_report_longer_than_a_screen_is_offered_as_a_file(story, desk,  # noqa: F811
                                                              monkeypatch):
    """Revenue by day for March is 31 rows: past a screen of 30 it is a file, not a table."""
    monkeypatch.setattr(report_book, "SCREEN_ROWS", 30)
    manager = desk.login_as(MANAGER)
    page = manager.get(f"/admin/reports/collections-day/?{MARCH}").get_data(as_text=True)
    assert 'id="report-too-long"' in page and 'id="report-table"' not in page
    assert 'data-export="csv"' in page
    monkeypatch.setattr(report_book, "SCREEN_ROWS", 31)
    page = manager.get(f"/admin/reports/collections-day/?{MARCH}").get_data(as_text=True)
    assert 'id="report-table"' in page
