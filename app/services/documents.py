"""Bilingual invoice (A4) and payment receipt (80 mm roll) PDFs (SPEC P3).

Headings are fixed Bengali + English pairs written in the templates
(templates/documents/); line descriptions and client data are shown as stored.
Amounts are written in figures and in words in both languages: English with
thousand/million, Bengali with the South Asian hazar/lakh/crore system. With
the setting receipt_bengali_digits = 1 every figure is printed in Bengali digits.

Fonts and layout come from app/services/pdf.py, shared with the terms PDF.
"""

from datetime import UTC

from babel.dates import format_date
from babel.dates import format_datetime
from babel.dates import get_timezone
from flask import render_template

from app.extensions import db
from app.models import Invoice
from app.models import Payment
from app.services import billing
from app.services import money
from app.services import settings
from app.services import uploads
from app.services.pdf import LANGUAGES
from app.services.pdf import bilingual
from app.services.pdf import font_faces_css
from app.services.pdf import font_stack
from app.services.pdf import render_html

DEFAULT_TIMEZONE = "Asia/Dhaka"


class DocumentError(LookupError):
    """There is no such invoice or payment."""


# --- numbers -------------------------------------------------------------------------

_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def _en_below_thousand(n):
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_EN_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_EN_ONES[rest])
    return " ".join(words)


def _en_number(n):
    """A whole number ≥ 0 in English words, international system (one hundred thousand)."""
    if n == 0:
        return "zero"
    words = []
    for size, name in _EN_SCALES:
        if n >= size:
            count, n = divmod(n, size)
            words.append(f"{_en_number(count)} {name}")
    if n:
        words.append(_en_below_thousand(n))
    return " ".join(words)


def amount_in_words_en(poisha):
    """1,250.50 taka → "One thousand two hundred fifty taka and fifty poisha only"."""
    taka, rest = _split(poisha)
    if taka == 0 and rest:
        words = f"{_en_number(rest)} poisha only"
    else:
        words = f"{_en_number(taka)} taka"
        words += f" and {_en_number(rest)} poisha only" if rest else " only"
    return words[0].upper() + words[1:]


# 0–99 each have their own word in Bengali.
_BN_0_99 = (
    "শূন্য এক দুই তিন চার পাঁচ ছয় সাত আট নয় "
    "দশ এগারো বারো তেরো চৌদ্দ পনেরো ষোলো সতেরো আঠারো উনিশ "
    "বিশ একুশ বাইশ তেইশ চব্বিশ পঁচিশ ছাব্বিশ সাতাশ আটাশ ঊনত্রিশ "
    "ত্রিশ একত্রিশ বত্রিশ তেত্রিশ চৌত্রিশ পঁয়ত্রিশ ছত্রিশ সাঁইত্রিশ আটত্রিশ ঊনচল্লিশ "
    "চল্লিশ একচল্লিশ বিয়াল্লিশ তেতাল্লিশ চুয়াল্লিশ পঁয়তাল্লিশ ছেচল্লিশ সাতচল্লিশ আটচল্লিশ ঊনপঞ্চাশ "
    "পঞ্চাশ একান্ন বাহান্ন তিপ্পান্ন চুয়ান্ন পঞ্চান্ন ছাপ্পান্ন সাতান্ন আটান্ন ঊনষাট "
    "ষাট একষট্টি বাষট্টি তেষট্টি চৌষট্টি পঁয়ষট্টি ছেষট্টি সাতষট্টি আটষট্টি ঊনসত্তর "
    "সত্তর একাত্তর বাহাত্তর তিয়াত্তর চুয়াত্তর পঁচাত্তর ছিয়াত্তর সাতাত্তর আটাত্তর ঊনআশি "
    "আশি একাশি বিরাশি তিরাশি চুরাশি পঁচাশি ছিয়াশি সাতাশি আটাশি ঊননব্বই "
    "নব্বই একানব্বই বিরানব্বই তিরানব্বই চুরানব্বই পঁচানব্বই ছিয়ানব্বই সাতানব্বই আটানব্বই নিরানব্বই"
).split()
assert len(_BN_0_99) == 100
# South Asian grouping: crore (10^7), lakh (10^5), thousand, hundred.
_BN_SCALES = ((10**7, "কোটি"), (10**5, "লক্ষ"), (1000, "হাজার"), (100, "শত"))


def _bn_number(n):
    """A whole number ≥ 0 in Bengali words (১,২৩,৪৫৬ → এক লক্ষ তেইশ হাজার চার শত ছাপ্পান্ন)."""
    if n < 100:
        return _BN_0_99[n]
    words = []
    for size, name in _BN_SCALES:
        if n >= size:
            count, n = divmod(n, size)
            # Above 99 crore the count of crores is itself a number in words.
            words.append(f"{_bn_number(count)} {name}")
    if n:
        words.append(_BN_0_99[n])
    return " ".join(words)


def amount_in_words_bn(poisha):
    """1,250.50 taka → "এক হাজার দুই শত পঞ্চাশ টাকা ও পঞ্চাশ পয়সা মাত্র".

    A whole amount ends with "টাকা মাত্র"; poisha follow the taka as "ও … পয়সা মাত্র",
    and an amount under one taka is "… পয়সা মাত্র".
    """
    taka, rest = _split(poisha)
    if taka == 0 and rest:
        return f"{_bn_number(rest)} পয়সা মাত্র"
    if rest:
        return f"{_bn_number(taka)} টাকা ও {_bn_number(rest)} পয়সা মাত্র"
    return f"{_bn_number(taka)} টাকা মাত্র"


