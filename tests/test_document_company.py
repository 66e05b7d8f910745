"""Do invoices and receipts print the company from the settings, with its logo (issue 10)?"""

import io
import subprocess
from datetime import date
from datetime import datetime

import pytest
import sqlalchemy as sa
from PIL import Image

from admin_views import documents as document_views
from app.extensions import db
from app.models import Invoice
from app.models import InvoiceLine
from app.models import Payment
from app.models import PaymentMethod
from app.models import Setting
from app.services import documents
from app.services import settings
from app.services import uploads
from tests.pdf_helpers import pdf_text

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = [pytest.mark.slow, pytest.mark.databases("sqlite", "postgresql")]
PLACEHOLDER = "Locker desk gym"


@pytest.fixture(autouse=True)
def _document_views(app):
    """The PDF routes, until admin_views/__init__.py registers them itself (then a no-op)."""
    if "documents.invoice" not in app.view_functions:
        document_views.register(app.extensions["admin"][0])


def _png(colour="teal", size=(240, 80)):
    """A small PNG logo."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _invoice_and_payment(desk, branch=None):
    """A ৳800 invoice of a client of `branch`, and a ৳500 cash payment against it."""
    client = desk.make_client(branch=branch, name="Rumana Akter")
    invoice = Invoice(number="INV-2026-000042", branch_id=client.branch_id, client_id=client.id,
                      issued_at=datetime(2026, 3, 17, 8, 5), due_on=date(2026, 4, 1),
                      subtotal_poisha=80000, total_poisha=80000,
                      lines=[InvoiceLine(position=1, kind="rent", description="Locker M-014",
                                         amount_poisha=80000)])
    db.session.add(invoice)
    db.session.flush()
    payment = Payment(branch_id=client.branch_id, client_id=client.id, invoice_id=invoice.id,
                      amount_poisha=50000, method=PaymentMethod.CASH,
                      paid_at=datetime(2026, 3, 17, 9, 30))
    db.session.add(payment)
    db.session.commit()
    return invoice, payment


def _images_in(pdf, tmp_path):
    """The images embedded in a PDF, as poppler's pdfimages lists them (one line each)."""
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True,
                             timeout=60).stdout.decode()
    # Two heading lines, then one line per image.
    return listing.splitlines()[2:]


def _put_company(logo=None):
    settings.put("company_name", "Gulshan Power Gym Ltd.")
    settings.put("company_address", "Plot 9, Road 11, Gulshan 2, Dhaka 1212")
    settings.put("company_bin", "001234567-0203")
    if logo is not None:
        settings.put("company_logo", uploads.store_image(logo, "company"))
    db.session.commit()


@pytest.mark.parametrize("document", ["invoice", "receipt"])
def test_the_document_shows_the_company_of_the_settings(desk, tmp_path, document):
    """Name, address and BIN come from the settings, the logo is embedded; no placeholder."""
    invoice, payment = _invoice_and_payment(desk)
    _put_company(logo=_png())
    pdf = documents.invoice_pdf(invoice.id) if document == "invoice" else \
        documents.receipt_pdf(payment.id)
    text = pdf_text(pdf)
    for expected in ("Gulshan Power Gym Ltd.", "Plot 9, Road 11, Gulshan 2", "001234567-0203"):
        assert expected in text, expected
    assert PLACEHOLDER not in text
    images = _images_in(pdf, tmp_path)
    assert len(images) == 1, images
    assert images[0].split()[3:5] == ["240", "80"]


def test_without_a_logo_nothing_is_embedded(desk, tmp_path):
    """No logo set: the invoice has no image at all (not a broken one)."""
    invoice, _payment = _invoice_and_payment(desk)
    _put_company()
    assert _images_in(documents.invoice_pdf(invoice.id), tmp_path) == []


def test_an_unnamed_company_prints_the_branchs_name_and_address(desk):
    """Before the gym names itself, the invoice names the branch, never a placeholder."""
    branch = desk.make_branch(name="Banani Fitness", address="House 3, Road 27, Banani")
    invoice, payment = _invoice_and_payment(desk, branch=branch)
    assert settings.get("company_name") == ""
    for pdf in (documents.invoice_pdf(invoice.id), documents.receipt_pdf(payment.id)):
        text = pdf_text(pdf)
        assert "Banani Fitness" in text and "House 3, Road 27, Banani" in text
        assert PLACEHOLDER not in text


def test_the_logo_is_uploaded_on_the_settings_screen(desk, tmp_path):
    """A Super Admin uploads the logo on the settings screen; the next invoice carries it."""
    invoice, _payment = _invoice_and_payment(desk)
    browser = desk.login_as("Super Admin")
    form = browser.get("/admin/settings/company/").get_data(as_text=True)
    assert 'type="file"' in form
    response = browser.post("/admin/settings/company/",
                            data={"logo_image": (io.BytesIO(_png("navy")), "logo.png")},
                            content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    stored = db.session.get(Setting, "company_logo").value
    assert stored.startswith("company/") and uploads.resolve(stored) is not None
    assert f'src="/uploads/{stored}?thumb=1"' in browser.get("/admin/settings/").get_data(
        as_text=True)
    assert browser.get(f"/uploads/{stored}").status_code == 200
    assert len(_images_in(documents.invoice_pdf(invoice.id), tmp_path)) == 1


def test_a_file_that_is_not_an_image_is_refused_as_the_logo(desk):
    """A text file sent as the logo is refused and the setting stays empty."""
    browser = desk.login_as("Super Admin")
    response = browser.post("/admin/settings/company/",
                            data={"logo_image": (io.BytesIO(b"not a picture"), "logo.png")},
                            content_type="multipart/form-data", follow_redirects=True)
    assert "This is not a photo" in response.get_data(as_text=True)
    assert settings.get("company_logo") == ""


def test_removing_the_logo_deletes_its_file(desk):
    """"Remove the current image" empties the setting and deletes the stored file."""
    _put_company(logo=_png())
    stored = settings.get("company_logo")
    browser = desk.login_as("Super Admin")
    response = browser.post("/admin/settings/company/", data={"logo_remove": "y"},
                            content_type="multipart/form-data")
    assert response.status_code == 302
    assert settings.get("company_logo") == ""
    assert uploads.resolve(stored) is None


@pytest.mark.parametrize("path", ["clients/photo.jpg", "company/../clients/photo.jpg"])
def test_the_logo_setting_takes_only_a_stored_logo(app, path):
    """Typed text cannot point the logo at another upload (a client's photo)."""
    with app.app_context(), pytest.raises(settings.InvalidSetting):
        settings.put("company_logo", path)


def test_an_install_that_kept_the_placeholder_gets_an_empty_company_name(tmp_path):
    """Upgrading clears the old "Locker desk gym" default; a name the gym typed stays."""
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import config_for

    cases = (('"Locker desk gym"', '""'), ('"Uttara Gym"', '"Uttara Gym"'))
    for number, (kept, expected) in enumerate(cases):
        url = f"sqlite:///{tmp_path / f'install-{number}.sqlite'}"
        app = create_app(config_for(url))
        with app.app_context():
            upgrade(revision="0008")
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO setting (key, value, created_at, updated_at)"
                                     " VALUES ('company_name', :value, '2026-01-01',"
                                     " '2026-01-01')"), {"value": kept})
            upgrade()
            with db.engine.connect() as conn:
                stored = conn.execute(sa.text(
                    "SELECT value FROM setting WHERE key = 'company_name'")).scalar()
            db.engine.dispose()
        assert stored == expected
