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
import unicodedata
from datetime import date
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
