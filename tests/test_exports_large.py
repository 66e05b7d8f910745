"""Exports of any size (SPEC Rep4, issue 13): a CSV streams, a large XLSX or PDF is a job.

A list's CSV is written while it downloads, a batch of rows at a time; an
XLSX or PDF past exports.IN_REQUEST_ROWS is written by a worker as the user
who asked (their branch, their language) and downloaded from "My exports".
Limits are lowered here so a few thousand rows stand for a chain's 200,000;
bench/exports.py measures the full size.
"""

import codecs
import csv
import io

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
from app.models import utcnow
from app.services import client_search
from app.services import export_files
from app.services import exports
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER


def _run_jobs():
    db.session.commit()
    SimpleWorker([rq.queue("default")], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)
    db.session.expire_all()


def _csv(data):
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8):].decode("utf-8"))))


@pytest.fixture
def clients(desk):
    """2,500 clients in one branch (more than two read batches) and 3 in another."""
    branch, other = desk.make_branch(), desk.make_branch()
    desk.insert_clients(branch, 2500)
    desk.insert_clients(other, 3, name="Elsewhere {n}", phone="+8801819{n:06d}")
    client_search.write_missing_keys()
    return branch, other


def test_the_csv_streams_every_row_in_batches(desk, clients, monkeypatch):
    """Every row arrives, once, in the list's order, while the response streams."""
    monkeypatch.setattr(exports, "BATCH", 1000)
    response = desk.login_as(MANAGER).get("/admin/clients/export/csv/?sort=0")
    assert "Content-Length" not in response.headers  # streamed, not built whole
    rows = _csv(response.get_data())
    names = [row[0] for row in rows[1:]]
    assert len(names) == 2503 and len(set(names)) == 2503
    assert names == sorted(names)


def test_the_csv_keeps_the_search_and_the_branch(desk, clients):
    """A searched list exports what it shows; a branch's staff export only their branch."""
    branch, _other = clients
    manager = desk.login_as(MANAGER)
    rows = _csv(manager.get("/admin/clients/export/csv/?search=Elsewhere").get_data())
    assert sorted(row[0] for row in rows[1:]) == ["Elsewhere 0", "Elsewhere 1", "Elsewhere 2"]
    limited = desk.login_as(FRONT_DESK, branch=branch)
    rows = _csv(limited.get("/admin/clients/export/csv/").get_data())
    assert len(rows) == 2501 and not any(row[0].startswith("Elsewhere") for row in rows)


def test_each_export_is_in_the_activity_log(desk, clients):
    """A copy of the clients leaving the desk is logged, by whom, as a download."""
    manager = desk.login_as(MANAGER)
    manager.get("/admin/clients/export/csv/").get_data()
    entry = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).scalar_one()
    assert entry.user_id == manager.user.id and entry.model == "Client"
    assert entry.summary.startswith("clients-") and entry.summary.endswith(".csv")


def test_a_large_xlsx_is_written_by_a_worker_in_the_users_language(desk, clients, monkeypatch):
    """Past the limit the XLSX is a job: My exports shows it, then hands over the whole file."""
    branch, _other = clients
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 100)
    accountant = desk.login_as(ACCOUNTANT, branch=branch, locale="bn")
    response = accountant.get("/admin/clients/export/xlsx/?search=Client")
    assert response.status_code == 302 and response.location.endswith("/admin/my-exports/")
    export = db.session.execute(db.select(ExportFile)).scalar_one()
    assert export.status == ExportStatus.QUEUED and export.kind == "xlsx"
    page = accountant.get("/admin/my-exports/").get_data(as_text=True)
    assert f'data-export="{export.id}" data-status="QUEUED"' in page

    _run_jobs()
    export = db.session.get(ExportFile, export.id)
    assert export.status == ExportStatus.READY and export.rows_done == 2500
    download = accountant.get(f"/admin/my-exports/{export.id}/download")
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "পূর্ণ নাম"  # the heading in the accountant's language
    assert len(rows) == 2501 and {row[0] for row in rows[1:]} == {
        f"Client {n}" for n in range(2500)}


def test_nobody_downloads_or_removes_another_users_export(desk, clients, monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 100)
    owner = desk.login_as(MANAGER)
    owner.get("/admin/clients/export/xlsx/")
    _run_jobs()
    export_id = db.session.execute(db.select(ExportFile.id)).scalar_one()
    other = desk.login_as(MANAGER)
    assert other.get(f"/admin/my-exports/{export_id}/download").status_code == 404
    assert other.post("/admin/my-exports/remove", data={"export_id": export_id}).status_code == 404
    assert other.get("/admin/my-exports/progress").json == []
    assert owner.get(f"/admin/my-exports/{export_id}/download").status_code == 200
    assert owner.post("/admin/my-exports/remove",
                      data={"export_id": export_id}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ExportFile, export_id) is None
    assert not list(export_files.folder().iterdir())


def test_without_redis_the_large_export_is_refused_and_nothing_is_recorded(desk, clients,
                                                                          monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 100)
    manager = desk.login_as(MANAGER)
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    response = manager.get("/admin/clients/export/xlsx/", follow_redirects=True)
    assert "The CSV export still works" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(ExportFile)).scalar() == 0
    assert db.session.execute(db.select(db.func.count()).select_from(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).scalar() == 0
    # The CSV needs no worker.
    assert len(_csv(manager.get("/admin/clients/export/csv/").get_data())) == 2504


def test_a_pdf_too_long_to_read_is_refused(desk, clients, monkeypatch):
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 1000)
    response = desk.login_as(MANAGER).get("/admin/clients/export/pdf/", follow_redirects=True)
    assert "export it as CSV or XLSX" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(ExportFile)).scalar() == 0


