"""The printable client card (SPEC U5): CR80, photo, name, member id, locker, and a QR code
the quick search reads back."""

import io
import subprocess
from datetime import timedelta

import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from app.extensions import db
from app.extensions import security
from app.models import Client
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import client_card
from app.services import settings
from app.services import uploads
from app.services.digits import bengali_digits
from app.services.pdf import FONT_FAMILY
from app.services.pdf import STATIC_DIR
from tests.pdf_helpers import glyph_line
from tests.pdf_helpers import layout_text
from tests.pdf_helpers import pdf_text
from tests.pdf_helpers import text_box

# The card, its PDF and the member id are the code's; one database is enough (PDFs are slow).
pytestmark = pytest.mark.databases("sqlite")

BENGALI_NAME = "প্রিয়া আক্তার"
# The name is printed bold.
BENGALI_BOLD_FONT = STATIC_DIR / "fonts" / "noto-sans-bengali-bengali-700-normal.woff2"
CSS_PX_PER_MM = 96 / 25.4
PT_PER_MM = 72 / 25.4
QUICK_SEARCH = "/admin/quick_search/"


def _rent(client, locker, status=RentalStatus.ACTIVE):
    """`client` holds `locker` on a monthly rental in `status`."""
    now = utcnow()
    db.session.add(Rental(branch=client.branch, locker=locker, client=client,
                          term=RentalTerm.MONTHLY, days=30, starts_at=now,
                          ends_at=now + timedelta(days=30), status=status,
                          holding_locker_id=locker.id, price_poisha=80000))
    db.session.commit()


@pytest.fixture
def rumana(desk):
    """Priya of the Dhanmondi branch, renting W-014 in the women's zone; no photo yet."""
    settings.put("company_name", "Dhanmondi Fitness Ltd.")
    db.session.commit()
    branch = desk.make_branch(name="Dhanmondi", code="DHN")
    client = desk.make_client(branch=branch, name=BENGALI_NAME, phone="+8801711123456")
    zone = desk.make_zone(branch, kind=ZoneKind.WOMEN, name="Women")
    zone.name_bn = "মহিলা"
    _rent(client, desk.make_locker(zone=zone, number="W-014"))
    return client


def _card_url(client):
    return f"/admin/client_card/?id={client.id}"


def _pdf_url(client):
    return f"/admin/client_card/{client.id}.pdf"


def _profile_url(client):
    return f"/admin/client_profile/?id={client.id}"


# --- the member id ----------------------------------------------------------------------

def test_the_member_id_is_the_client_number_written_out(desk):
    """Client 42 is "MEM-000042"; a millionth client gets a seventh digit rather than a clash."""
    client = desk.make_client()
    assert client.member_id == f"MEM-{client.id:06d}"
    assert Client(id=42).member_id == "MEM-000042"
    assert Client(id=1234567).member_id == "MEM-1234567"
    assert Client().member_id is None


@pytest.mark.parametrize("typed", ["MEM-000042", "mem-000042", "MEM000042", "mem000042",
                                   "MEM 000042", " MEM-000042 ", "MEM-০০০০৪২", "mem০০০০৪২"])
def test_a_member_id_is_read_however_the_desk_types_it(typed):
    """Upper or lower case, with or without the dash, in Bengali digits: all name client 42."""
    assert Client.id_from_member_id(typed) == 42


@pytest.mark.parametrize("typed", ["MEM-42", "MEM-0000042", "M-000042", "MEM-", "MEM",
                                   "MEM-00004a", "MEM-000000", "MEM--000042", "MEM-00004²",
                                   "MEM-9999999999", "MEM-" + "9" * 5000, "000042", "", None])
def test_anything_else_is_not_a_member_id(typed):
    """A fragment, another prefix, a zero or a number beyond any id names nobody."""
    assert Client.id_from_member_id(typed) is None


# --- the PDF ----------------------------------------------------------------------------

