"""How staff type dates and times: 31/12/2026 and 31/12/2026 18:30, in either language's digits.

One rule for every form, list filter and report (admin_views.fields, admin_views.filters,
app.services.report_book).
"""

from datetime import datetime

from app.services.digits import ascii_digits

# Dates are typed as they are shown (app.i18n.DATE_FORMAT): 31/12/2026, in either
# language's digits. ISO 2026-12-31 is read too: bookmarks of filtered lists made
# before, and what scripts and tests post.
TYPED_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d")
TYPED_DATETIME_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                          "%Y-%m-%d %H:%M")


def _typed(text, formats):
    text = ascii_digits(text).strip()
    for pattern in formats:
        try:
            value = datetime.strptime(text, pattern)
        except ValueError:
            continue
        # MariaDB's DATE and DATETIME start at the year 1000: 0202 is a typing slip.
        if value.year < 1000:
            break
        return value
    raise ValueError(text)


def parse_typed_date(text):
    """The day in `text` typed as 31/12/2026 (or 2026-12-31, any digits); ValueError otherwise."""
    return _typed(text, TYPED_DATE_FORMATS).date()


def parse_typed_datetime(text):
    """The time in `text` typed as 31/12/2026 18:30 (or ISO, any digits); ValueError otherwise."""
    return _typed(text, TYPED_DATETIME_FORMATS)
