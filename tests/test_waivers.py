"""Is the signed terms PDF right: the signed text, who, when, and properly shaped Bengali (S6)?"""

import shutil
import subprocess
from datetime import datetime

import pytest
from fontTools.ttLib import TTFont

from app.extensions import db
from app.extensions import security
from app.models import TermsSignature
from app.services import clients
from app.services import waivers
from tests.test_registration import png_bytes
from tests.test_registration import publish

RECEIPT = "প্রাপ্তি রসিদ"


def _signed(desk, *, body="Lockers are emptied 3 days after expiry.", name="Rumana Akter",
            signed_at=None, witness="Sohel Rana", nid="1990123456789"):
    """A client who signed the current terms (publishing them first if `body` is new)."""
    current = clients.current_terms()
    if current is None or current.body != body:
        publish(desk, body=body)
    staff = desk.make_user("Front Desk", full_name=witness)
    client = desk.make_client(name=name, nid=nid)
    signature = clients.sign_terms(client.id, png_bytes(), by_user_id=staff.id, ip="10.0.0.9")
    if signed_at is not None:
        signature.signed_at = signed_at
        db.session.commit()
    return signature


def _text_boxes(document):
    """Every laid-out text box of a WeasyPrint document, in page order."""
    from weasyprint.formatting_structure.boxes import TextBox

    for page in document.pages:
        for box in page._page_box.descendants():
            if isinstance(box, TextBox):
                yield box


def _layout_text(document):
    return " ".join(box.text for box in _text_boxes(document))


def _pdf_text(pdf):
    """The text of a PDF as poppler's pdftotext reads it."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True,
                          timeout=60).stdout.decode("utf-8")


def test_the_pdf_names_the_client_the_version_and_the_witness(desk):
    """The PDF says who signed which version, with phone, NID and the staff member.

    Read back with pdftotext when poppler-utils is installed (the real PDF bytes,
    which also catches glyphs embedded with the wrong font); otherwise from
    WeasyPrint's laid-out text boxes of the same document.
    """
    signature = _signed(desk)
    client = signature.client
    if shutil.which("pdftotext"):
        text = _pdf_text(waivers.waiver_pdf(signature.id))
    else:
        text = _layout_text(waivers.waiver_document(signature.id))
    for expected in ("Rumana Akter", "v1", client.phone, "1990123456789", "Sohel Rana",
                     "Witnessed by", "Lockers are emptied 3 days after expiry."):
        assert expected in text, expected


def test_the_pdf_has_bengali_and_english_headings(desk):
    """Headings are shown in both languages, whoever downloads the PDF."""
    signature = _signed(desk)
    text = _layout_text(waivers.waiver_document(signature.id))
    # "Client" and "Phone" are translated in the Bengali catalog already.
    assert "ক্লায়েন্ট" in text and "Client" in text
    assert "ফোন" in text and "Phone" in text


def test_the_signing_time_is_shown_in_dhaka_time(desk):
    """18:30 UTC on 1 January 2026 is 00:30 on 2 January in Dhaka."""
    signature = _signed(desk, signed_at=datetime(2026, 1, 1, 18, 30))
    text = _layout_text(waivers.waiver_document(signature.id))
    assert "2 January 2026, 00:30" in text and "Asia/Dhaka" in text


def test_an_old_signature_keeps_the_text_it_signed(desk):
    """After version 2 is published, the PDF of a version 1 signature shows version 1's text."""
    old = _signed(desk, body="Old rules: lockers open 6am to 10pm.")
    publish(desk, body="New rules: lockers open around the clock.")
    new = _signed(desk, body="New rules: lockers open around the clock.", name="Karim Uddin",
                  nid="1985000000001")
    assert (old.terms_version.version, new.terms_version.version) == (1, 2)
    old_text = _layout_text(waivers.waiver_document(old.id))
    assert "Old rules: lockers open 6am to 10pm." in old_text and "v1" in old_text
    assert "New rules" not in old_text
    assert "New rules: lockers open around the clock." in _layout_text(
        waivers.waiver_document(new.id))


def _glyphs_and_family(box):
    """(glyph count, font families) of the first line of a laid-out text box.

    WeasyPrint frees a box's Pango layout after layout; reactivate() rebuilds it
    from the same text and style, then the glyph runs are read through cffi.
    """
    from weasyprint.text.ffi import ffi
    from weasyprint.text.ffi import pango

    box.pango_layout.reactivate(box.style)
    line, _ = box.pango_layout.get_first_line()
    glyphs, families = 0, set()
    run = line.runs
    while run != ffi.NULL:
        glyphs += run.data.glyphs.num_glyphs
        description = pango.pango_font_describe_with_absolute_size(run.data.item.analysis.font)
        families.add(ffi.string(pango.pango_font_description_get_family(description)).decode())
        pango.pango_font_description_free(description)
        run = run.next
    return glyphs, families


