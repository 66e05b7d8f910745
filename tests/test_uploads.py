"""Uploaded files: checked by content, stored out of reach, served only to staff."""

import io

import pytest
from flask_babel import force_locale
from PIL import Image
from PIL import ImageFile

from app.extensions import db
from app.models import Role
from app.services import pdf
from app.services import uploads

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def _jpeg(size=(640, 480)):
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_real_photo_is_stored_re_encoded_with_a_thumbnail(app):
    """A JPEG is saved under a random name in UPLOAD_DIR, with a small thumbnail."""
    with app.app_context():
        relative = uploads.store_image(_jpeg((2000, 1500)), "clients")
        path = uploads.resolve(relative)
        thumb = uploads.thumbnail_of(path)
        assert relative.startswith("clients/") and path.is_file() and thumb.is_file()
        assert max(Image.open(thumb).size) <= 320
        assert "static" not in str(path)


@pytest.mark.parametrize("payload", [
    b"<?php system($_GET['c']); ?>",          # a PHP file renamed photo.jpg
    b"GIF89a<script>alert(1)</script>",        # a script behind a GIF header
    b"\x89PNG\r\n\x1a\nnot really a png",
])
def test_things_that_are_not_photos_are_refused(app, payload):
    """Only a file that opens as an image is accepted as a photo, whatever its name."""
    with app.app_context(), pytest.raises(uploads.UploadRejected):
        uploads.store_image(payload, "clients")


def test_an_oversized_file_is_refused(app):
    """More than UPLOAD_MAX_BYTES is refused before it is decoded."""
    with app.app_context(), pytest.raises(uploads.UploadRejected, match="too large"):
        uploads.store_image(b"\xff" * (app.config["UPLOAD_MAX_BYTES"] + 1), "clients")


def test_a_50_mb_request_is_refused_with_a_message(desk):
    """A 50 MB upload is stopped at the door with a translated message, nothing stored."""
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/register_client/", data={
        "photo": (io.BytesIO(b"\0" * (50 * 1024 * 1024)), "huge.jpg")},
        headers={"Referer": "http://localhost/admin/register_client/"})
    assert response.status_code == 302
    with browser.session_transaction() as session:
        messages = [m for _, m in session.get("_flashes", [])]
    assert any("too large" in m for m in messages)


def test_pdf_scans_must_be_real_pdfs(app):
    """An ID scan may be a PDF, but a truncated one is refused."""
    with app.app_context():
        good = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
        assert uploads.store_document(good, "clients").endswith(".pdf")
        with pytest.raises(uploads.UploadRejected):
            uploads.store_document(b"%PDF-1.4 cut off", "clients")


def test_files_are_served_only_to_staff_who_may_see_them(desk):
    """Front Desk sees client photos; anonymous visitors are sent to log in."""
    with desk.app.app_context():
        relative = uploads.store_image(_jpeg(), "clients")
    anonymous = desk.app.test_client().get(f"/uploads/{relative}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    browser = desk.login_as("Front Desk")
    response = browser.get(f"/uploads/{relative}")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert browser.get(f"/uploads/{relative}?thumb=1").status_code == 200


def test_maintenance_photos_need_the_maintenance_permission(desk):
    """A role without maintenance-view gets 403 for a ticket photo."""
    with desk.app.app_context():
        relative = uploads.store_image(_jpeg(), "maintenance")
    # Front Desk may see maintenance by default; a role edited to drop it may not.
    role = db.session.execute(db.select(Role).where(Role.name == "Front Desk")).scalar_one()
    role.permissions = [p for p in role.permissions if not p.startswith("maintenance-")]
    db.session.commit()
    assert desk.login_as("Front Desk").get(f"/uploads/{relative}").status_code == 403


@pytest.mark.parametrize("path", ["../secret_key", "clients/../../secret_key", "nowhere/x.jpg"])
def test_paths_outside_the_upload_folder_are_not_served(desk, path):
    """No ../ escapes from UPLOAD_DIR; unknown folders are refused."""
    browser = desk.login_as("Super Admin")
    assert browser.get(f"/uploads/{path}").status_code in (403, 404)


# --- Issue 9, item 12: huge and truncated images -------------------------------------

TOO_LARGE_BN = "ছবিটি অনেক বড়: ৭৯ মেগাপিক্সেল (সর্বোচ্চ ২০)। কম রেজোলিউশনে আবার তুলুন।"
DAMAGED_BN = "এই ছবিটি নষ্ট বা অসম্পূর্ণ; আবার তুলুন বা আপলোড করুন।"


def _png_79_megapixels():
    """A 10000 x 7900 black-and-white PNG: 79 megapixels in a file of a few kB."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 7_900)).save(buffer, "PNG")
    return buffer.getvalue()


def _truncated_jpeg():
    """The first half of a real photo-like JPEG, as a phone that lost its signal sends it."""
    buffer = io.BytesIO()
    Image.effect_noise((800, 600), 60).convert("RGB").save(buffer, "JPEG", quality=90)
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


def _refusal(store, data, folder):
    with pytest.raises(uploads.UploadRejected) as refused:
        store(data, folder)
    with force_locale("bn"):
        bengali = str(refused.value.message)
    with force_locale("en"):
        return str(refused.value.message), bengali


def _assert_huge_and_truncated_are_refused(app):
    with app.test_request_context():
        huge = _png_79_megapixels()
        assert len(huge) < 100_000
        for store, folder in ((uploads.store_image, "lost_found"),
                              (uploads.store_document, "clients")):
            assert _refusal(store, huge, folder) == (
                "This photo is too large: 79 megapixels (at most 20)."
                " Take it again at a lower resolution.", TOO_LARGE_BN)
            assert _refusal(store, _truncated_jpeg(), folder) == (
                "This photo is damaged or incomplete; take or upload it again.", DAMAGED_BN)
        with force_locale("en"), pytest.raises(uploads.UploadRejected, match="79 megapixels"):
            uploads.check_image(huge)
    assert not any(app.config["UPLOAD_DIR"].rglob("*.*")), "nothing is stored"


def test_a_79_megapixel_png_and_a_truncated_jpeg_are_refused(app):
    """A tiny file that decodes to 79 megapixels, and half a JPEG: both refused, in Bengali too."""
    _assert_huge_and_truncated_are_refused(app)


def test_images_are_still_checked_after_a_pdf_was_rendered(app):
    """Rendering a PDF (WeasyPrint) in the same process does not let truncated images in."""
    with app.app_context():
        assert pdf.render_html("<p>Receipt</p>").write_pdf().startswith(b"%PDF-")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    _assert_huge_and_truncated_are_refused(app)


def test_a_20_megapixel_photo_is_still_accepted(app):
    """A photo at the limit (a 5000 x 4000 camera) is stored, re-encoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (5000, 4000), "teal").save(buffer, "JPEG")
    with app.app_context():
        relative = uploads.store_image(buffer.getvalue(), "clients")
        with Image.open(uploads.resolve(relative)) as stored:
            assert stored.size == (5000, 4000)
