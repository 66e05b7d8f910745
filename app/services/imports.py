"""Bulk import of clients and lockers from CSV or Excel (SPEC C4).

An import goes upload → column mapping → dry run → commit. The uploaded file is
kept under instance/imports with a random name until it is committed or
cancelled. A file is accepted by what it contains, not by its name: an Excel
workbook is a zip that openpyxl can open, a CSV is UTF-8 text without NUL
bytes. The dry run checks every row and writes nothing; the commit checks
every row again inside one transaction and writes all rows or none.

Cells are stored as the text they hold: HTML is escaped where it is shown and a
formula (`=cmd|…`) is neutralised by the exports, never evaluated here.
"""

import csv
import io
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from pathlib import Path

import openpyxl
from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ActivityAction
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Gender
from app.models import Key
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import Rental
from app.models import User
from app.models import Zone
from app.services import audit
from app.services import clients
from app.services import clock
from app.services import events
from app.services import lockers
from app.services.errors import Refusal
from app.services.keys import key_tag_for
from app.services.money import ascii_digits
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile
from app.services.transactions import in_slices
from app.services.uploads import UploadRejected
from app.services.uploads import read_upload

CLIENTS, LOCKERS = "clients", "lockers"
KINDS = (CLIENTS, LOCKERS)
CSV, XLSX = "csv", "xlsx"
# A larger list is split into several files: one request must finish well
# inside a web worker's timeout.
MAX_ROWS = 20_000
# Client fields keep what every other door keeps (app.services.clients).
LENGTHS = clients.FIELD_LENGTHS
MAX_COLUMNS = 200
# Excel often "uses" thousands of formatted but empty rows after the data;
# after this many blank rows in a row the sheet is taken to have ended.
BLANK_RUN_END = 1000
# A file left behind by an abandoned import (the session ended) is deleted after this.
STALE_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

NOT_A_TABLE = _l("This is not a CSV or Excel (.xlsx) file. Save it as \"CSV UTF-8\" or as an "
                 "Excel workbook and upload it again.")
REQUIRED = _l("This cell is empty, but the field is required.")


class ImportRejected(Refusal):
    """The file or the mapping is refused as a whole; `message` is for the screen."""


class ImportFailed(ValueError):
    """Rows have problems, so nothing was imported; `plan` lists them."""

    def __init__(self, plan):
        super().__init__(f"{len(plan.bad_rows)} bad rows")
        self.plan = plan
        self.message = _l("Nothing was imported. Rows with problems: %(count)d.",
                          count=len(plan.bad_rows))


class _CellError(ValueError):
    """One cell's value is refused; carries the translated reason."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Target:
    """A field the file's columns can be mapped to, with header texts that suggest it."""

    name: str
    label: object
    required: bool
    aliases: tuple


