"""Making exported cells safe to open in a spreadsheet.

`safe_cell` is the one sanitizer of the exports: every cell of every file the
desk writes passes through it. Flask-Admin's exports (CSV, XLSX and any format
added to `export_types` later) reach it through
`SecuredModelView.get_export_value`, the one call every exported cell goes
through, linked records (a rental's client) and formatter output included;
screens that build their own file use `spreadsheet()` below.

The rule, and why:

* Only text is touched. Numbers, dates and times are values a spreadsheet
  stores as such: a Decimal -500.00 is written as the number -500.00, never
  as the text "'-500.00". That is why money goes out as `taka_cell()` (a
  Decimal) rather than as formatted text.
* Any other value (a related record, a lazy translation, Markup) is exported
  as its text, so it is turned into plain text first and checked like text.
* Text is neutralised with a leading apostrophe when its first character is
  a formula trigger (= + - @, tab, carriage return). A money amount rendered
  as text ("-৳500.00") is text like any other and is neutralised too.
* Blanks before the trigger do not make it safe: " =1+1" and "\\n=1" are
  neutralised. Excel and LibreOffice keep the blank when they open a CSV, but
  an import that trims cells (Google Sheets, "Text to columns", a pandas
  round trip, someone editing the cell) turns the text back into a formula,
  and no real name or note starts with a blank followed by "=".
  Zero-width characters (U+200B, a stray BOM) are skipped over the same way.
* Fullwidth and other compatibility forms of the triggers (＝ ＋ － ＠, as an
  East Asian input method types them) are neutralised too: Excel's Japanese
  and Chinese editions convert them to their ASCII form when a cell is
  entered, and checking the NFKC form of the first character costs nothing.

Every CSV file starts with a UTF-8 byte-order mark (`with_bom`): without it,
Excel on Windows reads a CSV in the PC's ANSI code page and shows Bengali as
mojibake. Other readers (LibreOffice, Python's "utf-8-sig", our own import)
skip the mark.
"""

import codecs
import csv
import io
import unicodedata
from datetime import date
from datetime import datetime
from datetime import time
from decimal import Decimal

from tablib import Dataset

# A cell starting with one of these is run as a formula by Excel/LibreOffice
# ("=cmd|' /C calc'!A0"); prefixing an apostrophe makes it plain text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# The visible ones, looked for after blanks and in their fullwidth forms too.
VISIBLE_TRIGGERS = ("=", "+", "-", "@")
# Values a spreadsheet stores as themselves (bool is an int; datetime a date).
_KEPT_TYPES = (int, float, Decimal, date, time)

MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _first_visible(text):
    """The first character of `text` that is not a blank or an invisible format character."""
    for char in text:
        if not char.isspace() and unicodedata.category(char) != "Cf":
            return char
    return ""


def is_formula(text):
    """True if a spreadsheet might run `text` as a formula (see the module's rule)."""
    if text.startswith(FORMULA_TRIGGERS):
        return True
    if text[:1].isalnum():  # most cells: a letter or digit (of any script) decomposes to no trigger
        return False
    return unicodedata.normalize("NFKC", _first_visible(text)).startswith(VISIBLE_TRIGGERS)


def safe_cell(value):
    """Return `value` as it should be exported, so that no spreadsheet would execute it.

    None becomes "", numbers, dates and times are kept as they are, anything
    else becomes plain text, with an apostrophe in front when it could be read
    as a formula.
    """
    if value is None:
        return ""
    if isinstance(value, _KEPT_TYPES):
        return value
    # str() of Markup/LazyString/records; str.__str__ gives a plain str, so the
    # apostrophe is not HTML-escaped by Markup's "+".
    text = str.__str__(value) if isinstance(value, str) else str(value)
    return "'" + text if is_formula(text) else text


def taka_cell(poisha):
    """Integer poisha as a Decimal number of taka for an export (-20000 → -200.00)."""
    if poisha is None:
        return None
    return (Decimal(int(poisha)) / 100).quantize(Decimal("0.01"))


