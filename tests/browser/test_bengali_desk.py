"""Can a Front Desk member switch the admin to Bengali and find no English left?"""

import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def test_front_desk_logs_in_and_switches_to_bengali(live_desk, page):
    """Menu, list headers and buttons are all Bengali after the switch."""
    base_url, desk = live_desk
    desk.make_client(name="রুমানা আক্তার")
    user = desk.make_user("Front Desk", full_name="সোহেল রানা", locale="en")

    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    assert "Lockers at a glance" in page.content()

    page.click("button[name=locale][value=bn]")
    page.wait_for_load_state("networkidle")
    assert "এক নজরে লকার" in page.content()

    page.goto(f"{base_url}/admin/clients/")
    menu = page.inner_text("ul.navbar-nav.mr-auto")
    headers = " ".join(page.locator("table thead th").all_inner_texts())
    buttons = " ".join(page.locator(".btn, .nav-link, button").all_inner_texts())
    page.screenshot(path=str(ARTIFACTS / "clients-bn.png"), full_page=True)
    for name, text in (("menu", menu), ("list headers", headers), ("buttons", buttons)):
        assert text.strip(), name
        english = [w for w in LATIN_WORD.findall(text) if w != "English"]
        assert not english, f"English left in the {name}: {english}"
    assert "রুমানা আক্তার" in page.content()