TARGETS = {
    CLIENTS: (
        Target("full_name", _l("Full name"), True,
               ("full name", "name", "client name", "client", "member name", "member",
                "নাম", "পুরো নাম", "পূর্ণ নাম", "ক্লায়েন্টের নাম", "সদস্যের নাম")),
        Target("phone", _l("Phone"), True,
               ("phone", "mobile", "phone number", "mobile number", "phone no", "mobile no",
                "cell", "contact number", "ফোন", "মোবাইল", "ফোন নম্বর", "মোবাইল নম্বর")),
        Target("email", _l("Email"), False,
               ("email", "e mail", "email address", "mail", "ইমেইল", "ই মেইল", "ইমেইল ঠিকানা")),
        Target("nid", _l("NID / passport no."), False,
               ("nid", "nid no", "nid number", "national id", "passport", "passport no",
                "nid passport no", "জাতীয় পরিচয়পত্র", "জাতীয় পরিচয়পত্র নম্বর", "এনআইডি")),
        Target("gender", _l("Gender"), False, ("gender", "sex", "লিঙ্গ")),
        Target("date_of_birth", _l("Date of birth"), False,
               ("date of birth", "dob", "birth date", "birthday", "জন্ম তারিখ", "জন্মতারিখ")),
        Target("address", _l("Address"), False, ("address", "ঠিকানা")),
        Target("emergency_contact_name", _l("Emergency contact name"), False,
               ("emergency contact", "emergency contact name", "emergency name",
                "জরুরি যোগাযোগ", "জরুরি যোগাযোগের নাম")),
        Target("emergency_contact_phone", _l("Emergency contact phone"), False,
               ("emergency contact phone", "emergency phone", "emergency mobile",
                "emergency contact number", "emergency number", "জরুরি ফোন", "জরুরি মোবাইল",
                "জরুরি যোগাযোগের ফোন", "জরুরি যোগাযোগ ফোন")),
        Target("tier", _l("Membership tier"), False,
               ("tier", "membership", "membership tier", "package", "শ্রেণি", "টিয়ার")),
        Target("notes", _l("Notes"), False,
               ("notes", "note", "remarks", "remark", "comment", "comments", "মন্তব্য", "নোট")),
    ),
    LOCKERS: (
        Target("number", _l("Locker number"), True,
               ("number", "locker number", "locker no", "locker", "no", "লকার নম্বর", "লকার",
                "নম্বর")),
        Target("zone", _l("Zone"), True, ("zone", "zone name", "জোন")),
        Target("floor", _l("Floor"), False, ("floor", "room", "floor room", "তলা", "ফ্লোর")),
        Target("size", _l("Size"), True, ("size", "সাইজ", "আকার")),
        Target("category", _l("Category"), False,
               ("category", "type", "locker category", "ক্যাটাগরি", "শ্রেণি")),
        Target("notes", _l("Notes"), False, ("notes", "note", "remarks", "মন্তব্য", "নোট")),
    ),
}

_GENDER_WORDS = {
    "male": Gender.MALE, "m": Gender.MALE, "man": Gender.MALE, "পুরুষ": Gender.MALE,
    "female": Gender.FEMALE, "f": Gender.FEMALE, "woman": Gender.FEMALE,
    "মহিলা": Gender.FEMALE, "নারী": Gender.FEMALE,
    "other": Gender.OTHER, "o": Gender.OTHER, "অন্যান্য": Gender.OTHER, "অন্য": Gender.OTHER,
}
_SIZE_WORDS = {
    "s": LockerSize.SMALL, "small": LockerSize.SMALL, "ছোট": LockerSize.SMALL,
    "m": LockerSize.MEDIUM, "medium": LockerSize.MEDIUM, "মাঝারি": LockerSize.MEDIUM,
    "l": LockerSize.LARGE, "large": LockerSize.LARGE, "বড়": LockerSize.LARGE,
}


def _nfc(text):
    # Bengali letters such as ড় have two encodings; compare them in one form.
    return unicodedata.normalize("NFC", text)


_PUNCTUATION = re.compile(r"[*:()\[\]{}._\-/#,?।'\"]+")


def _norm(text):
    """Header or keyword text reduced for comparison: "Mobile No.:" → "mobile no"."""
    return " ".join(_PUNCTUATION.sub(" ", _nfc(str(text or "")).lower()).split())


GENDERS = {_norm(word): gender for word, gender in _GENDER_WORDS.items()}
SIZES = {_norm(word): size for word, size in _SIZE_WORDS.items()}


def targets(kind):
    """The fields an import of `kind` can fill, in screen order."""
    return TARGETS[kind]


# --- the file ------------------------------------------------------------------------

@dataclass
class Table:
    """A file's header row and its non-blank data rows with their spreadsheet row numbers."""

    headers: list
    rows: list  # [(row_number, [cell, …]), …]; the header is row 1

    def column_name(self, index):
        """How the desk recognises column `index`: "Phone (B)"."""
        header = str(self.headers[index] or "").strip()
        letter = get_column_letter(index + 1)
        return f"{header} ({letter})" if header else letter


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def detect_format(data):
    """CSV or XLSX by the content of `data`; ImportRejected for anything else."""
    if data.startswith(b"PK\x03\x04"):
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            workbook.close()
        except Exception as exc:  # a zip that is not a workbook fails in many ways
            raise ImportRejected(NOT_A_TABLE) from exc
        return XLSX
    if b"\x00" in data:
        raise ImportRejected(NOT_A_TABLE)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(NOT_A_TABLE) from exc
    # Markup or a script (HTML, XML, PHP, a shell script) is text but not a table.
    start = text.lstrip()[:2]
    if start.startswith("<") or start == "#!":
        raise ImportRejected(NOT_A_TABLE)
    return CSV