def test_the_card_is_one_cr80_page(desk, rumana):
    """The PDF is one page of 85.60 × 53.98 mm, the size card printers and PVC blanks are."""
    document = client_card.card_document(rumana.id)
    assert len(document.pages) == 1
    page = document.pages[0]
    assert round(page.width, 1) == round(85.60 * CSS_PX_PER_MM, 1)
    assert round(page.height, 1) == round(53.98 * CSS_PX_PER_MM, 1)
    info = subprocess.run(["pdfinfo", "-"], input=client_card.card_pdf(rumana.id),
                          capture_output=True, check=True, timeout=60).stdout.decode()
    assert "Pages:           1" in info
    assert f"Page size:       {85.60 * PT_PER_MM:.3f} x {53.98 * PT_PER_MM:.3f} pts" in info


def test_the_card_shows_name_member_id_and_locker(desk, rumana):
    """Read back with pdftotext: the gym, the member id and locker W-014 in the women's zone."""
    text = pdf_text(client_card.card_pdf(rumana.id))
    for expected in ("Dhanmondi Fitness Ltd.", rumana.member_id, "W-014", "Women", "Member ID",
                     "Locker"):
        assert expected in text, expected
    assert BENGALI_NAME in layout_text(client_card.card_document(rumana.id))


def test_the_bengali_name_is_shaped_with_the_bundled_font(desk, rumana):
    """"প্রিয়া আক্তার" is shaped: প্র is one conjunct, and ি (typed after it) is drawn first.

    Method as for the receipt (tests/test_documents.py): the name's text box is
    laid out exactly as for the PDF and the glyphs of its Pango layout read.
    Shaped, the conjunct প্র (three code points) leaves fewer glyphs than code
    points, and the vowel sign ি is the leftmost glyph; unshaped, প would be.
    """
    glyphs, families = glyph_line(text_box(client_card.card_document(rumana.id), BENGALI_NAME))
    assert families == {FONT_FAMILY}
    assert len(glyphs) < len(BENGALI_NAME), (len(glyphs), len(BENGALI_NAME))
    names = TTFont(BENGALI_BOLD_FONT).getGlyphOrder()
    leftmost = names[min(glyphs, key=lambda glyph: glyph.x).glyph_id]
    assert leftmost == "uni09BF" or leftmost.startswith("uni09BF."), leftmost


def test_a_client_without_a_locker_gets_a_card_without_one(desk):
    """No rental, or only a reservation: the card has no locker line at all."""
    client = desk.make_client(name="Karim Uddin")
    locker = desk.make_locker(zone=desk.make_zone(client.branch), number="M-001")
    _rent(client, locker, status=RentalStatus.RESERVED)
    text = pdf_text(client_card.card_pdf(client.id))
    assert "Karim Uddin" in text and client.member_id in text
    assert "Locker" not in text and "M-001" not in text


def test_every_locker_held_is_printed(desk, rumana):
    """A second locker, expired but not yet released, is still the client's: both are printed."""
    zone = desk.make_zone(rumana.branch, kind=ZoneKind.FAMILY, name="Family")
    _rent(rumana, desk.make_locker(zone=zone, number="F-003"), status=RentalStatus.EXPIRED)
    assert client_card.lockers_held(rumana.id) == [("W-014", ("মহিলা", "Women")),
                                                   ("F-003", ("Family",))]
    text = pdf_text(client_card.card_pdf(rumana.id))
    assert "W-014" in text and "F-003" in text


def _images_in(pdf, tmp_path):
    """The images embedded in a PDF, as poppler's pdfimages lists them (one line each)."""
    path = tmp_path / "card.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True,
                             timeout=60).stdout.decode()
    return listing.splitlines()[2:]


