"""Dark and light mode per user (SPEC U2): chosen in the top bar, remembered, logged.

How readable each mode is, is measured in a real browser: tests/browser/test_themes.py.
"""

import re

import pytest

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import User
from app.models.users import Theme
from tests.test_production_login import csrf_token
from tests.test_production_login import https_browser
from tests.test_production_login import log_in

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

FLATLY = "vendor/bootswatch-flatly/bootstrap.min.css"
DARKLY = "vendor/bootswatch-darkly/bootstrap.min.css"
DARK_COLOURS = "css/dark.css"


def _theme_of(user):
    db.session.expire_all()
    return db.session.get(User, user.id).theme


def _stylesheets(page):
    """The stylesheets a page links, with the media they apply to: {href part: media}."""
    links = re.findall(r"<link\b[^>]*>", page.get_data(as_text=True))
    found = {}
    for link in links:
        for name in (FLATLY, DARKLY, DARK_COLOURS):
            if name in link:
                media = re.search(r'media="([^"]*)"', link)
                found[name] = media.group(1) if media else "all"
    return found


def test_a_new_user_starts_in_light_mode(desk):
    """Nobody is switched to dark without choosing it."""
    user = desk.make_user("Front Desk")
    assert _theme_of(user) is Theme.LIGHT


def test_the_theme_switch_is_stored_on_the_user_and_returns_to_the_page(desk):
    """Switching to dark mode on the client list comes back to the client list, still dark next login."""
    browser = desk.login_as("Front Desk")
    response = browser.post("/theme", data={"theme": "dark"},
                            headers={"Referer": "http://localhost/admin/clients/?page=2"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost/admin/clients/?page=2"
    assert _theme_of(browser.user) is Theme.DARK

    again, _ = desk.login(browser.user.email)
    assert DARKLY in _stylesheets(again.get("/admin/"))
    again.post("/theme", data={"theme": "light"})
    assert _theme_of(browser.user) is Theme.LIGHT


def test_another_sites_referrer_is_not_followed(desk):
    """After switching, a referrer from elsewhere sends the user to the dashboard, not away."""
    browser = desk.login_as("Front Desk")
    response = browser.post("/theme", data={"theme": "dark"},
                            headers={"Referer": "https://evil.example/phish"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_an_unknown_theme_is_refused(desk):
    """Only light and dark can be chosen; anything else is a 400 and changes nothing."""
    browser = desk.login_as("Front Desk")
    for data in ({"theme": "purple"}, {"theme": "DARK"}, {}):
        assert browser.post("/theme", data=data).status_code == 400, data
    assert _theme_of(browser.user) is Theme.LIGHT


def test_the_switch_needs_a_signed_in_user(client, desk):
    """Before signing in there is nothing to store: the switch sends to the sign-in page."""
    response = client.post("/theme", data={"theme": "dark"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_dark_user_gets_darkly_and_the_dark_colours(desk):
    """Desk pages and account pages load Darkly and css/dark.css for a dark user, Flatly for a light one."""
    dark = desk.login_as("Manager", theme=Theme.DARK)
    light = desk.login_as("Manager")
    for path in ("/admin/", "/admin/clients/", "/change"):
        assert _stylesheets(dark.get(path)) == {DARKLY: "all", DARK_COLOURS: "all"}, path
        assert _stylesheets(light.get(path)) == {FLATLY: "all"}, path


def test_the_switch_in_the_top_bar_offers_the_other_mode(desk):
    """A light user is offered dark mode, a dark user light mode, next to the language switch."""
    light = desk.login_as("Front Desk").get("/admin/").get_data(as_text=True)
    dark = desk.login_as("Front Desk", theme=Theme.DARK).get("/admin/").get_data(as_text=True)
    assert 'name="theme" value="dark"' in light and "Dark mode" in light
    assert 'name="theme" value="light"' in dark and "Light mode" in dark
    assert light.index("language-switch") < light.index("theme-switch")


def test_the_login_page_follows_the_computers_preference(client, desk):
    """Before signing in, light or dark comes from the computer's setting, with no switch."""
    page = client.get("/login", headers={"Accept-Language": "en"})
    assert _stylesheets(page) == {FLATLY: "(prefers-color-scheme: light)",
                                  DARKLY: "(prefers-color-scheme: dark)",
                                  DARK_COLOURS: "(prefers-color-scheme: dark)"}
    assert "theme-switch" not in page.get_data(as_text=True)


def test_a_bengali_user_reads_the_switch_in_bengali(desk):
    """The switch says ডার্ক মোড, as the glossary names it."""
    page = desk.login_as("Front Desk", locale="bn").get("/admin/").get_data(as_text=True)
    assert "ডার্ক মোড" in page and "Dark mode" not in page


def test_a_change_of_theme_is_in_the_activity_log(desk):
    """The switch changes the user's record, so the log shows who changed it, from what to what."""
    browser = desk.login_as("Front Desk")
    browser.post("/theme", data={"theme": "dark"})
    entry = db.session.execute(
        db.select(ActivityLog).where(ActivityLog.model == "User",
                                     ActivityLog.action == ActivityAction.UPDATE)
        .order_by(ActivityLog.id.desc())).scalars().first()
    assert entry is not None, "no UPDATE of the user logged"
    assert entry.changes == {"theme": ["light", "dark"]}
    assert entry.object_id == str(browser.user.id) and entry.user_id == browser.user.id
    details = desk.login_as("Manager").get(f"/admin/activity/details/?id={entry.id}")
    assert ("<th>Light or dark mode</th><td>Light mode</td><td>Dark mode</td>"
            in details.get_data(as_text=True))


def test_with_csrf_on_the_switch_needs_the_pages_token(production):
    """Under the production config a switch without the page's CSRF token changes nothing."""
    user = production.make_user("Front Desk")
    browser = https_browser(production.app)
    assert log_in(browser, user.email).status_code == 302
    page = browser.get("/admin/")

    refused = browser.post("/theme", data={"theme": "dark"})
    assert refused.status_code == 303  # app.web's CSRF handler: back to a page, nothing done
    assert _theme_of(user) is Theme.LIGHT

    accepted = browser.post("/theme", data={"theme": "dark", "csrf_token": csrf_token(page)})
    assert accepted.status_code == 302
    assert _theme_of(user) is Theme.DARK


def test_every_page_has_the_gyms_tab_icon_served_by_the_app(client, desk):
    """The login page and the admin name the icon; /favicon.ico answers without signing in."""
    for page in (client.get("/login").get_data(as_text=True),
                 desk.login_as("Front Desk").get("/admin/").get_data(as_text=True)):
        assert '<link rel="icon" href="/static/favicon.ico' in page
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