def _cell(value):
    """A cell as read: text without surrounding spaces; numbers and dates as they are."""
    if isinstance(value, str):
        return value.strip()
    return value


def _csv_rows(data):
    text = data.decode("utf-8-sig")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportRejected(NOT_A_TABLE) from exc


def _xlsx_rows(data):
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def parse_table(data, fmt):
    """The Table in `data` (bytes of a CSV or XLSX file)."""
    rows = _csv_rows(data) if fmt == CSV else _xlsx_rows(data)
    headers = None
    found = []
    blank_run = 0
    for number, raw in enumerate(rows, start=1):
        cells = [_cell(value) for value in raw]
        if headers is None:
            while cells and _blank(cells[-1]):
                cells.pop()
            if not cells:
                raise ImportRejected(_l("The first row must hold the column headers."))
            if len(cells) > MAX_COLUMNS:
                raise ImportRejected(_l("The file has more than %(count)d columns.",
                                        count=MAX_COLUMNS))
            headers = ["" if value is None else str(value) for value in cells]
            continue
        if all(_blank(value) for value in cells):
            blank_run += 1
            if blank_run >= BLANK_RUN_END:
                break
            continue
        blank_run = 0
        if len(found) >= MAX_ROWS:
            raise ImportRejected(_l("The file has more than %(count)d rows; split it into "
                                    "smaller files.", count=MAX_ROWS))
        cells = (cells + [None] * len(headers))[:len(headers)]
        found.append((number, cells))
    if headers is None or len(headers) < 2:
        raise ImportRejected(_l("The file needs a header row with at least two columns."))
    if not found:
        raise ImportRejected(_l("The file has no rows to import under its header row."))
    return Table(headers, found)


def import_dir():
    """Where uploaded files wait between the steps: instance/imports."""
    folder = Path(current_app.config["UPLOAD_DIR"]).parent / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path_of(token):
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    for fmt in (CSV, XLSX):
        path = import_dir() / f"{token}.{fmt}"
        if path.is_file():
            return path
    return None


def save_upload(file):
    """Check an uploaded file (FileStorage or bytes) and keep it; returns its token.

    The file is refused unless it is within UPLOAD_MAX_BYTES, is a CSV or an
    XLSX by content, and has a header row and at least one data row.
    """
    try:
        data = read_upload(file)
    except UploadRejected as exc:
        raise ImportRejected(exc.message) from exc
    fmt = detect_format(data)
    parse_table(data, fmt)
    _sweep_stale()
    token = secrets.token_urlsafe(24)
    (import_dir() / f"{token}.{fmt}").write_bytes(data)
    return token


def _sweep_stale():
    cutoff = time.time() - STALE_SECONDS
    for path in import_dir().iterdir():
        if path.suffix in (f".{CSV}", f".{XLSX}") and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def load_table(token):
    """The Table of a kept upload; ImportRejected when it is gone."""
    path = _path_of(token)
    if path is None:
        raise ImportRejected(_l("The uploaded file is no longer here. Upload it again."))
    return parse_table(path.read_bytes(), path.suffix.lstrip("."))


def discard(token):
    """Delete a kept upload (after commit or cancel); a missing file is fine."""
    path = _path_of(token)
    if path is not None:
        path.unlink(missing_ok=True)


# --- mapping ---------------------------------------------------------------------------

def guess_mapping(kind, headers):
    """{field: column index} guessed from the header texts (English or Bengali).

    An exact header ("Mobile", "মোবাইল") beats a header that merely contains a
    keyword ("Mobile number of client"), and a longer keyword beats a shorter
    one, so "Emergency contact phone" goes to the emergency phone, not the phone.
    """
    headers = [_norm(h) for h in headers]
    candidates = []
    for target in targets(kind):
        for alias in target.aliases:
            alias = _norm(alias)
            pattern = re.compile(rf"(^| ){re.escape(alias)}( |$)")
            for index, header in enumerate(headers):
                if header == alias:
                    candidates.append((2, len(alias), -index, target.name, index))
                elif header and pattern.search(header):
                    candidates.append((1, len(alias), -index, target.name, index))
    mapping, used = {}, set()
    for *_rank, name, index in sorted(candidates, reverse=True):
        if name not in mapping and index not in used:
            mapping[name] = index
            used.add(index)
    return mapping


