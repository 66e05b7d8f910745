"""Does a change made at one desk show on every open locker grid, on a real browser?"""

import re

import pytest
from redis import Redis

from app.extensions import db
from app.models import LockerStatus
from app.models import RentalTerm
from app.services import lockers
from app.services import rentals
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import log_in
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.browser


def _open_grid(browser, base_url, user, **context_options):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900},
                                  **context_options)
    page = context.new_page()
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/locker_grid/")
    return context, page


def _tile(locker_id, status=None):
    selector = f'#grid .tile[data-id="{locker_id}"]'
    return selector + (f'[data-s="{status}"]' if status else "")


def test_a_locker_assigned_at_one_desk_shows_on_another_desks_grid(live_desk, browser):
    """Desk one assigns a locker from its grid's menu; desk two's open grid shows it taken."""
    base_url, desk = live_desk
    Redis.from_url(TEST_REDIS_URL).flushdb()
    zone = desk.make_zone()
    locker = desk.make_locker(zone=zone, number="M-101")
    desk.make_locker(zone=zone, number="M-102")
    client = desk.make_client(branch=zone.branch, name="Karim Uddin", phone="+8801711000101")
    one = desk.make_user("Front Desk", branch=zone.branch, full_name="Desk One")
    two = desk.make_user("Front Desk", branch=zone.branch, full_name="Desk Two")
    first_context, first = _open_grid(browser, base_url, one)
    second_context, second = _open_grid(browser, base_url, two)
    try:
        second.wait_for_selector(_tile(locker.id, "AVAILABLE"))
        assert second.inner_text("#grid-live") == "Live"

        first.click(_tile(locker.id), button="right")
        assert first.locator('#grid-menu [data-action="renew"]').count() == 0
        with first.expect_navigation(url=re.compile(r".*/admin/rental_desk/assign/\?locker_id=\d+")):
            first.click('#grid-menu [data-action="assign"]')
        first.fill("input[name=client_query]", client.phone)
        with first.expect_navigation():
            first.click("#rental-form button[name=confirm]")

        second.wait_for_selector(_tile(locker.id, "ASSIGNED"), timeout=10000)
        assert second.inner_text(_tile(locker.id) + " .tile-client") == "KU"
        assert second.inner_text('[data-count="ASSIGNED"]') == "1"
        assert second.inner_text('[data-count="AVAILABLE"]') == "1"
        second.screenshot(path=str(ARTIFACTS / "locker-grid-live.png"), full_page=True)
    finally:
        first_context.close()
        second_context.close()


def test_tapping_a_tile_opens_the_panel_and_a_long_press_opens_the_menu(live_desk, browser):
    """On a tablet: a tap shows who rents the locker beside the grid; holding a finger on it opens
    the menu, which offers only what a Front Desk may do."""
    base_url, desk = live_desk
    zone = desk.make_zone()
    locker = desk.make_locker(zone=zone, number="W-201")
    client = desk.make_client(branch=zone.branch, name="Rumana Akter")
    user = desk.make_user("Front Desk", branch=zone.branch)
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id)
    context, page = _open_grid(browser, base_url, user, has_touch=True)
    try:
        page.tap(_tile(locker.id, "ASSIGNED"))
        page.wait_for_selector("#grid-panel-client")
        assert page.inner_text("#grid-panel-client") == "Rumana Akter"
        assert page.url.endswith("/admin/locker_grid/")
        page.click("[data-toggle-actions]")
        assert page.locator('#grid-panel-menu [data-action="release"]').is_visible()
        page.click("#grid-panel-close")
        assert page.locator("#grid-panel").is_hidden()

        box = page.locator(_tile(locker.id)).bounding_box()
        point = {"pointerType": "touch", "isPrimary": True, "bubbles": True,
                 "clientX": box["x"] + 10, "clientY": box["y"] + 10}
        page.dispatch_event(_tile(locker.id), "pointerdown", point)
        page.wait_for_selector("#grid-menu:not([hidden])", timeout=3000)
        page.dispatch_event(_tile(locker.id), "pointerup", point)
        actions = page.eval_on_selector_all("#grid-menu [data-action]",
                                            "items => items.map(item => item.dataset.action)")
        assert actions == ["details", "renew", "release", "key", "maintenance"]
        page.keyboard.press("Escape")
        assert page.locator("#grid-menu").is_hidden()
    finally:
        context.close()


def test_without_redis_the_grid_still_refreshes_from_the_database(live_desk, browser):
    """Redis down: the grid says so and still picks up a change within a few seconds."""
    base_url, desk = live_desk
    zone = desk.make_zone()
    locker = desk.make_locker(zone=zone, number="F-301")
    user = desk.make_user("Manager")
    working = desk.app.config["REDIS_URL"]
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    try:
        context, page = _open_grid(browser, base_url, user)
        page.goto(f"{base_url}/admin/locker_grid/?branch={zone.branch_id}")
        assert "refreshing every 5 seconds" in page.inner_text("#grid-live")
        lockers.change_status(locker.id, LockerStatus.CLEANING, by_user_id=user.id, manual=True)
        db.session.commit()
        page.wait_for_selector(_tile(locker.id, "CLEANING"), timeout=15000)
        context.close()
    finally:
        desk.app.config["REDIS_URL"] = working
        desk.app.extensions["rq"]["redis"] = None
        desk.app.extensions.get("locker_grid", {})["down_until"] = 0
