"""Bilingual invoice and receipt PDFs: the right figures, words, digits and shaped Bengali (P3)."""

import itertools
from datetime import date
from datetime import datetime

import pytest
from fontTools.ttLib import TTFont

from admin_views import documents as document_views
from app.extensions import db
from app.extensions import security
from app.models import Invoice
from app.models import InvoiceLine
from app.models import Payment
from app.models import PaymentMethod
from app.services import documents
from app.services import money
from app.services import settings
from app.services.pdf import FONT_FAMILY
from app.services.pdf import STATIC_DIR
from app.services.pdf import render_html
from tests.pdf_helpers import Glyph
from tests.pdf_helpers import glyph_line
from tests.pdf_helpers import layout_text
from tests.pdf_helpers import pdf_text
from tests.pdf_helpers import text_box

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

HEADING = "প্রাপ্তি রসিদ"
BENGALI_FONT = STATIC_DIR / "fonts" / "noto-sans-bengali-bengali-400-normal.woff2"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _document_views(app):
    """The PDF routes, until admin_views/__init__.py registers them itself (then a no-op)."""
    if "documents.invoice" not in app.view_functions:
        document_views.register(app.extensions["admin"][0])


def _invoice(desk, *, name="Rumana Akter", branch=None):
    """A ৳1,250.50 invoice: rent 1,200 − discount 112.61 + VAT 163.11, due 1 April 2026."""
    client = desk.make_client(branch=branch, name=name)
    invoice = Invoice(
        number=f"INV-2026-{next(_numbers):06d}", branch_id=client.branch_id, client_id=client.id,
        issued_at=datetime(2026, 3, 17, 8, 5), due_on=date(2026, 4, 1), subtotal_poisha=120000,
        discount_poisha=11261, vat_poisha=16311, total_poisha=125050,
        lines=[InvoiceLine(position=1, kind="rent", description="Locker M-014, monthly",
                           amount_poisha=120000),
               InvoiceLine(position=2, kind="discount", description="Corporate −9.38 %",
                           amount_poisha=-11261),
               InvoiceLine(position=3, kind="vat", description="VAT 15 %", amount_poisha=16311)],
    )
    db.session.add(invoice)
    db.session.commit()
    return invoice


def _payment(desk, invoice, amount_poisha=50000, **fields):
    """A cash payment against `invoice`, taken by a Front Desk member."""
    staff = desk.make_user("Front Desk", full_name="Sohel Rana")
    payment = Payment(branch_id=invoice.branch_id, client_id=invoice.client_id, invoice_id=invoice.id,
                      amount_poisha=amount_poisha, method=fields.pop("method", PaymentMethod.CASH),
                      paid_at=fields.pop("paid_at", datetime(2026, 3, 17, 9, 30)),
                      received_by_id=staff.id, **fields)
    db.session.add(payment)
    db.session.commit()
    return payment


# --- amounts in words ---------------------------------------------------------------------

@pytest.mark.parametrize(("poisha", "english", "bengali"), [
    (0, "Zero taka only", "শূন্য টাকা মাত্র"),
    (5, "Five poisha only", "পাঁচ পয়সা মাত্র"),
    (100, "One taka only", "এক টাকা মাত্র"),
    (2100, "Twenty-one taka only", "একুশ টাকা মাত্র"),
    (10000, "One hundred taka only", "এক শত টাকা মাত্র"),
    (125050, "One thousand two hundred fifty taka and fifty poisha only",
     "এক হাজার দুই শত পঞ্চাশ টাকা ও পঞ্চাশ পয়সা মাত্র"),
    (10000000, "One hundred thousand taka only", "এক লক্ষ টাকা মাত্র"),
    (123456789, "One million two hundred thirty-four thousand five hundred sixty-seven taka "
                "and eighty-nine poisha only",
     "বারো লক্ষ চৌত্রিশ হাজার পাঁচ শত সাতষট্টি টাকা ও ঊননব্বই পয়সা মাত্র"),
    (1000000000, "Ten million taka only", "এক কোটি টাকা মাত্র"),
    (1234500000000, "Twelve billion three hundred forty-five million taka only",
     "এক হাজার দুই শত চৌত্রিশ কোটি পঞ্চাশ লক্ষ টাকা মাত্র"),
])
def test_amounts_are_written_in_words_in_both_languages(poisha, english, bengali):
    """The desk reads the same amount in English (thousand, million) and Bengali (lakh, crore)."""
    assert documents.amount_in_words_en(poisha) == english
    assert documents.amount_in_words_bn(poisha) == bengali


