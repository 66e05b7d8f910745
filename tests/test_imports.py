"""Bulk import of clients and lockers: dry run first, then all rows or none (SPEC C4)."""

import csv
import io
import os
import re
import time
import zipfile
from datetime import date
from datetime import datetime

import openpyxl
import pytest

from app.extensions import db
from app.models import ActivityLog
from app.models import Client
from app.models import Gender
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.services import imports
from bench.imports import client_rows
from bench.imports import to_csv

HEADERS = ["Full name", "Phone", "Email", "NID", "Gender", "Date of birth", "Address"]
GOOD_ROWS = [
    ["Rumana Akter", "01811-234567", "rumana@example.com", "1990123456789", "F", "1992-04-17",
     "Road 5, Dhanmondi"],
    ["Karim Uddin", "+880 1711 000002", "", "", "Male", "03/11/1985", ""],
    ["নুসরাত জাহান", "8801911000003", "", "", "মহিলা", "", "মিরপুর ১০"],
    ["Sabbir Hossain", "01511000004", "sabbir@example.com", "19881234567", "", "", ""],
    ["Tahmina Begum", "01611000005", "", "", "female", "1979-12-31", ""],
]


@pytest.fixture(autouse=True)
def import_folder(app, tmp_path):
    """Uploads of these tests wait in a temporary folder, not in the project's instance/."""
    app.config["UPLOAD_DIR"] = tmp_path / "uploads"
    return tmp_path / "imports"


def _csv(rows, headers=HEADERS, delimiter=","):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _xlsx(rows, headers=HEADERS):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _count(model, *where):
    return db.session.execute(
        db.select(db.func.count()).select_from(model).where(*where)).scalar_one()


def _upload(browser, data, filename="clients.csv", kind="clients", branch=None):
    form = {"kind": kind, "file": (io.BytesIO(data), filename)}
    if branch is not None:
        form["branch"] = str(branch.id)
    return browser.post("/admin/import/", data=form, content_type="multipart/form-data")


def _selected(page, field):
    """The value pre-selected in the mapping page's select for `field` ("" if none)."""
    select = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', page, re.S).group(1)
    chosen = re.search(r'<option selected value="([^"]*)"', select)
    return chosen.group(1) if chosen else ""


def _fields(kind):
    return [target.name for target in imports.targets(kind)]