def mapping_problems(kind, mapping, column_count):
    """{field: message} for a mapping that misses a required field or reuses a column."""
    problems = {}
    seen = {}
    for target in targets(kind):
        index = mapping.get(target.name)
        if index is None:
            if target.required:
                problems[target.name] = _l("Choose the column that holds %(field)s.",
                                           field=target.label)
            continue
        if not isinstance(index, int) or not 0 <= index < column_count:
            problems[target.name] = _l("Choose one of the file's columns.")
        elif index in seen:
            problems[target.name] = _l("This column is already chosen for %(field)s.",
                                       field=seen[index].label)
        else:
            seen[index] = target
    return problems


# --- checking rows ---------------------------------------------------------------------

@dataclass
class Problem:
    """Why one cell of one row cannot be imported."""

    row: int
    column: str
    message: object
    column_index: int = 0


def _problem(table, row, index, message):
    return Problem(row, table.column_name(index), message, index)


@dataclass
class Plan:
    """What an import would do: rows to create, rows to update, and every problem."""

    kind: str
    rows: int = 0
    problems: list = field(default_factory=list)
    to_create: list = field(default_factory=list)
    to_update: list = field(default_factory=list)  # [(id, {field: value}), …]

    @property
    def created(self):
        """How many records the import creates."""
        return len(self.to_create)

    @property
    def updated(self):
        """How many existing records the import updates."""
        return len(self.to_update)

    @property
    def bad_rows(self):
        """The row numbers that have at least one problem, in order."""
        return sorted({problem.row for problem in self.problems})

    @property
    def ok(self):
        """True when every row can be imported."""
        return not self.problems

    def sort(self):
        """Problems in the order of the file: by row, then by column."""
        self.problems.sort(key=lambda p: (p.row, p.column_index))