def test_a_whole_bengali_amount_ends_with_taka_matro():
    """Every whole-taka amount in Bengali words ends with "টাকা মাত্র", as on a cheque."""
    for taka in (1, 19, 99, 101, 999, 1000, 99999, 100000, 9999999, 10000000, 123456789):
        assert documents.amount_in_words_bn(taka * 100).endswith(" টাকা মাত্র"), taka


def test_a_negative_amount_has_no_words():
    """A negative amount is refused rather than written as a positive one."""
    with pytest.raises(ValueError):
        documents.amount_in_words_en(-100)
    with pytest.raises(ValueError):
        documents.amount_in_words_bn(-100)


def test_bengali_digits_replace_only_digits():
    """"INV-2026 ৳1,250.50" keeps its letters and punctuation."""
    assert money.bengali_digits("INV-2026 ৳1,250.50") == "INV-২০২৬ ৳১,২৫০.৫০"


# --- what the documents say -----------------------------------------------------------------

def test_the_invoice_pdf_shows_number_client_total_and_words(desk):
    """The A4 invoice read back with pdftotext: number, client, lines, total, words, company."""
    settings.put("company_name", "Dhanmondi Fitness Ltd")
    settings.put("company_address", "House 12, Road 5, Dhanmondi, Dhaka")
    settings.put("company_bin", "000123456-0101")
    db.session.commit()
    invoice = _invoice(desk)
    text = pdf_text(documents.invoice_pdf(invoice.id))
    for expected in (invoice.number, "Rumana Akter", "Locker M-014, monthly", "৳1,250.50",
                     "৳-112.61", "৳163.11", "17/03/2026 14:05", "01/04/2026",
                     "One thousand two hundred fifty taka and fifty poisha only",
                     "Dhanmondi Fitness Ltd", "House 12, Road 5", "000123456-0101",
                     "Invoice", "Total", "Balance due"):
        assert expected in text, expected


def test_the_invoice_is_an_a4_page_with_bengali_words(desk):
    """One A4 page (595 × 842 pt), with the Bengali heading and amount in words."""
    invoice = _invoice(desk)
    document = documents.invoice_document(invoice.id)
    assert len(document.pages) == 1
    assert (round(document.pages[0].width), round(document.pages[0].height)) == (794, 1123)
    text = layout_text(document)
    assert "ইনভয়েস" in text
    assert "এক হাজার দুই শত পঞ্চাশ টাকা ও পঞ্চাশ পয়সা মাত্র" in text


def test_the_receipt_shows_the_payment_and_the_balance(desk):
    """The receipt: invoice number, client, amount ৳500 in words, and ৳750.50 still due."""
    invoice = _invoice(desk)
    payment = _payment(desk, invoice, reference="CASH-77")
    text = pdf_text(documents.receipt_pdf(payment.id))
    for expected in (invoice.number, "Rumana Akter", "৳500.00", "Five hundred taka only",
                     "৳750.50", "CASH-77", "Cash", "Sohel Rana", "Payment receipt"):
        assert expected in text, expected
    assert "পাঁচ শত টাকা মাত্র" in layout_text(documents.receipt_document(payment.id))


def test_the_receipt_is_80_mm_wide(desk):
    """The receipt is one page 80 mm wide (302 CSS px) for the thermal roll, cut to its length."""
    payment = _payment(desk, _invoice(desk))
    document = documents.receipt_document(payment.id)
    assert len(document.pages) == 1
    page = document.pages[0]
    assert round(page.width) == round(80 / 25.4 * 96)
    assert 60 / 25.4 * 96 < page.height < 250 / 25.4 * 96, page.height


