"""Taka as staff type it, turned into exact integer poisha (one rule for every form)."""

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l

_BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_TAKA = re.compile(r"^(\d+)(?:\.(\d+))?$")
MAX_POISHA = 99_999_999_99  # ৳99,999,999.99: more is a typing mistake at a gym desk


class InvalidAmount(ValueError):
    """The text is not an amount of taka the desk accepts; `message` says why."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def parse_taka(text, *, required=False, maximum=MAX_POISHA):
    """Taka as typed ("1,250.50", "৳ ১২৫০") to integer poisha, exactly (no float).

    Empty is 0, or refused when `required`. Negative amounts, more than two
    decimals and anything that is not a plain number ("1e3", "NaN") are refused.
    """
    raw = str(text if text is not None else "").strip().translate(_BENGALI_DIGITS)
    raw = raw.replace("৳", "").replace(",", "").replace(" ", "")
    if not raw:
        if required:
            raise InvalidAmount(_l("Enter an amount in taka (0 for none)."))
        return 0
    if raw.startswith("-"):
        raise InvalidAmount(_l("The amount cannot be negative."))
    match = _TAKA.match(raw)
    if match is None:
        raise InvalidAmount(_l("Enter the amount in taka, for example 500 or 500.50."))
    if match.group(2) is not None and len(match.group(2)) > 2:
        raise InvalidAmount(_l("An amount has at most two decimals (poisha)."))
    poisha = int(Decimal(raw) * 100)
    if poisha > maximum:
        raise InvalidAmount(_l("This amount is too large; check it."))
    return poisha
