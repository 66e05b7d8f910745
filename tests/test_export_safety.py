"""No exported cell is a live spreadsheet formula (issue 9, item 4).

Every view of the admin that can export is found by walking the admin itself,
so a view added later is covered without touching this file. The data behind
them is written with a formula in every free-text column of every table the
exports show (the client's name, a ticket's description, a role's name …) and
in the text settings, so cells that show a related record (a rental's client)
or a formatter's output (a coupon's value after its currency sign) carry one
too. Each view is then exported in each of its formats by a Super Admin and
every cell, parsed back with the csv module or openpyxl, is checked.
"""

import csv
import io
import itertools
import pathlib
import re
import unicodedata
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_admin.model import BaseModelView
from openpyxl import load_workbook

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Campaign
from app.models import Channel
from app.models import Coupon
from app.models import CouponKind
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Gateway
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Key
from app.models import Language
from app.models import LockerCategory
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import MessageKind
from app.models import MessageTemplate
from app.models import Notification
from app.models import Payment
from app.models import PriceRule
from app.models import Rental
from app.models import RentalTerm
from app.models import Role
from app.models import Setting
from app.models import Tag
from app.models import TermsVersion
from app.models import User
from app.models import WaitlistEntry
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from app.services.exports import FORMULA_TRIGGERS
from app.services.exports import safe_cell

HYPERLINK = '=HYPERLINK("http://x","y")'
# How a formula may start: each ASCII trigger, after blanks, in fullwidth form.
LEADS = ("=", "+", "-", "@", "\t=", "\r+", " =", "\n@", "\u00a0-", "＝", "＋", "\u3000＠")
_serial = itertools.count(1)

# Free-text columns left as they are, and why.
KEEP_COLUMNS = {
    "branch.timezone": "a zone name the app computes dates with; chosen from the IANA list",
}
# Exportable views that may have nothing to check (none today).
NOTHING_TO_EXPORT = {}

_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def formula(length=None):
    """A different formula each call ('=12+HYPERLINK(…)', '\\t=13+…'), cut to `length`."""
    n = next(_serial)
    text = f'{LEADS[n % len(LEADS)]}{n}+HYPERLINK("http://x","y")'
    return text[:length] if length else text


def is_live_formula(cell):
    """True if a spreadsheet opening `cell` could run it as a formula.

    A plain number ("-200.00", how a Decimal lands in a CSV) is a number, not
    a formula; anything else whose first visible character is = + - @ (in any
    width) is one, and so is text starting with a tab or a carriage return.
    """
    if not isinstance(cell, str) or not cell or _PLAIN_NUMBER.fullmatch(cell):
        return False
    if cell[0] in "\t\r":
        return True
    visible = cell.lstrip()
    return bool(visible) and unicodedata.normalize("NFKC", visible[0]) in ("=", "+", "-", "@")


# --- the data ---------------------------------------------------------------------


def _exporting_views(app):
    """Every view of the app's admin that offers an export, with its formats."""
    admin = app.extensions["admin"][0]
    for view in admin._views:
        if isinstance(view, BaseModelView) and view.export_types:
            yield view