def _text(value):
    """A cell as text: numbers without a trailing ".0", dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _string(max_length, required=False):
    def parse(value):
        text = _text(value)
        if not text:
            if required:
                raise _CellError(REQUIRED)
            return None
        if len(text) > max_length:
            raise _CellError(_l("Too long: at most %(max)d characters.", max=max_length))
        return text
    return parse


def _phone(required):
    def parse(value):
        text = _text(value)
        if not text:
            if required:
                raise _CellError(REQUIRED)
            return None
        try:
            return normalise_bd_mobile(text)
        except InvalidPhone as exc:
            raise _CellError(exc.message) from exc
    return parse


def _email(value):
    text = _text(value)
    if not text:
        return None
    try:
        email = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise _CellError(_l("Not a valid email address.")) from exc
    if len(email) > LENGTHS["email"]:
        raise _CellError(_l("Too long: at most %(max)d characters.", max=LENGTHS["email"]))
    return email


def _nid(value):
    text = ascii_digits(_text(value))
    if not text:
        return None
    if len(text) > LENGTHS["nid"]:
        raise _CellError(_l("Too long: at most %(max)d characters.", max=LENGTHS["nid"]))
    return text


def _gender(value):
    text = _text(value)
    if not text:
        return None
    gender = GENDERS.get(_norm(text))
    if gender is None:
        raise _CellError(_l("Gender must be male, female or other."))
    return gender


def _date_of_birth(today):
    def parse(value):
        if _blank(value):
            return None
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            # A date cell that Excel kept as its serial number.
            try:
                day = from_excel(value).date() if 0 < value < 2958466 else None
            except (ValueError, OverflowError, TypeError):
                day = None
        else:
            day = _parse_date_text(ascii_digits(_text(value)))
        if day is None:
            raise _CellError(_l("Not a date: write it as YYYY-MM-DD or DD/MM/YYYY."))
        problem = clients.birth_date_problem(day, today)
        if problem is not None:
            raise _CellError(problem)
        return day
    return parse


def _parse_date_text(text):
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _client_parsers(today):
    return {
        "full_name": _string(LENGTHS["full_name"], required=True),
        "phone": _phone(required=True),
        "email": _email,
        "nid": _nid,
        "gender": _gender,
        "date_of_birth": _date_of_birth(today),
        "address": _string(LENGTHS["address"]),
        "emergency_contact_name": _string(LENGTHS["emergency_contact_name"]),
        "emergency_contact_phone": _phone(required=False),
        "tier": _string(LENGTHS["tier"]),
        "notes": _string(LENGTHS["notes"]),
    }


def _read_rows(table, mapping, parsers, plan):
    """([(row_number, {field: value})], bad row numbers) with every cell problem in `plan`.

    A row with a bad cell keeps the values that did parse, so that a phone it
    shares with another row is still reported on both.
    """
    rows, bad = [], set()
    for number, cells in table.rows:
        plan.rows += 1
        values = {}
        for name, index in mapping.items():
            try:
                values[name] = parsers[name](cells[index])
            except _CellError as exc:
                plan.problems.append(_problem(table, number, index, exc.message))
                bad.add(number)
        rows.append((number, values))
    return rows, bad


def _same_value_elsewhere(table, mapping, rows, name, message, plan):
    """Report every row whose `name` value also appears on another row of the file.

    `message(rows=…)` builds the translated text (msgids must be literal to be extracted).
    """
    where = {}
    for number, values in rows:
        if values.get(name) is not None:
            where.setdefault(values[name], []).append(number)
    bad = set()
    for numbers in where.values():
        if len(numbers) > 1:
            for number in numbers:
                others = ", ".join(str(n) for n in numbers if n != number)
                plan.problems.append(_problem(table, number, mapping[name],
                                             message(rows=others)))
                bad.add(number)
    return bad


def _branch_and_user(branch_id, by_user_id):
    """The branch to import into; staff limited to a branch always import into theirs."""
    user = db.session.get(User, by_user_id) if by_user_id is not None else None
    if user is not None and user.branch_id is not None:
        branch_id = user.branch_id
    branch = db.session.get(Branch, branch_id) if branch_id is not None else None
    if branch is None:
        raise ImportRejected(_l("Choose a branch."))
    return branch, user


def _today(branch):
    return clock.today(branch.timezone)


def plan_clients(table, mapping, *, branch, user):
    """Check every client row; the Plan says what would be created and updated."""
    plan = Plan(CLIENTS)
    rows, bad = _read_rows(table, mapping, _client_parsers(_today(branch)), plan)
    bad |= _same_value_elsewhere(table, mapping, rows, "phone", lambda rows: _l(
        "The same phone number is also on row %(rows)s.", rows=rows), plan)
    if "nid" in mapping:
        bad |= _same_value_elsewhere(table, mapping, rows, "nid", lambda rows: _l(
            "The same NID is also on row %(rows)s.", rows=rows), plan)
    # Every existing client's phone and NID in one query: matching is then a dict lookup.
    by_phone, by_nid, branch_of = {}, {}, {}
    for client_id, phone, nid, branch_id in db.session.execute(
            db.select(Client.id, Client.phone, Client.nid, Client.branch_id)):
        by_phone[phone] = client_id
        if nid:
            by_nid[nid] = client_id
        branch_of[client_id] = branch_id
    limited = user is not None and user.branch_id is not None
    updates = {}
    for number, values in rows:
        if number in bad:
            continue
        phone_match = by_phone.get(values["phone"])
        nid_match = by_nid.get(values.get("nid")) if values.get("nid") else None
        if phone_match and nid_match and phone_match != nid_match:
            plan.problems.append(_problem(table, number, mapping["nid"], _l(
                "The phone number belongs to one client and the NID to another.")))
            continue
        match = phone_match or nid_match
        if match is None:
            plan.to_create.append(values)
            continue
        if limited and branch_of[match] != branch.id:
            column = mapping["phone"] if phone_match else mapping["nid"]
            plan.problems.append(_problem(table, number, column,
                                         _l("This client belongs to another branch.")))
            continue
        updates.setdefault(match, []).append((number, values))
    for client_id, matched in updates.items():
        if len(matched) > 1:
            numbers = [number for number, _values in matched]
            for number in numbers:
                others = ", ".join(str(n) for n in numbers if n != number)
                plan.problems.append(_problem(table, number, mapping["phone"], _l(
                    "The same client is also updated by row %(rows)s.", rows=others)))
            continue
        # Blank cells leave what the client already has.
        values = {k: v for k, v in matched[0][1].items() if v is not None}
        plan.to_update.append((client_id, values))
    plan.sort()
    return plan


def _locker_parsers():
    def size(value):
        text = _text(value)
        if not text:
            raise _CellError(REQUIRED)
        found = SIZES.get(_norm(text))
        if found is None:
            raise _CellError(_l("Size must be S, M or L."))
        return found

    def number(value):
        parsed = _string(20, required=True)(value)
        return parsed.upper()

    return {"number": number, "zone": _string(60, required=True), "floor": _string(60),
            "size": size, "category": _string(60), "notes": _string(255)}


def plan_lockers(table, mapping, *, branch, user):
    """Check every locker row: zone and category exist, number new in the branch and file."""
    plan = Plan(LOCKERS)
    rows, bad = _read_rows(table, mapping, _locker_parsers(), plan)
    bad |= _same_value_elsewhere(table, mapping, rows, "number", lambda rows: _l(
        "The same locker number is also on row %(rows)s.", rows=rows), plan)
    zones = {}
    for zone_id, zone_name, floor_name, level in db.session.execute(
            db.select(Zone.id, Zone.name, Floor.name, Floor.level).join(Zone.floor)
            .where(Zone.branch_id == branch.id)):
        zones.setdefault(_norm(zone_name), []).append((zone_id, _norm(floor_name), str(level)))
    categories = {_norm(name): category_id for category_id, name in db.session.execute(
        db.select(LockerCategory.id, LockerCategory.name))}
    taken = {number.upper() for number in db.session.execute(
        db.select(Locker.number).where(Locker.branch_id == branch.id)).scalars()}
    tags = set(db.session.execute(
        db.select(Key.tag).where(Key.tag.like(f"K-{branch.code}-%"))).scalars())
    for number, values in rows:
        if number in bad:
            continue
        problems = []

        def problem(name, message, number=number, problems=problems):
            problems.append(_problem(table, number, mapping[name], message))

        candidates = zones.get(_norm(values["zone"]), [])
        if values.get("floor"):
            floor = _norm(values["floor"])
            candidates = [z for z in candidates if floor in (z[1], z[2])]
        if not candidates:
            if values.get("floor"):
                problem("zone", _l("There is no zone %(zone)s on floor %(floor)s in this branch.",
                                   zone=values["zone"], floor=values["floor"]))
            else:
                problem("zone", _l("There is no zone %(zone)s in this branch.",
                                   zone=values["zone"]))
        elif len(candidates) > 1:
            problem("zone", _l("Zone %(zone)s is on several floors; map the floor column too.",
                               zone=values["zone"]))
        category_id = None
        if values.get("category"):
            category_id = categories.get(_norm(values["category"]))
            if category_id is None:
                problem("category", _l("There is no locker category %(category)s.",
                                       category=values["category"]))
        if values["number"] in taken:
            problem("number", _l("Locker %(number)s already exists in this branch.",
                                 number=values["number"]))
        elif key_tag_for(branch, values["number"]) in tags:
            problem("number", _l("Key tag %(tag)s is already in use.",
                                 tag=key_tag_for(branch, values["number"])))
        if problems:
            plan.problems.extend(problems)
            continue
        plan.to_create.append({"zone_id": candidates[0][0], "number": values["number"],
                               "size": values["size"], "category_id": category_id,
                               "notes": values.get("notes")})
    plan.sort()
    return plan


PLANNERS = {CLIENTS: plan_clients, LOCKERS: plan_lockers}


def _check_request(kind, table, mapping):
    """The mapping reduced to this kind's fields; ImportRejected if it is incomplete."""
    if kind not in KINDS:
        raise ImportRejected(_l("Choose what to import."))
    names = {target.name for target in targets(kind)}
    mapping = {name: index for name, index in (mapping or {}).items()
               if name in names and index is not None}
    if mapping_problems(kind, mapping, len(table.headers)):
        raise ImportRejected(_l("Choose a column for every required field."))
    return mapping