def test_a_later_receipt_counts_only_payments_up_to_it(desk):
    """Two payments: the first receipt shows ৳750.50 due, the second ৳0.00."""
    invoice = _invoice(desk)
    first = _payment(desk, invoice, 50000)
    second = _payment(desk, invoice, 75050, paid_at=datetime(2026, 3, 20, 10, 0))
    assert "৳750.50" in pdf_text(documents.receipt_pdf(first.id))
    assert "৳0.00" in pdf_text(documents.receipt_pdf(second.id))
    assert "৳1,250.50" in pdf_text(documents.invoice_pdf(invoice.id))


def test_bengali_digits_when_the_setting_is_on(desk):
    """With receipt_bengali_digits = 1 the total is printed ৳১,২৫০.৫০ on the invoice and receipt."""
    settings.put("receipt_bengali_digits", "1")
    db.session.commit()
    invoice = _invoice(desk)
    payment = _payment(desk, invoice)
    invoice_text = pdf_text(documents.invoice_pdf(invoice.id))
    assert "৳১,২৫০.৫০" in invoice_text and "৳1,250.50" not in invoice_text
    assert "৳৫০০.০০" in pdf_text(documents.receipt_pdf(payment.id))


def test_latin_digits_by_default(desk):
    """Without the setting the total keeps the digits 0–9."""
    invoice = _invoice(desk)
    text = pdf_text(documents.invoice_pdf(invoice.id))
    assert "৳1,250.50" in text and "১,২৫০" not in text


# --- shaped Bengali -----------------------------------------------------------------------

def _vowel_sign_i_is_drawn_before_its_consonant(glyphs, font_path):
    """In "রসিদ" (র স ি দ), is a glyph of ি drawn left of both স and দ?

    The font draws ি with one of several glyphs (uni09BF, or uni09BF.long01… whose
    hook reaches over the consonant), so a glyph is taken for ি by its name.
    """
    names = TTFont(font_path).getGlyphOrder()
    x = {}
    for glyph in glyphs:
        name = names[glyph.glyph_id]
        key = "ি" if name == "uni09BF" or name.startswith("uni09BF.") else name
        x.setdefault(key, glyph.x)
    return "ি" in x and x["ি"] < x["uni09B8"] and x["ি"] < x["uni09A6"]


def _unshaped(text, font_path):
    """The glyphs a renderer without shaping draws: one per code point, in typed order."""
    font = TTFont(font_path)
    cmap, metrics = font.getBestCmap(), font["hmtx"]
    glyphs, x = [], 0
    for character in text:
        name = cmap[ord(character)]
        glyphs.append(Glyph(font.getGlyphID(name), x))
        x += metrics[name][0]
    return glyphs


def test_the_receipt_heading_is_shaped_with_the_bundled_font(desk):
    """"প্রাপ্তি রসিদ" on the receipt is drawn with fewer glyphs than code points, in our font.

    Method (as for the terms PDF): the receipt is laid out by WeasyPrint exactly
    as for the PDF, the text box holding the heading is found and the glyphs of
    its Pango layout are counted. Conjuncts (প্র, প্ত) are merged by the font's
    shaping tables, so shaped text has fewer glyphs than code points; unshaped
    text has one per code point (the control test below shows this check fails
    for a font without shaping tables).
    """
    payment = _payment(desk, _invoice(desk))
    glyphs, families = glyph_line(text_box(documents.receipt_document(payment.id), HEADING))
    assert len(glyphs) < len(HEADING), (len(glyphs), len(HEADING))
    assert families == {FONT_FAMILY}


def test_the_vowel_sign_i_is_drawn_left_of_its_consonant(desk):
    """In "রসিদ" the sign ি (typed after স) is drawn left of স and of দ, not "রসদি" or "রসি দ".

    Method: the receipt's "রসিদ / Receipt" label is laid out by WeasyPrint, and
    the x position of each glyph is read from its Pango glyph string (advances
    plus offsets, in drawing order). The glyphs of ি, স and দ are identified by
    their ids in the bundled font's character map.
    """
    payment = _payment(desk, _invoice(desk))
    glyphs, families = glyph_line(text_box(documents.receipt_document(payment.id), "রসিদ"))
    assert families == {FONT_FAMILY}
    assert _vowel_sign_i_is_drawn_before_its_consonant(glyphs, BENGALI_FONT)


