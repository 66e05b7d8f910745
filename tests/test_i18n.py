"""Bengali and English: per-user language, taka amounts, the branch's clock."""

import html as html_module
import re
from datetime import datetime

import pytest

from app.extensions import db
from app.i18n import local_datetime
from app.i18n import money
from app.models import User
from app.services.money import plain_taka

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _visible_text(html, selector_pattern):
    parts = re.findall(selector_pattern, html, re.S)
    return html_module.unescape(" ".join(re.sub(r"<[^>]+>", " ", p) for p in parts))


def test_the_language_switch_is_stored_on_the_user(desk):
    """Switching to Bengali is remembered for the next login."""
    browser = desk.login_as("Front Desk")
    browser.post("/language", data={"locale": "bn"}, headers={"Referer": "http://localhost/admin/"})
    assert db.session.get(User, browser.user.id).locale == "bn"
    again, _ = desk.login(browser.user.email)
    page = again.get("/admin/").get_data(as_text=True)
    assert "এক নজরে লকার" in page


def test_a_bengali_menu_has_no_english_left(desk):
    """Menu, list headers and buttons of the client list are all Bengali."""
    desk.make_client()
    browser = desk.login_as("Manager", locale="bn", full_name="নাসরিন আক্তার")
    html = browser.get("/admin/clients/").get_data(as_text=True)
    menu = _visible_text(html, r'<ul class="nav navbar-nav mr-auto">(.*?)</ul>\s*<ul')
    headers = _visible_text(html, r"<th[^>]*>(.*?)</th>")
    buttons = _visible_text(html, r"<(?:a|button)[^>]*class=\"[^\"]*(?:btn|nav-link)[^\"]*\"[^>]*>(.*?)</")
    for name, text in (("menu", menu), ("headers", headers), ("buttons", buttons)):
        assert text.strip(), name
        assert not LATIN_WORD.findall(text.replace("English", "")), (name, LATIN_WORD.findall(text))


def test_an_unknown_language_is_refused(desk):
    """Only bn and en can be chosen."""
    browser = desk.login_as("Front Desk")
    assert browser.post("/language", data={"locale": "fr"}).status_code == 400


def test_money_is_shown_in_taka_from_integer_poisha(app):
    """123456 poisha is ৳1,234.56 on screen and 1234.56 in an export, with no float."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert money(123456) == "৳1,234.56"
        assert money(5) == "৳0.05"
    assert plain_taka(123456) == "1234.56" and plain_taka(-5) == "-0.05"


def test_times_are_stored_in_utc_and_shown_in_dhaka_time(app):
    """18:30 UTC on 1 January is 00:30 on 2 January in Dhaka."""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        shown = local_datetime(datetime(2026, 1, 1, 18, 30))
    assert shown == "02/01/2026 00:30"


def test_a_branch_in_another_timezone_shows_its_own_time(desk):
    """A user of a branch set to another timezone sees that branch's clock."""
    from flask_login import login_user

    branch = desk.make_branch(timezone="Asia/Kathmandu")
    user = desk.make_user("Manager", branch=branch)
    with desk.app.test_request_context(headers={"Accept-Language": "en"}):
        login_user(user)
        shown = local_datetime(datetime(2026, 1, 1, 18, 30))
    assert shown.endswith(" 00:15")


def test_a_branch_on_summer_time_shows_the_clock_of_that_day(desk):
    """A zone with summer time: the same UTC hour is 12:00 in January and 13:00 in July."""
    from flask_login import login_user

    user = desk.make_user("Manager", branch=desk.make_branch(timezone="Europe/London"))
    with desk.app.test_request_context(headers={"Accept-Language": "en"}):
        login_user(user)
        shown = [local_datetime(datetime(2026, month, 1, 12, 0)) for month in (1, 7)]
    assert shown == ["01/01/2026 12:00", "01/07/2026 13:00"]


def test_a_browser_asking_for_another_language_gets_the_gyms_default(client, app):
    """The login page of a browser set to French follows the default-language setting."""
    from app.services import settings

    with app.app_context():
        settings.put("default_language", "bn")
        db.session.commit()
    assert "<h1>লগ ইন</h1>" in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    with app.app_context():
        settings.put("default_language", "en")
        db.session.commit()
    assert "<h1>Login</h1>" in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_amounts_are_grouped_in_lakhs_with_the_settings_currency(app):
    """৳4,10,338.00 in English, ৳৪,১০,৩৩৮.০০ in Bengali; another currency shows its code."""
    from app.services import settings
    from app.services.money import format_taka

    with app.app_context():
        assert format_taka(41033800) == "৳4,10,338.00"
        assert format_taka(-1234567890) == "৳-1,23,45,678.90"
        assert format_taka(41033800, bengali=True) == "৳৪,১০,৩৩৮.০০"
        settings.put("currency", "USD")
        db.session.commit()
        assert format_taka(1250) == "USD 12.50"