def plan_import(kind, table, mapping, *, branch_id, by_user_id):
    """Check every row of `table` without writing anything."""
    mapping = _check_request(kind, table, mapping)
    branch, user = _branch_and_user(branch_id, by_user_id)
    return PLANNERS[kind](table, mapping, branch=branch, user=user)


def dry_run(kind, token, mapping, *, branch_id, by_user_id):
    """The Plan for a kept upload: every bad row with its reason, and the counts. Writes nothing."""
    return plan_import(kind, load_table(token), mapping, branch_id=branch_id,
                       by_user_id=by_user_id)


# --- writing ---------------------------------------------------------------------------

def _write_clients(plan, branch, by_user_id):
    db.session.add_all([Client(branch_id=branch.id, **values) for values in plan.to_create])
    changes = dict(plan.to_update)
    for chunk in in_slices(changes):
        for client in db.session.execute(db.select(Client).where(Client.id.in_(chunk))).scalars():
            for name, value in changes[client.id].items():
                setattr(client, name, value)
        # A renamed client's initials change on the grid tiles of the lockers they hold.
        held = {}
        for client_id, locker_id in db.session.execute(
                db.select(Rental.client_id, Rental.holding_locker_id).where(
                    Rental.client_id.in_(chunk), Rental.holding_locker_id.is_not(None))):
            held.setdefault(client_id, []).append(locker_id)
        for client_id, locker_ids in held.items():
            events.record(events.CLIENT_UPDATED, branch_id=branch.id, client_id=client_id,
                          by_user_id=by_user_id, locker_ids=sorted(locker_ids))