def _make_one_of_everything(desk):
    """A row for every exported model (more via the services' listeners), formulas in the text."""
    branch = desk.make_branch(name=HYPERLINK)
    zone = desk.make_zone(branch, name="+zone")
    category = LockerCategory(name="@category", description="-description")
    db.session.add(category)
    locker = desk.make_locker(zone, number="=1+1", category=category, notes="+cmd")
    key = Key(locker=locker, tag="=tag", notes="@notes")
    tag = Tag(name="-tag")
    db.session.add_all([key, tag])
    client = desk.make_client(branch, name=HYPERLINK, address="@SUM(A1)", notes="+cmd",
                              tier="=tier", tags=[tag])
    staff = desk.make_user(MANAGER, full_name="=staff", branch=branch)
    now = datetime(2026, 1, 10, 9, 0)
    rental = Rental(branch=branch, locker=locker, client=client, term=RentalTerm.MONTHLY, days=30,
                    starts_at=now, ends_at=now + timedelta(days=30), price_poisha=80000)
    db.session.add(rental)
    db.session.flush()
    db.session.add_all([
        Payment(branch=branch, client=client, rental=rental, amount_poisha=80000,
                reference="=ref", received_by=staff),
        Invoice(number="=INV-1", branch=branch, client=client, rental=rental,
                due_on=date(2026, 1, 10), subtotal_poisha=80000, total_poisha=80000,
                cancel_reason="+reason", issued_by=staff),
        DepositEntry(branch=branch, client=client, rental=rental, key=key,
                     kind=DepositEntryKind.TAKEN, amount_poisha=50000, note="=note", staff=staff),
        # A negative amount stays a number, not text to neutralise.
        DepositEntry(branch=branch, client=client, rental=rental, key=key,
                     kind=DepositEntryKind.REFUNDED, amount_poisha=-20000, note="-note"),
        WaitlistEntry(branch=branch, client=client, zone=zone, offered_rental=rental,
                      note="@note"),
        TermsVersion(version=1, title="=title", body="+body", published_by=staff),
        MaintenanceTicket(branch=branch, locker=locker, client=client, description="+cmd",
                          resolution="=resolution", assignee=staff, opened_by=staff,
                          cost_poisha=150000),
        # Cleaned out long ago: held, and due for disposal.
        LostItem(branch=branch, locker=locker, rental=rental, client=client,
                 description="=HYPERLINK(\"http://x\",\"lost\")", storage_place="@shelf",
                 cleaned_out_on=date(2020, 1, 1), handled_by=staff),
        PriceRule(branch=branch, category=category, term=RentalTerm.MONTHLY, price_poisha=80000,
                  effective_from=date(2020, 1, 1)),
        DiscountRule(name="-10%", kind=DiscountKind.TAG, tag=tag, percent_bp=1000),
        Coupon(code="=COUPON", kind=CouponKind.AMOUNT, amount_poisha=10000),
        Role(name="=role", description="+role", permissions=["=clients-view", "clients-edit"]),
        ActivityLog(action=ActivityAction.UPDATE, user_email="=x@y.z", model="=Model",
                    object_id="-1", summary="@summary", changes={"=field": ["+before", "-after"]},
                    ip="=ip", user_agent="+agent", branch=branch),
        MessageTemplate(kind=MessageKind.WELCOME, channel=Channel.EMAIL, language=Language.ENGLISH,
                        subject="=subject", body="+body {{ client_name }}"),
        Campaign(name="=campaign", channel=Channel.SMS, branch=branch, body_bn="+body",
                 body_en="-body", subject="@subject"),
        Notification(dedupe_key="=key", kind=MessageKind.WELCOME, channel=Channel.SMS,
                     language=Language.ENGLISH, branch=branch, client=client,
                     recipient="=recipient", body="@body", provider_id="-id", error="+error"),
    ])
    db.session.flush()
    invoice = db.session.execute(db.select(Invoice)).scalars().first()
    db.session.add(GatewayTransaction(
        gateway=Gateway.BKASH, invoice=invoice, branch=branch, client=client, reference="=ref",
        gateway_reference="+paymentID", transaction_id="-trx", amount_poisha=80000,
        currency="@BD", error="=error"))
    # Text settings show up in exports directly and inside formatted cells (the
    # currency sign before a coupon's amount).
    for setting_key in ("company_name", "company_address", "company_bin", "currency",
                        "invoice_prefix"):
        db.session.get(Setting, setting_key).value = formula()
    db.session.commit()


def _free_text_columns(mapper):
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if (isinstance(column, sa.Column) and isinstance(column.type, sa.String)
                and not isinstance(column.type, sa.Enum)
                and not column.primary_key and not column.foreign_keys
                and f"{column.table.name}.{column.name}" not in KEEP_COLUMNS):
            yield attr.key, column.type.length


def _exported_models(app):
    """The models of the exporting views and of the records their columns show."""
    models = set()
    for view in _exporting_views(app):
        models.add(view.model)
        for name, _label in view._export_columns:
            mapper = sa.inspect(view.model)
            for step in str(name).split("."):
                relationship = mapper.relationships.get(step)
                if relationship is None:
                    break
                mapper = relationship.mapper
                models.add(mapper.class_)
    return models


def _formula_in_every_text_column(models, spare):
    """Put a formula in every free-text column of every row of `models` (but `spare`).

    Only what the exports show is touched: other tables (staff sessions) keep
    the exporting user signed in.
    """
    for model in sorted(models, key=lambda m: m.__name__):
        mapper = sa.inspect(model)
        columns = list(_free_text_columns(mapper))
        if not columns:
            continue
        for row in db.session.execute(db.select(mapper.class_)).scalars():
            if row in spare:
                continue
            for name, length in columns:
                if not is_live_formula(getattr(row, name)):
                    setattr(row, name, formula(length))
    db.session.commit()


@pytest.fixture
def poisoned(app, desk):
    """A Super Admin's browser over data with a formula in every piece of text."""
    _make_one_of_everything(desk)
    browser = desk.login_as(SUPER_ADMIN)
    admin_user = db.session.get(User, browser.user.id)
    # The exporting user and their role keep their names, so they stay signed in.
    _formula_in_every_text_column(_exported_models(app), spare={admin_user, *admin_user.roles})
    return browser


# --- reading exports back ---------------------------------------------------------


def _csv_rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _xlsx_rows(response):
    sheet = load_workbook(io.BytesIO(response.data)).active
    # A cell Excel would calculate reads back as data_type "f": kept as "=…", a live formula.
    return [["=" + str(cell.value).lstrip("=") if cell.data_type == "f" else cell.value
             for cell in row] for row in sheet.iter_rows()]


READERS = {"csv": _csv_rows, "xlsx": _xlsx_rows}


def _live_cells(rows):
    return [(r, c, cell) for r, row in enumerate(rows) for c, cell in enumerate(row)
            if is_live_formula(cell)]