def _photo():
    image = Image.new("RGB", (600, 800), (180, 120, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def test_the_photo_is_printed_and_a_placeholder_stands_in_without_one(desk, rumana, tmp_path):
    """No photo: a drawn silhouette (no image in the PDF). With one: its thumbnail, once."""
    assert 'class="cc-photo cc-photo-empty"' in client_card.card_html(rumana.id)
    assert _images_in(client_card.card_pdf(rumana.id), tmp_path) == []
    rumana.photo_path = uploads.store_image(_photo(), "clients")
    db.session.commit()
    html = client_card.card_html(rumana.id)
    assert "cc-photo-empty" not in html and 'src="data:image/jpeg;base64,' in html
    images = _images_in(client_card.card_pdf(rumana.id), tmp_path)
    assert len(images) == 1
    # The 320 px thumbnail (240 × 320), not the 600 × 800 original.
    assert images[0].split()[3:5] == ["240", "320"]


# --- the QR code ------------------------------------------------------------------------

def _expected_modules(text):
    """The dark modules {(x, y)} of a QR code holding exactly `text`, 4-module border included."""
    import qrcode

    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    return len(matrix), {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row)
                         if dark}


def _printed_modules(client_id, tmp_path, size, dpi=600):
    """The dark modules of the QR code as the PDF prints it: rasterised by poppler at `dpi`,
    the centre of each of the size × size modules read as dark or light."""
    document = client_card.card_document(client_id)
    box = next(box for box in document.pages[0]._page_box.descendants()
               if (box.element_tag or "").endswith("svg")
               and "cc-qr" in (box.element.get("class") or ""))
    scale = dpi / 96  # CSS px to image pixels
    left, top = box.content_box_x() * scale, box.content_box_y() * scale
    module = box.width * scale / size
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(document.write_pdf())
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "card")], check=True, timeout=60)
    with Image.open(tmp_path / "card.png") as image:
        pixels = image.convert("L").load()
        return {(x, y) for y in range(size) for x in range(size)
                if pixels[left + (x + 0.5) * module, top + (y + 0.5) * module] < 128}


def test_the_qr_code_prints_exactly_the_member_id(desk, rumana, tmp_path):
    """What a scanner reads off the printed card is the member id, and nothing else.

    No QR decoder is installed with the test requirements, so the printed code is
    compared module by module with the QR code of the member id: the PDF is
    rasterised at 600 dpi by poppler and the centre of every module (1 mm, 24 px)
    read as dark or light. A decoder reading these modules reads the member id
    (checked by hand with zxing-cpp on the 300 dpi rendering).
    """
    size, expected = _expected_modules(rumana.member_id)
    printed = _printed_modules(rumana.id, tmp_path, size)
    assert printed == expected
    assert printed != _expected_modules(f"MEM-{rumana.id + 1:06d}")[1]


def test_the_qr_code_is_drawn_from_the_member_id_alone(desk, rumana):
    """The card's QR code is made of the member id: no URL, no name, nothing a scanner would add."""
    card = client_card.card(rumana.id)
    assert card.qr_svg == client_card.qr_svg(rumana.member_id)
    assert f'aria-label="{rumana.member_id}"' in str(card.qr_svg)


# --- the quick search reads it back -----------------------------------------------------

def _search(browser, typed):
    response = browser.get(QUICK_SEARCH, query_string={"q": typed})
    assert response.status_code == 200, response.status_code
    return response.get_json()


def _clients(data):
    return next((group["items"] for group in data["groups"] if group["key"] == "clients"), None)


def test_scanning_the_card_opens_the_clients_profile(desk, rumana):
    """The scanner types "MEM-0000xx" and Enter: the palette jumps to Rumana's profile.

    Typed by hand it works too: lower case, without the dash, or in Bengali digits.
    """
    browser = desk.login_as("Front Desk")
    digits = rumana.member_id.split("-")[1]
    for typed in (rumana.member_id, rumana.member_id.lower(), f"MEM{digits}",
                  f"MEM-{bengali_digits(digits)}"):
        data = _search(browser, typed)
        assert data["jump"] == _profile_url(rumana), typed
        assert [item["url"] for item in _clients(data)] == [_profile_url(rumana)], typed


def test_a_part_of_a_member_id_opens_nobody(desk, rumana):
    """A member id cut short (a scan that missed a digit) opens no profile: it is not a member id."""
    browser = desk.login_as("Front Desk")
    for typed in (rumana.member_id[:-1], rumana.member_id + "0", "MEM-"):
        assert _search(browser, typed)["jump"] is None, typed