def test_the_glyph_count_check_fails_for_a_font_without_shaping_tables(app, tmp_path):
    """A copy of the font stripped of GSUB/GPOS draws one glyph per code point of the heading."""
    font = TTFont(BENGALI_FONT)
    del font["GSUB"]
    del font["GPOS"]
    font.flavor = None
    broken = tmp_path / "unshaped.ttf"
    font.save(broken)
    html = (f'<html lang="bn"><style>@font-face {{ font-family: "Unshaped"; '
            f'src: url({broken.as_uri()}); }} body {{ font-family: "Unshaped"; }}</style>'
            f"<p>{HEADING}</p></html>")
    with app.app_context():
        glyphs, families = glyph_line(text_box(render_html(html), HEADING))
    assert families == {"Unshaped"}
    assert len(glyphs) >= len(HEADING)


def test_the_vowel_sign_check_fails_for_glyphs_in_typed_order():
    """Drawn in typed order (র স ি দ, as xhtml2pdf does), ি is right of স: the check says no.

    HarfBuzz moves ি before its consonant even for a font without shaping tables,
    so the unshaped control is built from the font's own glyphs and advances.
    """
    assert not _vowel_sign_i_is_drawn_before_its_consonant(_unshaped("রসিদ", BENGALI_FONT),
                                                           BENGALI_FONT)
    assert not _vowel_sign_i_is_drawn_before_its_consonant(_unshaped("রসদি", BENGALI_FONT),
                                                           BENGALI_FONT)


# --- who may download -----------------------------------------------------------------------

def _urls(payment):
    return (f"/admin/documents/invoice/{payment.invoice_id}.pdf",
            f"/admin/documents/receipt/{payment.id}.pdf")


@pytest.mark.parametrize("role", ["Accountant", "Front Desk"])
def test_payments_view_is_enough_to_download_both(desk, role):
    """Accountant and Front Desk get both PDFs inline, named after the invoice number."""
    payment = _payment(desk, _invoice(desk))
    number = payment.invoice.number
    browser = desk.login_as(role)
    invoice_url, receipt_url = _urls(payment)
    response = browser.get(invoice_url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == f'inline; filename="invoice-{number}.pdf"'
    response = browser.get(receipt_url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="receipt-{number}-{payment.id}.pdf"')


def test_anonymous_visitors_are_sent_to_login(desk, client):
    """Without logging in, neither PDF is served."""
    payment = _payment(desk, _invoice(desk))
    for url in _urls(payment):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_staff_without_payments_view_are_refused(desk):
    """A role without payments-view gets 403 for both."""
    security.datastore.create_role(name="Auditor", permissions=["reports-view"])
    db.session.commit()
    payment = _payment(desk, _invoice(desk))
    browser = desk.login_as("Auditor")
    for url in _urls(payment):
        assert browser.get(url).status_code == 403, url


def test_another_branchs_documents_are_not_found(desk):
    """A user limited to branch A gets 404 for branch B's invoice and receipt, and for no such id."""
    payment = _payment(desk, _invoice(desk))
    browser = desk.login_as("Front Desk", branch=desk.make_branch())
    for url in _urls(payment):
        assert browser.get(url).status_code == 404, url
    assert browser.get("/admin/documents/invoice/999999.pdf").status_code == 404
    assert browser.get("/admin/documents/receipt/999999.pdf").status_code == 404


def test_a_branch_user_can_download_their_own_branchs_invoice(desk):
    """The same user gets the invoice of a client of their own branch."""
    branch = desk.make_branch()
    payment = _payment(desk, _invoice(desk, branch=branch))
    browser = desk.login_as("Front Desk", branch=branch)
    for url in _urls(payment):
        assert browser.get(url).status_code == 200, url