def test_a_pdf_past_the_request_limit_is_a_job(desk, clients, monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "pdf", 2)
    manager = desk.login_as(MANAGER)
    manager.get("/admin/clients/export/pdf/?search=Elsewhere")
    _run_jobs()
    export = db.session.execute(db.select(ExportFile)).scalar_one()
    assert export.status == ExportStatus.READY and export.rows_done == 3
    assert manager.get(f"/admin/my-exports/{export.id}/download").data.startswith(b"%PDF-")


def test_a_job_for_a_list_the_user_may_no_longer_see_fails_with_a_reason(desk, clients,
                                                                         monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 100)
    accountant = desk.login_as(ACCOUNTANT)
    accountant.get("/admin/clients/export/xlsx/")
    user = accountant.user
    user.active = False
    db.session.commit()
    _run_jobs()
    export = db.session.execute(db.select(ExportFile)).scalar_one()
    assert export.status == ExportStatus.FAILED and "no longer active" in export.error
    assert not list(export_files.folder().glob("*"))


def test_tidy_expires_old_files_and_requeues_lost_jobs(desk, clients, monkeypatch):
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "xlsx", 2)
    manager = desk.login_as(MANAGER)
    manager.get("/admin/clients/export/xlsx/")
    _run_jobs()
    ready = db.session.execute(db.select(ExportFile)).scalar_one()
    path = export_files.path_of(ready)
    assert path.is_file()
    manager.get("/admin/clients/export/xlsx/?search=Elsewhere")
    lost = db.session.execute(db.select(ExportFile).where(ExportFile.id != ready.id)).scalar_one()
    rq.queue("default").empty()  # Redis lost the job
    ready.expires_at = utcnow()
    lost.requested_at = utcnow() - export_files.REQUEUE_AFTER
    db.session.commit()

    assert export_files.tidy() == (1, 0, 1)
    assert not path.exists() and db.session.get(ExportFile, ready.id).status == ExportStatus.EXPIRED
    assert manager.get(f"/admin/my-exports/{ready.id}/download").status_code == 404
    _run_jobs()
    assert db.session.get(ExportFile, lost.id).status == ExportStatus.READY


def test_a_csv_too_long_for_one_request_is_a_job_too(desk, clients, monkeypatch):
    """gunicorn stops a request after 30 s: past its limit a CSV is written by a worker."""
    monkeypatch.setitem(exports.IN_REQUEST_ROWS, "csv", 2000)
    manager = desk.login_as(MANAGER)
    assert manager.get("/admin/clients/export/csv/?search=Elsewhere").status_code == 200
    response = manager.get("/admin/clients/export/csv/")
    assert response.status_code == 302 and response.location.endswith("/admin/my-exports/")
    _run_jobs()
    export = db.session.execute(db.select(ExportFile)).scalar_one()
    assert export.status == ExportStatus.READY and export.rows_done == 2503
    rows = _csv(manager.get(f"/admin/my-exports/{export.id}/download").data)
    assert len(rows) == 2504


def test_the_fast_cells_are_what_get_export_value_gives_on_every_list(app, desk):
    """export_rows (plain rows, or objects where a column formatter needs one) says, cell for
    cell, what Flask-Admin's get_export_value says, in both languages."""
    from flask import g

    from admin_views.base import SecuredModelView
    from admin_views.export_cells import _plain_plan
    from tests.test_export_safety import _make_one_of_everything

    _make_one_of_everything(desk)
    plain = 0
    for locale in ("en", "bn"):
        user = desk.make_user("Super Admin", locale=locale)
        for view in app.extensions["admin"][0]._views:
            if not isinstance(view, SecuredModelView) or not view.export_types:
                continue
            with app.test_request_context(f"/admin/{view.endpoint}/export/csv/"):
                g._login_user = user
                _count, query = view.export_query()
                names = [name for name, _label in view._export_columns]
                expected = [[view.get_export_value(obj, name) for name in names]
                            for obj in query.all()]
                got = list(view.export_rows(query))
                # Lists without a sort of their own come in the database's order.
                assert sorted(got, key=repr) == sorted(expected, key=repr), view.endpoint
                plain += _plain_plan(view, names) is not None
    assert plain >= 6  # the plain way is the common one (clients among them)


def test_a_streamed_csv_leaves_no_transaction_open(desk):
    """A list read as objects (the activity log) streams after its view returned: each
    batch is read in the session of the context the stream runs in, which is ended when
    the stream ends. A batch read in the view's own session (already ended) began a
    transaction nothing closed, and on PostgreSQL its connection sat "idle in transaction"
    holding locks until garbage collection."""
    import weakref

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    desk.make_locker(number="LOG-1")
    db.session.commit()
    began = weakref.WeakSet()

    def remember(session, _transaction, _connection):
        began.add(session)

    event.listen(Session, "after_begin", remember)
    try:
        export = desk.login_as(ACCOUNTANT).get("/admin/activity/export/csv/")
        assert "LOG-1" in export.get_data(as_text=True)
    finally:
        event.remove(Session, "after_begin", remember)
    db.session.commit()
    assert [session for session in began if session.in_transaction()] == []
