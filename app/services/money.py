"""Money, one way everywhere: exact integer poisha in, taka as Bangladesh writes it out.

Amounts are integer poisha (1 taka = 100 poisha) from the form to the
database and back; nothing here touches a float. Taka typed in any digits
("1,250.50", "৳ ১২৫০") becomes poisha through parse_taka(). On the way out,
figures are grouped the South Asian way, in lakhs and crores (4,10,338.00 —
not 410,338.00), in Bengali digits where the reader reads Bengali.
"""

import re
from decimal import Decimal

from flask import has_app_context
from flask_babel import lazy_gettext as _l

from app.services.digits import ascii_digits
from app.services.digits import bengali_digits
from app.services.errors import Refusal

_TAKA = re.compile(r"^(\d+)(?:\.(\d+))?$")
MAX_POISHA = 99_999_999_99  # ৳99,999,999.99: more is a typing mistake at a gym desk


class InvalidAmount(Refusal):
    """The text is not an amount of taka the desk accepts; `message` says why."""


def group_lakh(whole):
    """A non-negative whole number grouped in thousands, lakhs and crores: 41033800 → 4,10,33,800."""
    digits = str(int(whole))
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


def taka_figure(poisha, *, bengali=False):
    """Integer poisha as "4,10,338.50" (or "-50.00"), no currency sign; Bengali digits if asked."""
    sign = "-" if poisha < 0 else ""
    taka, rest = divmod(abs(int(poisha)), 100)
    figure = f"{sign}{group_lakh(taka)}.{rest:02d}"
    return bengali_digits(figure) if bengali else figure


def currency_sign():
    """The sign amounts are shown with: ৳ for the settings' currency BDT, else its code."""
    if not has_app_context():
        return "৳"
    from app.services import settings

    code = (settings.get("currency") or "BDT").strip().upper()
    return "৳" if code == "BDT" else f"{code} "


def format_taka(poisha, *, bengali=False):
    """Integer poisha as "৳4,10,338.00" (Bengali digits: "৳৪,১০,৩৩৮.০০"); "" for None."""
    if poisha is None:
        return ""
    return currency_sign() + taka_figure(poisha, bengali=bengali)


def plain_taka(poisha):
    """Integer poisha as plain "1234.50" for exports and form fields (no sign, no grouping)."""
    if poisha is None:
        return ""
    sign = "-" if poisha < 0 else ""
    taka, rest = divmod(abs(int(poisha)), 100)
    return f"{sign}{taka}.{rest:02d}"


def parse_taka(text, *, required=False, maximum=MAX_POISHA):
    """Taka as typed ("1,250.50", "৳ ১২৫০") to integer poisha, exactly (no float).

    Empty is 0, or refused when `required`. Negative amounts, more than two
    decimals and anything that is not a plain number ("1e3", "NaN") are refused.
    """
    raw = ascii_digits(text if text is not None else "").strip()
    raw = "".join(raw.replace("৳", "").replace(",", "").split())
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