def with_bom(body):
    """CSV `body` (text or UTF-8 bytes) as UTF-8 bytes starting with the byte-order mark, once."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return data if data.startswith(codecs.BOM_UTF8) else codecs.BOM_UTF8 + data


def spreadsheet(headers, rows, kind):
    """A CSV or XLSX file of `rows` under `headers`, every cell through safe_cell.

    Returns (body, mimetype); a CSV body is UTF-8 bytes with a byte-order mark.
    For screens that build their own export; the admin's list exports go
    through SecuredModelView instead.
    """
    data = Dataset(headers=[safe_cell(h) for h in headers])
    for row in rows:
        data.append([safe_cell(cell) for cell in row])
    body = data.export(kind)
    return (with_bom(body) if kind == "csv" else body), MIMETYPES[kind]


# --- Files of any size ---------------------------------------------------------------
# A list or report is written out row by row, never held whole: the 200,000 rows of a
# chain's client list would take the request's worker to ~700 MB and past gunicorn's
# timeout. A CSV streams to the browser from the request; an XLSX or PDF larger than
# IN_REQUEST_ROWS is written by a worker into "My exports" (app.services.export_files).

KINDS = ("csv", "xlsx", "pdf")
MIMETYPES["pdf"] = "application/pdf"
# Above this many rows the file is written by a worker, not in the request. A CSV
# streams, but gunicorn's sync worker is stopped by its timeout (30 s) mid-answer:
# past 250,000 rows (≈ 12 s here) a CSV is written by a worker too.
IN_REQUEST_ROWS = {"csv": 250_000, "xlsx": 5_000, "pdf": 300}
# A list whose rows must be built as objects (a column formatter needs one) writes about
# a fifth as fast: its CSV is streamed up to this many rows.
IN_REQUEST_OBJECT_ROWS = 50_000
# A PDF is for reading and printing: past this many rows (≈ 200 pages) the desk
# refuses it and offers the CSV or XLSX, which a spreadsheet opens at any size.
PDF_MAX_ROWS = 5_000
# Rows read per query when objects are streamed (see stream_objects).
BATCH = 1_000
# Bytes gathered before a chunk of a streamed CSV is sent.
CSV_CHUNK = 64 * 1024


def in_request(kind, rows, limit=None):
    """True when a `kind` file of `rows` rows is built in the request, not by a worker."""
    return rows <= (IN_REQUEST_ROWS[kind] if limit is None else limit)


def count_up_to(query, id_column, limit):
    """The rows of `query`, counted up to `limit` + 1 (a list's count stops far sooner)."""
    from sqlalchemy import func
    from sqlalchemy import select

    from app.extensions import db

    rows = query.with_entities(id_column).order_by(None).limit(limit + 1).subquery()
    return db.session.execute(select(func.count()).select_from(rows)).scalar_one()


def csv_chunks(headers, rows, *, sanitized=False):
    """A CSV file as a stream of UTF-8 byte chunks: the byte-order mark, the header, the rows.

    Every cell passes through safe_cell, here or, for rows that say they are
    `sanitized` (a list's export_rows), already. Lines are gathered into chunks
    of about CSV_CHUNK bytes so a large file is sent in few writes, and never
    held whole.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in headers])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow(row if sanitized else [safe_cell(cell) for cell in row])
        if buffer.tell() >= CSV_CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(target, headers, rows, *, title="", progress=None, sanitized=False):
    """Write an XLSX of `rows` under `headers` to the binary file `target`; returns the row count.

    openpyxl's write-only workbook sends each row to a temporary file as it is
    added, so memory stays flat whatever the number of rows. `progress(done)`
    is called every BATCH rows.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    bold = Font(bold=True)
    heading = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=safe_cell(text))
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    done = 0
    for row in rows:
        sheet.append([_xlsx_value(cell if sanitized else safe_cell(cell)) for cell in row])
        done += 1
        if progress is not None and done % BATCH == 0:
            progress(done)
    book.save(target)
    return done


def _sheet_title(title):
    # Excel refuses sheet names over 31 characters or with []:*?/\ in them.
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in str(title or "")).strip()
    return cleaned[:31] or "Sheet1"


def _xlsx_value(value):
    # Excel has no timezone-aware times; the desk's times are naive local times already.
    return value.replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value


def write_pdf(target, headers, rows, *, title, subtitle="", progress=None):
    """Write a PDF table of `rows` to the binary file `target`; returns the row count.

    Laid out by WeasyPrint with the bundled fonts, so Bengali is shaped as in
    the invoices. The whole table is laid out at once: PDF_MAX_ROWS bounds it.
    A PDF runs no formulas, so the cells are not sanitized here (a list's rows
    come through safe_cell already, as for its other files).
    """
    from flask import render_template

    from app.services import pdf

    prepared = []
    for row in rows:
        prepared.append([_pdf_text(cell) for cell in row])
        if progress is not None and len(prepared) % BATCH == 0:
            progress(len(prepared))
    html = render_template("documents/table.html", title=title, subtitle=subtitle,
                           headers=[str(h) for h in headers], rows=prepared,
                           font_faces=pdf.font_faces_css(), font_stack=pdf.font_stack())
    pdf.render_html(html).write_pdf(target)
    return len(prepared)


def _pdf_text(value):
    from flask_babel import format_decimal

    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value, format="#,##0.00")
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, int):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stream_objects(query, id_column, batch=BATCH):
    """The rows of the ORM `query`, in its order, read BATCH at a time; memory stays flat.

    The ids are read with a server-side cursor on a connection of their own (a
    MariaDB connection streaming a result can run no other query, and each
    batch needs one); each batch of rows is then loaded by id through `query`
    itself, so its loader options and the list's joins apply. Rows the
    session no longer references are freed as the file is written.

    A streamed response is read after its view returned and its session was
    ended, so each batch is read in the session current when the stream runs
    (`with_session`), which ends with the stream's own context; the session
    `query` was built in would begin a transaction nothing closes.
    """
    from app.extensions import db

    ids_statement = query.with_entities(id_column).statement
    with db.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch).execute(
            ids_statement)
        for ids in result.scalars().partitions(batch):
            batch_query = query.with_session(db.session()).order_by(None)
            found = {getattr(row, id_column.key): row for row in
                     batch_query.filter(id_column.in_(ids)).all()}
            for row_id in ids:
                if row_id in found:
                    yield found[row_id]
