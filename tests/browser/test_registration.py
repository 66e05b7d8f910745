"""Can the desk register a client on a real browser: photo from a file, signature drawn by hand?"""

import re

import pytest

from app.extensions import db
from app.models import Client
from app.services import clients
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import log_in
from tests.test_registration import jpeg_bytes

pytestmark = pytest.mark.browser


def _draw_signature(page):
    """Sign on the canvas with the mouse, as a finger would on the tablet."""
    canvas = page.locator("#signature-pad")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"], box["y"] + box["height"] / 2
    page.mouse.move(x + 30, y)
    page.mouse.down()
    for step in range(1, 25):
        page.mouse.move(x + 30 + step * 12, y + (25 if step % 2 else -25), steps=3)
    page.mouse.up()


def test_front_desk_registers_a_client_with_photo_and_signature(live_desk, page, tmp_path):
    """The desk fills the form, picks a photo, the client signs; the profile shows both."""
    base_url, desk = live_desk
    desk.app.config["UPLOAD_DIR"] = tmp_path
    branch = desk.make_branch()
    user = desk.make_user("Front Desk", branch=branch, full_name="Sohel Rana")
    clients.publish_terms("Locker rules", "Lockers are emptied 3 days after expiry.",
                          by_user_id=user.id)
    log_in(page, base_url, user)

    with page.expect_navigation():
        page.click("a.nav-link[href='/admin/register_client/']")
    assert "Lockers are emptied 3 days after expiry." in page.content()
    page.fill("#full_name", "Rumana Akter")
    page.fill("#phone", "01711-123456")
    page.select_option("#gender", "FEMALE")
    page.set_input_files("#photo", files=[{"name": "rumana.jpg", "mimeType": "image/jpeg",
                                            "buffer": jpeg_bytes((320, 320), "orange")}])
    page.wait_for_selector("#photo-preview:not(.d-none)")

    page.click("#register-form button[type=submit]")  # not signed yet: the page asks for the signature
    assert page.locator("#signature-empty").is_visible()
    _draw_signature(page)
    assert page.input_value("#signature").startswith("data:image/png;base64,")
    page.screenshot(path=str(ARTIFACTS / "register-client.png"), full_page=True)
    # The file input keeps its file; submit for real.
    with page.expect_navigation(url=re.compile(r".*/admin/client_profile/\?id=\d+$")):
        page.click("#register-form button[type=submit]")
    page.screenshot(path=str(ARTIFACTS / "client-profile.png"), full_page=True)

    assert page.inner_text("#client-name") == "Rumana Akter"
    photo_width = page.eval_on_selector("#client-photo", "img => img.naturalWidth")
    signature_width = page.eval_on_selector(".signature-thumb", "img => img.naturalWidth")
    assert photo_width > 0 and signature_width > 0
    db.session.expire_all()
    client = db.session.execute(db.select(Client).where(Client.phone == "+8801711123456")
                                ).scalar_one()
    assert client.photo_path and len(client.signatures) == 1