def test_another_branchs_card_does_not_open_for_a_branch_user(desk, rumana):
    """A desk limited to Gulshan scanning a Dhanmondi card gets nothing; an all-branch manager
    gets the client."""
    gulshan = desk.login_as("Front Desk", branch=desk.make_branch(name="Gulshan", code="GUL"))
    data = _search(gulshan, rumana.member_id)
    assert data["jump"] is None and _clients(data) == []
    manager = desk.login_as("Manager")
    assert _search(manager, rumana.member_id)["jump"] == _profile_url(rumana)


def test_a_role_that_may_not_see_clients_gets_no_client_from_a_card(desk, rumana):
    """Staff who may see lockers but not clients scan a card: the clients group is not searched."""
    security.datastore.create_role(name="Locker keeper", permissions=["lockers-view"])
    db.session.commit()
    data = _search(desk.login_as("Locker keeper"), rumana.member_id)
    assert data["jump"] is None and _clients(data) is None


# --- the desk's pages -------------------------------------------------------------------

def test_the_profile_shows_the_member_id_and_the_card_buttons(desk, rumana):
    """The Front Desk sees the member id on the profile and opens the card or its PDF from it."""
    page = desk.login_as("Front Desk").get(_profile_url(rumana)).get_data(as_text=True)
    assert f'<td id="member-id">{rumana.member_id}</td>' in page
    assert f'href="{_card_url(rumana)}"' in page and f'href="{_pdf_url(rumana)}"' in page


def test_the_print_view_shows_the_card_and_prints_it(desk, rumana):
    """The print view: the card with its QR code, a Print button and the PDF; no inline style."""
    response = desk.login_as("Accountant").get(_card_url(rumana))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="client-card"' in page and BENGALI_NAME in page and "W-014" in page
    assert f'<div class="cc-member" id="card-member-id">{rumana.member_id}</div>' in page
    assert f'<svg class="cc-qr" role="img" aria-label="{rumana.member_id}"' in page
    assert "data-print" in page and f'href="{_pdf_url(rumana)}"' in page
    assert "css/client_card.css" in page and "style=" not in page


def test_the_pdf_opens_in_the_browser_named_after_the_member_id(desk, rumana):
    """The PDF is served inline (printed from the browser's viewer) as client-card-MEM-….pdf."""
    response = desk.login_as("Front Desk").get(_pdf_url(rumana))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == (
        f'inline; filename="client-card-{rumana.member_id}.pdf"')
    assert response.headers["Cache-Control"] == "private, no-store"


def test_staff_without_clients_view_are_refused(desk, rumana, client):
    """A role without clients-view gets 403 for the print view and the PDF; strangers log in."""
    security.datastore.create_role(name="Auditor", permissions=["reports-view", "lockers-view"])
    db.session.commit()
    auditor = desk.login_as("Auditor")
    for url in (_card_url(rumana), _pdf_url(rumana)):
        assert auditor.get(url).status_code == 403, url
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_a_branch_user_cannot_open_another_branchs_card(desk, rumana):
    """Limited to Gulshan, the desk gets 404 for a Dhanmondi client's card, as for the profile."""
    browser = desk.login_as("Front Desk", branch=desk.make_branch(name="Gulshan", code="GUL"))
    for url in (_profile_url(rumana), _card_url(rumana), _pdf_url(rumana)):
        assert browser.get(url).status_code == 404, url
    own = desk.login_as("Front Desk", branch=rumana.branch)
    for url in (_card_url(rumana), _pdf_url(rumana)):
        assert own.get(url).status_code == 200, url


def test_an_unknown_client_has_no_card(desk):
    """No such client, or no id at all: not found, or back to the clients list."""
    browser = desk.login_as("Front Desk")
    assert browser.get("/admin/client_card/?id=999999").status_code == 404
    assert browser.get("/admin/client_card/?id=abc").status_code == 404
    assert browser.get("/admin/client_card/999999.pdf").status_code == 404
    response = browser.get("/admin/client_card/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/clients/")
