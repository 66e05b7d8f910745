"""Bangladesh mobile numbers: one canonical form, +8801XXXXXXXXX."""

import phonenumbers
from flask_babel import lazy_gettext as _l

from app.services.errors import Refusal


class InvalidPhone(Refusal):
    """The text is not a Bangladesh mobile number."""

    def __init__(self, message=None, field=None):
        super().__init__(message or _l("Enter a Bangladesh mobile number, for example 01711-123456."),
                         field)


def normalise_bd_mobile(raw):
    """Return `raw` as +8801XXXXXXXXX, whatever way the desk typed it.

    Accepts "01711-123456", "+880 1711 123456", "8801711123456", "1711123456".
    Raises InvalidPhone for anything that is not a Bangladesh mobile.
    """
    text = "".join(ch for ch in str(raw or "") if ch.isdigit() or ch == "+")
    if not text:
        raise InvalidPhone()
    if text.startswith("880") or (text.startswith("1") and len(text) == 10):
        text = ("+" if text.startswith("880") else "+880") + text
    try:
        number = phonenumbers.parse(text, "BD")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone() from exc
    if (
        number.country_code != 880
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise InvalidPhone()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
