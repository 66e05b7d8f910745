"""Every CSV the desk exports opens in Excel with its Bengali intact (issue 10).

Excel on Windows reads a CSV without a byte-order mark in the PC's ANSI code
page, which turns Bengali into mojibake; with the UTF-8 mark it reads UTF-8.
The bytes of each file are read as they are sent.
"""

import codecs
import csv
import io

import pytest
from flask_admin.model import BaseModelView

from app.extensions import db
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.services.access import SUPER_ADMIN
from app.services.exports import spreadsheet
from app.services.exports import with_bom

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

NAME = "শ্রী ঋত্বিক"


def _csv_views(app):
    """Every admin view that offers a CSV export."""
    for view in app.extensions["admin"][0]._views:
        if isinstance(view, BaseModelView) and "csv" in (view.export_types or ()):
            yield view


def _rows(data):
    assert data.startswith(codecs.BOM_UTF8), data[:20]
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8):].decode("utf-8"))))


def test_the_walk_finds_the_csv_exports(app):
    """The list exports the desk uses most are among the views walked below."""
    assert {"clients", "rentals", "payments", "activity"} <= {v.endpoint for v in _csv_views(app)}


def test_every_admin_csv_export_starts_with_a_byte_order_mark(desk):
    """Each list's CSV starts with EF BB BF, once, and its header is read cleanly after it."""
    desk.make_client(name=NAME)
    browser = desk.login_as(SUPER_ADMIN)
    problems = []
    for view in _csv_views(desk.app):
        response = browser.get(f"/admin/{view.endpoint}/export/csv/")
        if response.status_code != 200:
            problems.append(f"{view.endpoint}: HTTP {response.status_code}")
            continue
        if not response.data.startswith(codecs.BOM_UTF8):
            problems.append(f"{view.endpoint}: no byte-order mark")
        elif response.data[3:].startswith(codecs.BOM_UTF8):
            problems.append(f"{view.endpoint}: two byte-order marks")
        elif not _rows(response.data)[0][0].isprintable():
            problems.append(f"{view.endpoint}: header {_rows(response.data)[0][0]!r}")
    assert not problems, "\n".join(problems)


def test_a_bengali_name_survives_the_client_export(desk):
    """The client list's CSV, read as Excel reads it with the mark (UTF-8), has the name."""
    desk.make_client(name=NAME)
    response = desk.login_as(SUPER_ADMIN).get("/admin/clients/export/csv/")
    rows = _rows(response.data)
    assert any(NAME in cell for row in rows[1:] for cell in row)


def test_the_deposit_balances_csv_starts_with_a_byte_order_mark(desk):
    """A screen that builds its own CSV (deposit balances) sends the mark too; XLSX has none."""
    client = desk.make_client(name=NAME)
    db.session.add(DepositEntry(branch=client.branch, client=client, kind=DepositEntryKind.TAKEN,
                                amount_poisha=50000))
    db.session.commit()
    browser = desk.login_as(SUPER_ADMIN)
    rows = _rows(browser.get("/admin/deposits/balances/?export=csv").data)
    assert rows[1][0] == NAME
    xlsx = browser.get("/admin/deposits/balances/?export=xlsx").data
    assert xlsx.startswith(b"PK") and not xlsx.startswith(codecs.BOM_UTF8)


@pytest.mark.parametrize("body", ["a,b\r\n", b"a,b\r\n", codecs.BOM_UTF8 + b"a,b\r\n"])
def test_with_bom_adds_the_mark_once(body):
    """Text or bytes, with or without a mark already: one mark, then the UTF-8 body."""
    assert with_bom(body) == codecs.BOM_UTF8 + b"a,b\r\n"


def test_spreadsheet_csv_has_the_mark_and_xlsx_not():
    """exports.spreadsheet() marks its CSV only."""
    body, mimetype = spreadsheet(["নাম"], [[NAME]], "csv")
    assert mimetype == "text/csv" and body.startswith(codecs.BOM_UTF8)
    assert _rows(body) == [["নাম"], [NAME]]
    xlsx, _ = spreadsheet(["নাম"], [[NAME]], "xlsx")
    assert not xlsx.startswith(codecs.BOM_UTF8)