def _split(poisha):
    poisha = int(poisha)
    if poisha < 0:
        raise ValueError("An amount in words cannot be negative.")
    return divmod(poisha, 100)


# --- the documents ---------------------------------------------------------------------

def _invoice(invoice_id):
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise DocumentError(invoice_id)
    return invoice


def _payment(payment_id):
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise DocumentError(payment_id)
    return payment


class _Printer:
    """Figures, amounts and dates as this company prints them (Bengali digits or not)."""

    def __init__(self, zone):
        self.bengali = settings.get("receipt_bengali_digits") == 1
        self.zone = get_timezone(zone or DEFAULT_TIMEZONE)

    def digits(self, text):
        return money.bengali_digits(text) if self.bengali else str(text)

    def taka(self, poisha):
        return money.format_taka(poisha, bengali=self.bengali)

    def moment(self, value):
        """A naive UTC datetime as "17/03/2026 14:05" in the branch's clock."""
        shown = format_datetime(value.replace(tzinfo=UTC), "dd/MM/y HH:mm", tzinfo=self.zone,
                                locale="en")
        return self.digits(shown)

    def day(self, value):
        return self.digits(format_date(value, "dd/MM/y", locale="en"))

    def words(self, poisha):
        return {"bn": amount_in_words_bn(poisha), "en": amount_in_words_en(poisha)}


def _company(branch):
    """The issuer from the settings (app.services.settings.company), the logo as a file URI."""
    company = settings.company(branch)
    logo = uploads.resolve(company["logo_path"]) if company["logo_path"] else None
    # WeasyPrint reads the stored file itself; it is not served over the web.
    return {**company, "logo_uri": logo.as_uri() if logo is not None else None}


def _render(template, *, branch, **context):
    return render_template(template, font_faces=font_faces_css(), font_stack=font_stack(),
                           company=_company(branch), languages=LANGUAGES, **context)


def invoice_html(invoice_id):
    """The HTML the A4 invoice is made from."""
    invoice = _invoice(invoice_id)
    printer = _Printer(invoice.branch.timezone if invoice.branch else None)
    paid = billing.received_up_to(invoice)
    return _render("documents/invoice.html", branch=invoice.branch, invoice=invoice,
                   client=invoice.client, lines=invoice.lines,
                   instalments=invoice.instalments, paid_poisha=paid,
                   balance_poisha=invoice.total_poisha - paid, p=printer,
                   words=printer.words(invoice.total_poisha))


# The receipt is first laid out on a page longer than any receipt, then again on a
# page as long as its content: WeasyPrint does not take `size: 80mm auto`.
RECEIPT_WIDTH_MM = 80
RECEIPT_MARGIN_MM = 3
_FIRST_PASS_HEIGHT_MM = 1000


def receipt_html(payment_id, *, height_mm=_FIRST_PASS_HEIGHT_MM):
    """The HTML the 80 mm receipt is made from, on a page `height_mm` long."""
    payment = _payment(payment_id)
    printer = _Printer(payment.branch.timezone if payment.branch else None)
    invoice = payment.invoice
    balance = None
    if invoice is not None:
        balance = invoice.total_poisha - billing.received_up_to(invoice, payment)
    return _render("documents/receipt.html", branch=payment.branch, width_mm=RECEIPT_WIDTH_MM,
                   height_mm=height_mm, margin_mm=RECEIPT_MARGIN_MM, payment=payment,
                   invoice=invoice,
                   client=payment.client, method=bilingual(payment.method.label),
                   status=bilingual(payment.status.label), balance_poisha=balance, p=printer,
                   received=payment.status in billing.RECEIVED,
                   words=printer.words(payment.amount_poisha))


def invoice_document(invoice_id):
    """The laid-out invoice, before it is written as PDF (tests look inside it)."""
    return render_html(invoice_html(invoice_id))


def receipt_document(payment_id):
    """The laid-out receipt on one 80 mm page cut to its length (tests look inside it)."""
    draft = render_html(receipt_html(payment_id))
    root = draft.pages[0]._page_box.children[0]
    content_mm = (root.position_y + root.margin_height()) * 25.4 / 96
    # Rounded up to the next millimetre, plus the bottom margin.
    height_mm = int(content_mm) + 1 + RECEIPT_MARGIN_MM
    return render_html(receipt_html(payment_id, height_mm=height_mm))


def invoice_pdf(invoice_id):
    """The A4 invoice as PDF bytes."""
    return invoice_document(invoice_id).write_pdf()


def receipt_pdf(payment_id):
    """The 80 mm payment receipt as PDF bytes."""
    return receipt_document(payment_id).write_pdf()


def invoice_filename(invoice_id):
    """A download name such as invoice-INV-2026-000001.pdf."""
    return f"invoice-{_safe(_invoice(invoice_id).number)}.pdf"


def receipt_filename(payment_id):
    """A download name such as receipt-INV-2026-000001-42.pdf (42: the payment)."""
    payment = _payment(payment_id)
    if payment.invoice is None:
        return f"receipt-{payment.id}.pdf"
    return f"receipt-{_safe(payment.invoice.number)}-{payment.id}.pdf"


def _safe(number):
    """An invoice number fit for a Content-Disposition filename (the format is a setting)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in number)