def write_locker_rows(rows, *, by_user_id, reason):
    """Create lockers from checked rows through app.services.lockers.add_lockers (the one way)."""
    zone_ids = {row["zone_id"] for row in rows}
    zones = {zone.id: zone for zone in db.session.execute(
        db.select(Zone).where(Zone.id.in_(zone_ids))).scalars()}
    return lockers.add_lockers([{**row, "zone": zones[row["zone_id"]]} for row in rows],
                               by_user_id=by_user_id, reason=reason)


def commit_import(kind, token, mapping, *, branch_id, by_user_id, filename):
    """Check every row again and import them all in one transaction, or none.

    Raises ImportFailed (nothing written) when any row has a problem, including
    one that appeared since the dry run; deletes the kept file on success.
    """
    table = load_table(token)
    plan = apply_import(kind, table, mapping, branch_id=branch_id, by_user_id=by_user_id,
                        filename=filename)
    discard(token)
    return plan


def apply_import(kind, table, mapping, *, branch_id, by_user_id, filename):
    """Import the rows of `table` all or none; see commit_import()."""
    mapping = _check_request(kind, table, mapping)
    filename = Path(str(filename or "")).name[:100] or f"{kind}.{CSV}"
    try:
        with audit.acting_as(by_user_id):
            branch, user = _branch_and_user(branch_id, by_user_id)
            plan = PLANNERS[kind](table, mapping, branch=branch, user=user)
            if not plan.ok:
                raise ImportFailed(plan)
            if kind == CLIENTS:
                _write_clients(plan, branch, by_user_id)
            else:
                write_locker_rows(plan.to_create, by_user_id=by_user_id,
                                  reason=f"import {filename}")
            # The rows (and their activity entries) are written before the summary entry.
            db.session.flush()
            audit.record(ActivityAction.CREATE, model="Import", user_id=by_user_id,
                         branch_id=branch.id,
                         summary=f"{filename}: {plan.created} created, {plan.updated} updated",
                         changes={"kind": kind, "file": filename, "rows": plan.rows,
                                  "created": plan.created, "updated": plan.updated})
            db.session.commit()
    except IntegrityError as exc:
        # Someone saved the same phone, NID or locker number while this import ran.
        db.session.rollback()
        raise ImportRejected(_l("Another change to the same records was saved meanwhile. "
                                "Nothing was imported; check the file again.")) from exc
    except Exception:
        db.session.rollback()
        raise
    return plan
