"""Digits as staff type them and as a Bengali reader reads them.

A Bengali keyboard types ০১৭১১-২২২৩৩৩ where an English one types 01711-222333.
Everything the desk types is read through ascii_digits() first (search boxes,
Ctrl+K, amounts), so both find and mean the same. On the way out,
bengali_digits() writes a figure for a Bengali reader.
"""

import unicodedata

_BENGALI = "০১২৩৪৫৬৭৮৯"
_TO_BENGALI = str.maketrans("0123456789", _BENGALI)
_TO_ASCII = str.maketrans(_BENGALI, "0123456789")


def ascii_digits(text):
    """`text` with every decimal digit written 0–9: "০১৭১১" → "01711", "A-১০১" → "A-101".

    Bengali digits are the ones a desk types; any other script's decimal digits
    (Devanagari, Arabic-Indic, fullwidth) are read the same way, as Python's
    int() reads them. Superscripts and other non-decimal "digits" are left alone.
    """
    text = str(text).translate(_TO_ASCII)
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text)


def bengali_digits(text):
    """`text` with every ASCII digit 0–9 written as a Bengali digit ০–৯."""
    return str(text).translate(_TO_BENGALI)
