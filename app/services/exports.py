"""Making exported cells safe to open in a spreadsheet."""

# A cell starting with one of these is run as a formula by Excel/LibreOffice
# ("=cmd|' /C calc'!A0"); prefixing an apostrophe makes it plain text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Return `value` so that no spreadsheet would execute it."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
