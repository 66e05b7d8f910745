"""Can the desk find anything from the keyboard alone: Ctrl+K, a phone, a scanned key tag?"""

import re

import pytest
from flask import url_for

from app.extensions import db
from app.models import Key
from app.models import ZoneKind
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gym(live_desk):
    """A branch with Rumana, locker W-014 and its key tag, and a Front Desk member."""
    _, desk = live_desk
    branch = desk.make_branch(name="Dhanmondi", code="DHN")
    rumana = desk.make_client(branch=branch, name="Rumana Akter", phone="+8801711123456")
    locker = desk.make_locker(zone=desk.make_zone(branch, kind=ZoneKind.WOMEN), number="W-014")
    db.session.add(Key(locker=locker, tag="K-DHN-W-014"))
    db.session.commit()
    user = desk.make_user("Front Desk", branch=branch, full_name="Sohel Rana")
    with desk.app.test_request_context():
        locker_path = (url_for("locker_grid.index", branch=branch.id, zone=locker.zone_id,
                               locker=locker.id)
                       if "locker_grid.index" in desk.app.view_functions
                       else url_for("lockers.details_view", id=locker.id))
    return {"rumana_id": rumana.id, "locker_path": locker_path, "user": user}


def _locker_page(base_url, gym):
    return re.compile(re.escape(base_url + gym["locker_path"]) + "$")


def test_ctrl_k_a_phone_with_dashes_and_enter_open_the_profile(live_desk, page, gym):
    """Control+K, '01711-123456', ArrowDown, Enter: Rumana's profile, no mouse."""
    base_url, _ = live_desk
    log_in(page, base_url, gym["user"])
    page.keyboard.press("Control+k")
    assert page.locator("#qs-input").is_visible()
    assert page.evaluate("document.activeElement.id") == "qs-input"
    page.keyboard.type("01711-123456")
    page.wait_for_selector(".qs-item:has-text('Rumana Akter')")
    page.screenshot(path=str(ARTIFACTS / "quick-search.png"))
    page.keyboard.press("ArrowDown")
    with page.expect_navigation(url=re.compile(rf".*/admin/client_profile/\?id={gym['rumana_id']}$")):
        page.keyboard.press("Enter")


def test_a_key_tag_and_enter_open_its_locker_at_once(live_desk, page, gym):
    """Typed (or scanned) into the box, a key tag followed straight by Enter opens its locker."""
    base_url, _ = live_desk
    log_in(page, base_url, gym["user"])
    page.keyboard.press("Control+k")
    with page.expect_navigation(url=_locker_page(base_url, gym)):
        page.keyboard.type("k-dhn-w-014")
        page.keyboard.press("Enter")


def test_a_scanner_burst_with_no_field_focused_opens_the_locker(live_desk, page, gym):
    """A scanner types the tag and Enter within milliseconds; no Ctrl+K needed."""
    base_url, _ = live_desk
    log_in(page, base_url, gym["user"])
    with page.expect_navigation(url=_locker_page(base_url, gym)):
        # All keys in one go, as a USB scanner sends them (a person cannot type this fast).
        page.evaluate("""tag => {
            for (const key of [...tag, "Enter"]) {
                document.body.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true}));
            }
        }""", "K-DHN-W-014")


def test_escape_closes_and_slash_opens_again(live_desk, page, gym):
    """Esc closes the palette; '/' outside a field opens it; shortcuts stay quiet in a field."""
    base_url, _ = live_desk
    log_in(page, base_url, gym["user"])
    page.keyboard.press("Control+k")
    assert page.locator("#qs").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#qs").is_hidden()
    page.keyboard.press("/")
    assert page.locator("#qs").is_visible()
    page.keyboard.press("Escape")
    page.goto(f"{base_url}/admin/clients/")
    page.focus("input[name=search]")
    page.keyboard.press("/")
    page.keyboard.press("Alt+n")
    assert page.locator("#qs").is_hidden()
    assert page.input_value("input[name=search]") == "/"
    assert "/admin/clients/" in page.url


def test_alt_n_opens_the_registration_form(live_desk, page, gym):
    """Alt+N from any page (outside a field) starts a new client."""
    base_url, _ = live_desk
    log_in(page, base_url, gym["user"])
    with page.expect_navigation(url=re.compile(r".*/admin/register_client/$")):
        page.keyboard.press("Alt+n")


def test_alt_a_picks_a_locker_to_assign(live_desk, page, gym):
    """Alt+A opens the palette in assign mode; a locker number and Enter open the assign screen."""
    base_url, desk = live_desk
    if "rental_desk.assign_view" not in desk.app.view_functions:
        pytest.skip("the assign screen is not part of this app")
    log_in(page, base_url, gym["user"])
    page.keyboard.press("Alt+a")
    assert page.locator("#qs-mode").is_visible()
    with page.expect_navigation(url=re.compile(r".*/admin/rental_desk/assign/\?locker_id=\d+$")):
        page.keyboard.type("W-014")
        page.keyboard.press("Enter")
