"""Does the desk work in a real browser under its Content-Security-Policy, with nothing refused?

The policy runs no inline code, so whatever Flask-Admin's templates did with
onclick= (the delete confirmation, the list actions, the filter menu) must
still happen through app/static/js/desk.js. Chromium reports every refused
script, style or image on the console; a page that breaks the policy fails.
"""

import re

import pytest

from app.extensions import db
from app.models import Locker
from app.models import LockerStatus
from tests.browser.conftest import log_in
from tests.test_registration import jpeg_bytes

pytestmark = pytest.mark.browser


class Console:
    """What a tab writes on its console, and the errors its scripts throw."""

    def __init__(self, page):
        self.messages = []
        page.on("console", lambda message: self.messages.append(message.text))
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))

    def policy_violations(self):
        return [text for text in self.messages if "Content Security Policy" in text]

    def script_errors(self):
        return [text for text in self.messages if text.startswith("uncaught:")]


def _open(page, url):
    """Go to `url`; the page must come with the desk's policy."""
    response = page.goto(url)
    assert response.ok, url
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'nonce-" in policy, f"{url} has no nonce policy: {policy!r}"
    return response


def _refresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def test_the_main_desk_pages_run_under_the_policy_without_a_refusal(live_desk, page):
    """Login, home, grid, clients (a filter added), rental desk, registration: nothing refused."""
    base_url, desk = live_desk
    zone = desk.make_zone()
    locker = desk.make_locker(zone=zone, number="CSP-101")
    client = desk.make_client(branch=zone.branch, name="Farhana Islam")
    admin = desk.make_user("Super Admin")
    console = Console(page)

    _open(page, f"{base_url}/login")
    log_in(page, base_url, admin)
    # Forms with select2 fields, a client lookup and a date picker; a record's details.
    for path in ("/admin/", f"/admin/client_profile/?id={client.id}", "/admin/lockers/new/",
                 f"/admin/clients/edit/?id={client.id}", f"/admin/lockers/details/?id={locker.id}"):
        _open(page, base_url + path)

    # The grid: a tap fetches the locker's panel into the page.
    _open(page, f"{base_url}/admin/locker_grid/")
    page.click(f'#grid .tile[data-id="{locker.id}"]')
    page.wait_for_selector(f'#grid-panel-body [data-locker="{locker.id}"]')

    # Registration: the photo preview is a blob: image, the signature pad a canvas.
    _open(page, f"{base_url}/admin/register_client/")
    page.set_input_files("#photo", files=[{"name": "farhana.jpg", "mimeType": "image/jpeg",
                                            "buffer": jpeg_bytes((120, 120), "teal")}])
    page.wait_for_selector("#photo-preview:not(.d-none)")
    assert page.get_attribute("#photo-preview", "src").startswith("blob:")

    # The clients list: "Add Filter" → "Status" adds a filter row and stays on the page.
    _open(page, f"{base_url}/admin/clients/")
    page.click("a.dropdown-toggle:has-text('Add Filter')")
    page.click(".field-filters a.filter:has-text('Status')")
    page.wait_for_selector("#filter_form table.filters tr")
    assert page.url == f"{base_url}/admin/clients/"

    # The rental desk: the quote is asked for with a POST to the page itself.
    _open(page, f"{base_url}/admin/rental_desk/assign/?locker_id={locker.id}&client_id={client.id}")
    with page.expect_navigation():
        page.click("button[name=check]")
    assert "Farhana Islam" in page.content()

    assert console.policy_violations() == []
    assert console.script_errors() == []


def test_delete_asks_first_and_a_list_action_still_runs(live_desk, page):
    """The delete button asks (Cancel keeps the locker, OK deletes it); "Change status" opens its page."""
    base_url, desk = live_desk
    zone = desk.make_zone()
    doomed = desk.make_locker(zone=zone, number="CSP-201")
    kept = desk.make_locker(zone=zone, number="CSP-202")
    admin = desk.make_user("Super Admin")
    console = Console(page)
    log_in(page, base_url, admin)
    _open(page, f"{base_url}/admin/lockers/?search=CSP-20")

    asked = []

    def cancel(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", cancel)
    page.click("tr:has-text('CSP-201') button[title='Delete Record']")
    assert asked == ["Are you sure you want to delete this record?"]
    assert _refresh(Locker, doomed.id) is not None
    assert page.url.endswith("/admin/lockers/?search=CSP-20")

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("tr:has-text('CSP-201') button[title='Delete Record']")
    assert _refresh(Locker, doomed.id) is None

    _open(page, f"{base_url}/admin/lockers/?search=CSP-20")
    page.check(f"tr:has-text('CSP-202') input.action-checkbox[value='{kept.id}']")
    page.click("a.dropdown-toggle:has-text('With selected')")
    with page.expect_navigation(url=re.compile(rf".*/admin/lockers/status/\?ids={kept.id}$")):
        page.click("a[data-list-action=change_status]")
    page.select_option("select[name=status]", "OUT_OF_SERVICE")
    page.fill("textarea[name=reason]", "Door hinge broken")
    with page.expect_navigation():
        page.click("form[action*='/admin/lockers/status/'] button[type=submit]")
    assert _refresh(Locker, kept.id).status is LockerStatus.OUT_OF_SERVICE

    assert console.policy_violations() == []
    assert console.script_errors() == []


def test_log_out_in_the_menu_signs_the_user_out(live_desk, page):
    """The user menu's "Log out" (a POST with the CSRF token) ends the session."""
    base_url, desk = live_desk
    staff = desk.make_user("Front Desk")
    console = Console(page)
    log_in(page, base_url, staff)
    _open(page, f"{base_url}/admin/")
    page.click("#user-menu")
    with page.expect_navigation(url=re.compile(r".*/login$")):
        page.click(".dropdown-menu button.dropdown-item:has-text('Log out')")
    page.goto(f"{base_url}/admin/")
    assert "/login" in page.url
    assert console.policy_violations() == []