def _receipt_box(document):
    return next(box for box in _text_boxes(document) if box.text == RECEIPT)


def test_bengali_in_the_pdf_is_shaped_with_the_bundled_font(desk):
    """"প্রাপ্তি রসিদ" is laid out with fewer glyphs than code points, in our own font.

    Method: Bengali conjuncts (প্র, প্ত) and vowel signs are merged by the font's
    shaping tables (GSUB), so correctly shaped text has fewer glyphs than code
    points; unshaped text has one glyph per code point (see the next test, which
    proves this check fails for a font without shaping tables). The waiver is
    laid out by WeasyPrint exactly as for the PDF, the text box holding the
    phrase is found, and the glyphs of its Pango layout are counted. The font
    family must be the name the PDF's @font-face gives the bundled Noto Sans
    Bengali, so an installed system font cannot be what makes the test pass.
    """
    signature = _signed(desk, body=RECEIPT)
    glyphs, families = _glyphs_and_family(_receipt_box(waivers.waiver_document(signature.id)))
    assert glyphs < len(RECEIPT), (glyphs, len(RECEIPT))
    assert families == {waivers.FONT_FAMILY}


def test_the_shaping_check_catches_a_font_without_shaping_tables(app, tmp_path):
    """The same check on a copy of the font stripped of GSUB/GPOS sees one glyph per code point."""
    font = TTFont(waivers.STATIC_DIR / "fonts" / "noto-sans-bengali-bengali-400-normal.woff2")
    del font["GSUB"]
    del font["GPOS"]
    font.flavor = None
    broken = tmp_path / "unshaped.ttf"
    font.save(broken)
    html = (f'<html lang="bn"><style>@font-face {{ font-family: "Unshaped"; '
            f'src: url({broken.as_uri()}); }} body {{ font-family: "Unshaped"; }}</style>'
            f"<p>{RECEIPT}</p></html>")
    with app.app_context():
        glyphs, families = _glyphs_and_family(_receipt_box(waivers.render_html(html)))
    assert families == {"Unshaped"}
    assert glyphs >= len(RECEIPT)


def test_the_bundled_fonts_and_their_licence_are_in_the_app(app):
    """The PDF needs no installed font: the woff2 files and the OFL travel with the app."""
    fonts = waivers.STATIC_DIR / "fonts"
    for name in ("noto-sans-bengali-bengali-400-normal.woff2",
                 "noto-sans-bengali-bengali-700-normal.woff2",
                 "noto-sans-bengali-latin-400-normal.woff2",
                 "noto-sans-bengali-latin-700-normal.woff2"):
        assert "GSUB" in TTFont(fonts / name), name
    assert "SIL OPEN FONT LICENSE Version 1.1" in (fonts / "OFL-noto-sans-bengali.txt").read_text()


# --- who may download -------------------------------------------------------------------

def _urls(signature):
    return (f"/admin/client_profile/waiver/{signature.id}",
            f"/uploads/{signature.signature_path}")


def test_the_accountant_can_download_the_pdf_and_see_the_signature(desk):
    """clients-view is enough: the Accountant gets the PDF and the signature image."""
    signature = _signed(desk)
    browser = desk.login_as("Accountant")
    pdf_url, png_url = _urls(signature)
    pdf = browser.get(pdf_url)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    assert 'filename="terms-v1-client-' in pdf.headers["Content-Disposition"]
    png = browser.get(png_url)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    page = browser.get(f"/admin/client_profile/?id={signature.client_id}").get_data(as_text=True)
    assert pdf_url in page and png_url in page


def test_anonymous_visitors_are_sent_to_login_for_the_pdf_and_signature(desk, client):
    """Without logging in, neither the PDF nor the signature image is served."""
    signature = _signed(desk)
    for url in _urls(signature):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_staff_without_clients_view_are_refused(desk):
    """A role without clients-view gets 403 for both."""
    security.datastore.create_role(name="Auditor", permissions=["reports-view"])
    db.session.commit()
    signature = _signed(desk)
    browser = desk.login_as("Auditor")
    for url in _urls(signature):
        assert browser.get(url).status_code == 403, url


def test_another_branchs_pdf_is_not_found(desk):
    """A user limited to branch A cannot download the waiver of a branch B client."""
    signature = _signed(desk)
    browser = desk.login_as("Front Desk", branch=desk.make_branch())
    assert browser.get(f"/admin/client_profile/waiver/{signature.id}").status_code == 404
    assert browser.get("/admin/client_profile/waiver/999999").status_code == 404


def test_signing_again_is_refused_without_published_terms(desk):
    """sign_terms needs a published version."""
    staff = desk.make_user("Front Desk")
    client = desk.make_client()
    with pytest.raises(clients.ClientError):
        clients.sign_terms(client.id, png_bytes(), by_user_id=staff.id, ip=None)
    assert not db.session.execute(db.select(TermsSignature)).first()