def _check(browser, data, kind="clients", branch=None, filename="clients.csv"):
    """Upload, accept the guessed columns, and open the dry run; returns its page text."""
    response = _upload(browser, data, filename=filename, kind=kind, branch=branch)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = browser.get("/admin/import/mapping/").get_data(as_text=True)
    mapping = {name: _selected(page, name) for name in _fields(kind)}
    response = browser.post("/admin/import/mapping/", data=mapping)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    response = browser.get("/admin/import/check/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _problems(page):
    """{row: [(column, problem), …]} from the dry run's table of problems."""
    found = {}
    for row, column, message in re.findall(
            r'<tr data-row="(\d+)"><td>\d+</td><td>(.*?)</td><td>(.*?)</td></tr>', page):
        found.setdefault(int(row), []).append((column, message))
    return found


def _figure(page, name):
    return int(re.search(rf'data-figure="{name}">([\d,]+)<', page).group(1).replace(",", ""))


def test_the_dry_run_lists_exactly_the_bad_rows_and_imports_nothing(desk):
    """Three bad rows are listed with their spreadsheet row, column and reason; nothing is saved."""
    branch = desk.make_branch()
    rows = [list(row) for row in GOOD_ROWS]
    rows[1][1] = "12345"                 # row 3: not a mobile number
    rows[3][2] = "sabbir@"               # row 5: not an email
    rows[4][5] = "2999-01-01"            # row 6: born in the future
    browser = desk.login_as("Manager")
    page = _check(browser, _csv(rows), branch=branch)
    assert _problems(page) == {
        3: [("Phone (B)", "Enter a Bangladesh mobile number, for example 01711-123456.")],
        5: [("Email (C)", "Not a valid email address.")],
        6: [("Date of birth (F)", "The date of birth is in the future.")],
    }
    assert (_figure(page, "rows"), _figure(page, "created"), _figure(page, "bad-rows")) == (5, 2, 3)
    assert "/admin/import/commit/" not in page
    assert _count(Client) == 0
    assert _count(ActivityLog, ActivityLog.model.in_(["Client", "Import"])) == 0


def test_a_commit_is_refused_while_rows_are_bad(desk):
    """Posting the commit anyway (a forged or stale button) imports nothing and lists the rows."""
    branch = desk.make_branch()
    rows = [list(row) for row in GOOD_ROWS]
    rows[0][0] = ""
    browser = desk.login_as("Manager")
    _check(browser, _csv(rows), branch=branch)
    response = browser.post("/admin/import/commit/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nothing was imported. Rows with problems: 1." in page
    assert _problems(page) == {2: [("Full name (A)", "This cell is empty, but the field is required.")]}
    assert _count(Client) == 0


def test_the_fixed_file_commits_every_row(desk, import_folder):
    """With no bad rows the import saves every client, logs one summary and deletes the file."""
    branch = desk.make_branch()
    browser = desk.login_as("Manager")
    page = _check(browser, _csv(GOOD_ROWS), branch=branch)
    assert "/admin/import/commit/" in page and _figure(page, "created") == 5
    response = browser.post("/admin/import/commit/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/clients/")
    clients = {c.phone: c for c in db.session.execute(db.select(Client)).scalars()}
    assert sorted(clients) == ["+8801511000004", "+8801611000005", "+8801711000002",
                               "+8801811234567", "+8801911000003"]
    rumana = clients["+8801811234567"]
    assert (rumana.full_name, rumana.email, rumana.nid, rumana.gender, rumana.date_of_birth,
            rumana.branch_id) == ("Rumana Akter", "rumana@example.com", "1990123456789",
                                  Gender.FEMALE, date(1992, 4, 17), branch.id)
    assert clients["+8801711000002"].date_of_birth == date(1985, 11, 3)
    assert clients["+8801911000003"].gender is Gender.FEMALE
    summary = db.session.execute(
        db.select(ActivityLog).where(ActivityLog.model == "Import")).scalar_one()
    assert summary.summary == "clients.csv: 5 created, 0 updated"
    assert summary.user_id == browser.user.id
    assert _count(ActivityLog, ActivityLog.model == "Client") == 5
    assert list(import_folder.iterdir()) == []
    assert "Upload a file to import first." in browser.get(
        "/admin/import/check/", follow_redirects=True).get_data(as_text=True)


def test_a_reimport_updates_clients_by_phone_instead_of_duplicating(desk):
    """A known phone, typed another way, updates that client; blank cells keep their value."""
    branch = desk.make_branch()
    known = desk.make_client(branch=branch, phone="+8801811234567", name="Rumana",
                             email="old@example.com", address="Old road")
    browser = desk.login_as("Front Desk")
    rows = [["Rumana Akter", "0181-1234567", "", "", "", "", "New road"]]
    page = _check(browser, _csv(rows), branch=branch)
    assert (_figure(page, "created"), _figure(page, "updated")) == (0, 1)
    assert browser.post("/admin/import/commit/").status_code == 302
    db.session.refresh(known)
    assert (known.full_name, known.email, known.address) == ("Rumana Akter", "old@example.com",
                                                             "New road")
    assert _count(Client) == 1
    assert db.session.execute(db.select(ActivityLog.summary).where(
        ActivityLog.model == "Import")).scalar_one() == "clients.csv: 0 created, 1 updated"


def test_a_new_phone_with_a_known_nid_updates_that_client(desk):
    """A client who changed number is found by NID, and the new number is saved."""
    branch = desk.make_branch()
    known = desk.make_client(branch=branch, phone="+8801811234567", nid="1990123456789")
    browser = desk.login_as("Manager")
    page = _check(browser, _csv([["Karim Uddin", "01711000009", "", "1990123456789", "", "", ""]]),
                  branch=branch)
    assert (_figure(page, "created"), _figure(page, "updated")) == (0, 1)
    browser.post("/admin/import/commit/")
    db.session.refresh(known)
    assert known.phone == "+8801711000009" and _count(Client) == 1


def test_a_phone_of_one_client_and_an_nid_of_another_is_an_error(desk):
    """The desk is told rather than merging two people."""
    branch = desk.make_branch()
    desk.make_client(branch=branch, phone="+8801811234567")
    desk.make_client(branch=branch, phone="+8801711000009", nid="1990123456789")
    browser = desk.login_as("Manager")
    page = _check(browser, _csv([["Karim Uddin", "01811234567", "", "1990123456789", "", "", ""]]),
                  branch=branch)
    assert _problems(page) == {2: [(
        "NID (D)", "The phone number belongs to one client and the NID to another.")]}


def test_two_rows_with_the_same_phone_or_nid_are_both_reported(desk):
    """Duplicates name each other's row, however typed, even when a row has another problem."""
    branch = desk.make_branch()
    rows = [list(row) for row in GOOD_ROWS]
    rows[4][1] = "+880 1811-234567"      # row 6 has row 2's phone (and a bad email)
    rows[4][2] = "tahmina@"
    rows[3][3] = rows[1][3] = "1234567890"   # rows 5 and 3 share an NID
    browser = desk.login_as("Manager")
    page = _check(browser, _csv(rows), branch=branch)
    assert _problems(page) == {
        2: [("Phone (B)", "The same phone number is also on row 6.")],
        3: [("NID (D)", "The same NID is also on row 5.")],
        5: [("NID (D)", "The same NID is also on row 3.")],
        6: [("Phone (B)", "The same phone number is also on row 2."),
            ("Email (C)", "Not a valid email address.")],
    }


def test_an_excel_workbook_imports_with_dates_and_numbers(desk):
    """XLSX works: a date cell, a phone Excel turned into a number, a semicolon-free sheet."""
    branch = desk.make_branch()
    rows = [["Rumana Akter", 8801811234567, None, 1990123456789, "F", datetime(1992, 4, 17),
             None],
            [None, None, None, None, None, None, None],
            ["Karim Uddin", 1711000002, "karim@example.com", None, "M", "03/11/1985", None]]
    browser = desk.login_as("Manager")
    page = _check(browser, _xlsx(rows), branch=branch, filename="members.xlsx")
    assert _problems(page) == {} and _figure(page, "created") == 2
    browser.post("/admin/import/commit/")
    clients = {c.phone: c for c in db.session.execute(db.select(Client)).scalars()}
    assert clients["+8801811234567"].date_of_birth == date(1992, 4, 17)
    assert clients["+8801811234567"].nid == "1990123456789"
    assert clients["+8801711000002"].email == "karim@example.com"


def test_an_excel_row_number_counts_blank_rows(desk):
    """A bad row after a blank line is reported with the number Excel shows."""
    branch = desk.make_branch()
    rows = [GOOD_ROWS[0], [None] * 7, ["Karim Uddin", "999", None, None, None, None, None]]
    page = _check(desk.login_as("Manager"), _xlsx(rows), branch=branch, filename="m.xlsx")
    assert list(_problems(page)) == [4]


def test_bengali_and_english_headers_are_guessed(desk):
    """The column choices arrive pre-selected from Bengali headers; a semicolon CSV works too."""
    branch = desk.make_branch()
    headers = ["ক্রম", "নাম", "মোবাইল", "ইমেইল", "জাতীয় পরিচয়পত্র", "লিঙ্গ", "জন্ম তারিখ", "ঠিকানা",
               "জরুরি যোগাযোগ", "জরুরি ফোন"]
    data = _csv([["১", "নুসরাত জাহান", "০১৯১১০০০০০৩", "", "", "মহিলা", "১৯৯৫-০৫-০১", "মিরপুর",
                  "রহিম", "01711000002"]], headers=headers, delimiter=";")
    browser = desk.login_as("Manager")
    assert _upload(browser, data, branch=branch).status_code == 302
    page = browser.get("/admin/import/mapping/").get_data(as_text=True)
    assert {name: _selected(page, name) for name in _fields("clients")} == {
        "full_name": "1", "phone": "2", "email": "3", "nid": "4", "gender": "5",
        "date_of_birth": "6", "address": "7", "emergency_contact_name": "8",
        "emergency_contact_phone": "9", "tier": "", "notes": ""}
    page = _check(browser, data, branch=branch)
    assert _problems(page) == {}
    browser.post("/admin/import/commit/")
    client = db.session.execute(db.select(Client)).scalar_one()
    assert (client.phone, client.gender, client.date_of_birth, client.emergency_contact_phone) == (
        "+8801911000003", Gender.FEMALE, date(1995, 5, 1), "+8801711000002")


def test_english_variants_go_to_the_right_fields():
    """'Mobile No.' is the phone and 'Emergency contact phone' is not."""
    headers = ["Emergency contact phone", "Mobile No.", "Client Name", "E-mail", "DOB", "Sex",
               "Emergency contact", "Membership", "Remarks", "NID / passport no."]
    assert imports.guess_mapping("clients", headers) == {
        "emergency_contact_phone": 0, "phone": 1, "full_name": 2, "email": 3,
        "date_of_birth": 4, "gender": 5, "emergency_contact_name": 6, "tier": 7, "notes": 8,
        "nid": 9}
    assert imports.guess_mapping("lockers", ["লকার নম্বর", "জোন", "তলা", "সাইজ", "Category"]) == {
        "number": 0, "zone": 1, "floor": 2, "size": 3, "category": 4}


@pytest.mark.parametrize("data", [
    b"<?php system($_GET['c']); ?>\nname,phone\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "Name,Phone\nRumana Akter,01811234567\n".encode("cp1252") + b"\xe9\xff\n",
    "Name,Phone\nRumana,01811234567\n".encode("utf-16"),
], ids=["php", "png", "not-utf8", "utf16"])
def test_a_file_that_is_not_a_table_is_refused(desk, import_folder, data):
    """A PHP script or a binary renamed .csv is refused with a clear message; nothing is kept."""
    browser = desk.login_as("Manager")
    response = _upload(browser, data, branch=desk.make_branch())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "This is not a CSV or Excel (.xlsx) file." in page
    assert not import_folder.exists() or list(import_folder.iterdir()) == []


def test_a_zip_that_is_not_a_workbook_is_refused(desk):
    """A .docx or any zip named .xlsx is not taken for a workbook."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    response = _upload(desk.login_as("Manager"), out.getvalue(), filename="clients.xlsx",
                       branch=desk.make_branch())
    assert "This is not a CSV or Excel (.xlsx) file." in response.get_data(as_text=True)


def test_a_file_over_the_size_limit_is_refused(app, desk):
    """A file bigger than UPLOAD_MAX_BYTES is refused before anything is parsed."""
    app.config["UPLOAD_MAX_BYTES"] = 1024 * 1024
    rows = [[f"Client {n}", f"0171{n:07d}", "", "", "", "", "x" * 200] for n in range(5000)]
    data = _csv(rows)
    assert len(data) > 1024 * 1024
    response = _upload(desk.login_as("Manager"), data, branch=desk.make_branch())
    assert "The file is too large (at most 1 MB)." in response.get_data(as_text=True)


def test_a_header_without_rows_is_refused(desk):
    """A file with only its header row has nothing to import, and says so."""
    response = _upload(desk.login_as("Manager"), _csv([]), branch=desk.make_branch())
    assert "The file has no rows to import under its header row." in response.get_data(
        as_text=True)


def test_required_fields_must_be_mapped(desk):
    """The phone column cannot be left out, nor one column used twice."""
    browser = desk.login_as("Manager")
    _upload(browser, _csv(GOOD_ROWS), branch=desk.make_branch())
    response = browser.post("/admin/import/mapping/", data={"full_name": "0", "email": "0"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose the column that holds Phone." in page
    assert "This column is already chosen for Full name." in page


def test_a_formula_is_stored_as_text_and_exported_with_an_apostrophe(desk):
    """'=cmd|…' is just a name: stored as typed, neutralised in the client export."""
    branch = desk.make_branch()
    formula = "=cmd|' /C calc'!A0"
    browser = desk.login_as("Manager")
    _check(browser, _csv([[formula, "01811234567", "", "", "", "", "@SUM(A1)"]]), branch=branch)
    browser.post("/admin/import/commit/")
    client = db.session.execute(db.select(Client)).scalar_one()
    assert (client.full_name, client.address) == (formula, "@SUM(A1)")
    # utf-8-sig: the export starts with a byte-order mark (for Excel).
    export = browser.get("/admin/clients/export/csv/").data.decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(export)) if "calc" in r["Full name"])
    assert row["Full name"] == "'" + formula


def test_html_in_a_cell_is_kept_as_text_and_escaped_on_screen(desk):
    """A name with markup is saved as typed and shown as text, never as HTML."""
    branch = desk.make_branch()
    name = "<script>alert(1)</script>Rahim"
    browser = desk.login_as("Manager")
    rows = [[name, "01811234567", "", "", "", "", ""], ["<b>x</b>", "999", "", "", "", "", ""]]
    page = _check(browser, _csv(rows), branch=branch)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt; (A)" not in page
    rows.pop()
    _check(browser, _csv(rows), branch=branch)
    browser.post("/admin/import/commit/")
    assert db.session.execute(db.select(Client.full_name)).scalar_one() == name
    listing = browser.get("/admin/clients/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Rahim" in listing and name not in listing


def test_front_desk_limited_to_a_branch_imports_into_that_branch(desk):
    """No branch choice is offered, and a forged branch in the form is ignored."""
    own, other = desk.make_branch(), desk.make_branch()
    browser = desk.login_as("Front Desk", branch=own)
    page = browser.get("/admin/import/").get_data(as_text=True)
    assert 'name="branch"' not in page and 'value="lockers"' not in page
    _check(browser, _csv(GOOD_ROWS[:2]), branch=other)
    assert browser.post("/admin/import/commit/").status_code == 302
    assert set(db.session.execute(db.select(Client.branch_id)).scalars()) == {own.id}


def test_front_desk_cannot_update_a_client_of_another_branch(desk):
    """A phone registered at another branch is an error for staff limited to their branch."""
    own, other = desk.make_branch(), desk.make_branch()
    desk.make_client(branch=other, phone="+8801811234567")
    browser = desk.login_as("Front Desk", branch=own)
    page = _check(browser, _csv(GOOD_ROWS[:1]))
    assert _problems(page) == {2: [("Phone (B)", "This client belongs to another branch.")]}


def test_an_accountant_gets_403_at_every_step(desk):
    """Accountants may view clients but not create them, so no import for them."""
    browser = desk.login_as("Accountant")
    assert browser.get("/admin/import/").status_code == 403
    assert _upload(browser, _csv(GOOD_ROWS), branch=desk.make_branch()).status_code == 403
    for url in ("/admin/import/mapping/", "/admin/import/check/"):
        assert browser.get(url).status_code == 403
    assert browser.post("/admin/import/commit/").status_code == 403
    assert "/admin/import/" not in browser.get("/admin/").get_data(as_text=True)


def test_front_desk_cannot_import_lockers(desk):
    """Front Desk may create clients but not lockers: a forged 'lockers' upload gets 403."""
    zone = desk.make_zone()
    browser = desk.login_as("Front Desk")
    data = _csv([["M-1", zone.name, "M"]], headers=["Number", "Zone", "Size"])
    assert _upload(browser, data, kind="lockers", branch=zone.branch).status_code == 403


def test_lockers_import_creates_available_lockers_with_keys(desk):
    """Each new locker is Available, has its status recorded and a key tag in the office."""
    zone = desk.make_zone(name="Men")
    branch = zone.branch
    premium = LockerCategory(name="Premium")
    db.session.add(premium)
    db.session.commit()
    data = _csv([["m-101", "men", "S", "Premium"], [" M-102 ", "Men", "বড়", ""]],
                headers=["লকার নম্বর", "জোন", "সাইজ", "Category"])
    browser = desk.login_as("Manager")
    page = _check(browser, data, kind="lockers", branch=branch, filename="lockers.csv")
    assert _problems(page) == {} and _figure(page, "created") == 2
    response = browser.post("/admin/import/commit/")
    assert response.headers["Location"].endswith("/admin/lockers/")
    lockers = db.session.execute(db.select(Locker).order_by(Locker.number)).scalars().all()
    assert [(lk.number, lk.size, lk.status, lk.zone_id, lk.branch_id, lk.category_id)
            for lk in lockers] == [
        ("M-101", LockerSize.SMALL, LockerStatus.AVAILABLE, zone.id, branch.id, premium.id),
        ("M-102", LockerSize.LARGE, LockerStatus.AVAILABLE, zone.id, branch.id, None)]
    assert sorted(db.session.execute(db.select(Key.tag)).scalars()) == [
        f"K-{branch.code}-M-101", f"K-{branch.code}-M-102"]
    assert _count(KeyEvent, KeyEvent.kind == KeyEventKind.ADDED) == 2
    assert _count(LockerStatusChange, LockerStatusChange.to_status == LockerStatus.AVAILABLE) == 2
    assert db.session.execute(db.select(ActivityLog.summary).where(
        ActivityLog.model == "Import")).scalar_one() == "lockers.csv: 2 created, 0 updated"


def test_lockers_import_refuses_an_existing_number_and_unknown_names(desk):
    """An existing number, an unknown zone or category and a bad size are errors; nothing is made."""
    zone = desk.make_zone(name="Men")
    desk.make_locker(zone=zone, number="M-001")
    data = _csv([["m-001", "Men", "M", ""], ["M-002", "Ladies", "M", ""],
                 ["M-003", "Men", "XL", ""], ["M-004", "Men", "M", "Gold"],
                 ["M-005", "Men", "M", ""], ["m-005", "Men", "S", ""]],
                headers=["Number", "Zone", "Size", "Category"])
    browser = desk.login_as("Manager")
    page = _check(browser, data, kind="lockers", branch=zone.branch)
    assert _problems(page) == {
        2: [("Number (A)", "Locker M-001 already exists in this branch.")],
        3: [("Zone (B)", "There is no zone Ladies in this branch.")],
        4: [("Size (C)", "Size must be S, M or L.")],
        5: [("Category (D)", "There is no locker category Gold.")],
        6: [("Number (A)", "The same locker number is also on row 7.")],
        7: [("Number (A)", "The same locker number is also on row 6.")],
    }
    assert browser.post("/admin/import/commit/").status_code == 200
    assert _count(Locker) == 1 and _count(Key) == 0


def test_a_zone_name_on_two_floors_needs_the_floor(desk):
    """'Men' on two floors is ambiguous until the floor column says which."""
    first = desk.make_zone(name="Men")
    second = desk.make_zone(branch=first.branch, name="Men")
    data = _csv([["M-1", "Men", "M"]], headers=["Number", "Zone", "Size"])
    browser = desk.login_as("Manager")
    page = _check(browser, data, kind="lockers", branch=first.branch)
    assert _problems(page) == {2: [("Zone (B)",
                                    "Zone Men is on several floors; map the floor column too.")]}
    data = _csv([["M-1", "Men", "M", second.floor.name]], headers=["Number", "Zone", "Size", "Floor"])
    _check(browser, data, kind="lockers", branch=first.branch)
    browser.post("/admin/import/commit/")
    assert db.session.execute(db.select(Locker.zone_id)).scalar_one() == second.id


def test_a_row_that_became_bad_after_the_dry_run_stops_the_whole_commit(desk):
    """The commit checks again: a conflict that appeared meanwhile leaves nothing written."""
    branch = desk.make_branch()
    browser = desk.login_as("Manager")
    page = _check(browser, _csv(GOOD_ROWS), branch=branch)
    assert _problems(page) == {}
    # Meanwhile another desk registers row 4's phone and, for someone else, row 4's NID.
    desk.make_client(branch=branch, phone="+8801511000004")
    desk.make_client(branch=branch, phone="+8801311000000", nid="19881234567")
    response = browser.post("/admin/import/commit/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and list(_problems(page)) == [5]
    assert _count(Client) == 2
    assert _count(ActivityLog, ActivityLog.model == "Import") == 0


def test_a_commit_failing_half_way_writes_nothing(desk, monkeypatch):
    """If saving fails after the rows went to the database, every row is rolled back."""
    branch = desk.make_branch()
    manager = desk.make_user("Manager")
    token = imports.save_upload(_csv(GOOD_ROWS))
    mapping = imports.guess_mapping("clients", imports.load_table(token).headers)

    def disk_full(*args, **kwargs):
        assert _count(Client) == 5  # the rows are in the transaction already
        raise OSError("disk full")

    monkeypatch.setattr(imports.audit, "record", disk_full)
    with pytest.raises(OSError):
        imports.commit_import("clients", token, mapping, branch_id=branch.id,
                              by_user_id=manager.id, filename="clients.csv")
    assert _count(Client) == 0
    assert _count(ActivityLog, ActivityLog.model == "Client") == 0


def test_cancel_deletes_the_uploaded_file(desk, import_folder):
    """Cancelling forgets the import and removes the file from the server."""
    browser = desk.login_as("Manager")
    _upload(browser, _csv(GOOD_ROWS), branch=desk.make_branch())
    assert len(list(import_folder.iterdir())) == 1
    page = browser.get("/admin/import/").get_data(as_text=True)
    assert "An import of clients.csv is waiting for you." in page
    response = browser.post("/admin/import/cancel/", follow_redirects=True)
    assert "The import was cancelled and the uploaded file deleted." in response.get_data(
        as_text=True)
    assert list(import_folder.iterdir()) == []


def test_ten_thousand_rows_with_37_bad_ones_report_exactly_those(desk):
    """The issue's file: 10,000 rows, 37 bad in different ways; exactly those 37 are listed."""
    branch = desk.make_branch()
    headers, rows, bad = client_rows(10_000)
    browser = desk.login_as("Manager")
    page = _check(browser, to_csv(headers, rows), branch=branch)
    assert set(_problems(page)) == bad and len(bad) == 37
    assert _figure(page, "rows") == 10_000 and _figure(page, "bad-rows") == 37
    assert _count(Client) == 0


def test_a_file_left_by_an_abandoned_import_is_deleted_a_day_later(desk, import_folder):
    """Uploads nobody committed or cancelled do not pile up on the server."""
    browser = desk.login_as("Manager")
    branch = desk.make_branch()
    _upload(browser, _csv(GOOD_ROWS), branch=branch)
    (abandoned,) = import_folder.iterdir()
    day_ago = time.time() - imports.STALE_SECONDS - 60
    os.utime(abandoned, (day_ago, day_ago))
    _upload(desk.login_as("Manager"), _csv(GOOD_ROWS), branch=branch)
    assert abandoned not in list(import_folder.iterdir())
    assert len(list(import_folder.iterdir())) == 1