def test_the_admin_is_searched_for_exports(app):
    """The walk finds the screens the review named (so an empty walk cannot pass)."""
    endpoints = {view.endpoint for view in _exporting_views(app)}
    assert {"clients", "rentals", "invoices", "payments", "deposits", "maintenance",
            "lost_found", "lost_found_due"} <= endpoints


def test_no_cell_of_any_export_is_a_live_formula(app, poisoned):
    """CSV and XLSX of every exporting view: formulas come out as text, numbers as numbers.

    The PDF of each is made too; a PDF runs no formulas, so its cells are not read.
    """
    problems = []
    for view in _exporting_views(app):
        if view.endpoint in NOTHING_TO_EXPORT:
            continue
        for kind in view.export_types:
            response = poisoned.get(f"/admin/{view.endpoint}/export/{kind}/")
            where = f"{view.endpoint} ({kind})"
            if response.status_code != 200 or "attachment" not in response.headers.get(
                    "Content-Disposition", ""):
                problems.append(f"{where}: HTTP {response.status_code}, no file")
                continue
            if kind == "pdf":  # read by people, not run: only that it is a PDF
                if not response.data.startswith(b"%PDF-"):
                    problems.append(f"{where}: not a PDF")
                continue
            rows = READERS[kind](response)
            if len(rows) < 2:
                problems.append(f"{where}: no data rows; give this test data for it")
                continue
            if not any(isinstance(cell, str) and cell.startswith("'")
                       for row in rows[1:] for cell in row):
                problems.append(f"{where}: no neutralised text, so nothing was checked")
            problems.extend(f"{where} row {r} column {rows[0][c]!r}: {cell!r}"
                            for r, c, cell in _live_cells(rows))
    assert not problems, "\n".join(problems)


def test_a_linked_column_is_neutralised_and_money_stays_a_number(app, poisoned):
    """A rental's client is shown through the client record; deposits keep signed numbers."""
    rentals = _csv_rows(poisoned.get("/admin/rentals/export/csv/"))
    client = rentals[0].index("Client")
    assert rentals[1][client].startswith("'" + HYPERLINK)

    deposits = _xlsx_rows(poisoned.get("/admin/deposits/export/xlsx/"))
    client, amount = deposits[0].index("Client"), deposits[0].index("Amount")
    assert all(row[client].startswith("'" + HYPERLINK) for row in deposits[1:])
    assert sorted(Decimal(row[amount]) for row in deposits[1:]) == [Decimal("-200.00"),
                                                                     Decimal("500.00")]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_deposit_balances_export_is_safe(poisoned, kind):
    """The balances page builds its own file: its cells are neutralised the same way."""
    response = poisoned.get(f"/admin/deposits/balances/?export={kind}")
    rows = READERS[kind](response)
    assert len(rows) == 2 and rows[1][0] == "'" + HYPERLINK
    assert Decimal(str(rows[1][-1])) == Decimal("300.00")
    assert not _live_cells(rows)


def test_every_file_export_goes_through_the_sanitizer():
    """Code that writes CSV or spreadsheets itself must use app.services.exports.

    Flask-Admin's exports pass through SecuredModelView.get_export_value; a
    screen that builds its own file should call exports.spreadsheet(), which
    applies the same safe_cell. This catches one that writes a file directly.
    """
    root = pathlib.Path(__file__).resolve().parent.parent
    writers = re.compile(r"csv\.writer|csv\.DictWriter|\bDataset\(|\bWorkbook\(|\bimport tablib"
                         r"|from tablib import|xlsxwriter")
    offenders = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for folder in ("app", "admin_views", "jobs")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "app" / "services" / "exports.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if writers.search(line)
    ]
    assert not offenders, "\n".join(offenders)


# --- safe_cell itself ---------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "=1+1", HYPERLINK, "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\tplain", "\rplain",
    "-৳500.00", "+8801711000000",
    # After blanks, in fullwidth form, after a zero-width space.
    " =1+1", "  +1", "\n=1", "\u00a0@x", "\u3000=1", "＝1+1", "＋1", "－1", "＠x", "\u200b=1",
])
def test_safe_cell_neutralises_formula_text(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Karim Uddin", "", "a=b", "'=already text", "৳500.00",
                                   "1-2", "মোহাম্মদ"])
def test_safe_cell_leaves_plain_text_alone(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [-500, 0, 12.5, Decimal("-500.00"), True,
                                   date(2026, 1, 1), datetime(2026, 1, 1, 9, 30)])
def test_safe_cell_keeps_numbers_and_dates_as_they_are(value):
    assert safe_cell(value) is value


def test_safe_cell_turns_other_values_into_safe_text():
    """Records (a rental's client), lazy translations and Markup become plain, safe text."""
    from markupsafe import Markup

    class Record:
        def __str__(self):
            return HYPERLINK

    assert safe_cell(Record()) == "'" + HYPERLINK
    assert safe_cell(None) == ""
    cell = safe_cell(Markup("=1+1"))
    assert cell == "'=1+1" and type(cell) is str  # not "&#39;=1+1"
    assert set(FORMULA_TRIGGERS) >= {"=", "+", "-", "@", "\t", "\r"}
