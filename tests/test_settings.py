"""The settings screen (SPEC S7): typed, grouped by topic, all or nothing, audited, all read."""

import ast
import re
from datetime import date
from datetime import datetime
from pathlib import Path

import pytest

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import LockerCategory
from app.models import RentalTerm
from app.models import Setting
from app.services import clock
from app.services import notifications
from app.services import pricing
from app.services import settings

# Typing, grouping and checking settings is the code's business, not the database's.
pytestmark = pytest.mark.databases("sqlite")

ROOT = Path(__file__).resolve().parent.parent


def _log_of(key):
    return db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Setting", ActivityLog.object_id == key,
        ActivityLog.action == ActivityAction.UPDATE)).scalars().all()


@pytest.mark.parametrize("locale", ["bn", "en"])
def test_every_topic_opens_for_the_super_admin_in_both_languages(desk, locale):
    """Each topic of the settings screen opens, names its fields and offers Save."""
    browser = desk.login_as("Super Admin", locale=locale)
    for name, heading, _keys in settings.GROUPS:
        page = browser.get(f"/admin/settings/{name}/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200, name
        assert 'id="save-settings"' in text, name
        with desk.app.test_request_context(), desk.app.app_context():
            from flask_babel import force_locale

            with force_locale(locale):
                assert str(heading) in text, name
    assert browser.get("/admin/settings/nothing/").status_code == 404


def test_every_setting_has_one_topic():
    """No setting is missing from the screen, and none is on it twice."""
    keys = [key for _name, _heading, group in settings.GROUPS for key in group]
    assert sorted(keys) == sorted(settings.SETTINGS)


def test_only_roles_with_the_settings_permission_open_or_change_them(desk):
    """The desk and the accountant get 403; saving needs the edit permission, not just view."""
    for role in ("Front Desk", "Accountant", "Manager"):
        browser = desk.login_as(role)
        assert browser.get("/admin/settings/").status_code == 403, role
        assert browser.post("/admin/settings/rentals/",
                            data={"grace_period_days": "9"}).status_code == 403, role
    viewer = desk.make_user("Manager", email="viewer@gym.local")
    role = viewer.roles[0]
    role.permissions = sorted(set(role.permissions) | {"settings-view"})
    db.session.commit()
    browser, _response = desk.login(viewer.email)
    page = browser.get("/admin/settings/rentals/").get_data(as_text=True)
    assert "<fieldset disabled>" in page and 'id="save-settings"' not in page
    assert browser.post("/admin/settings/rentals/",
                        data={"grace_period_days": "9"}).status_code == 403
    assert settings.get("grace_period_days") == 3


def test_money_is_typed_in_taka_and_kept_in_poisha(desk):
    """A key deposit of ৫০০.৫০ taka is stored as 50,050 poisha and shown back as taka."""
    browser = desk.login_as("Super Admin")
    response = browser.post("/admin/settings/rentals/", data={"key_deposit_poisha": "৫০০.৫০"})
    assert response.status_code == 302
    assert db.session.get(Setting, "key_deposit_poisha").value == 50050
    page = browser.get("/admin/settings/rentals/").get_data(as_text=True)
    assert 'name="key_deposit_poisha" type="text" value="500.50"' in page
    [entry] = _log_of("key_deposit_poisha")
    assert entry.changes["value"] == [50000, 50050]
    # The activity log shows the change as the screen typed it, in taka.
    log_page = browser.get(f"/admin/activity/details/?id={entry.id}").get_data(as_text=True)
    assert "500.00" in log_page and "500.50" in log_page


def test_one_bad_value_saves_nothing_of_the_topic_and_says_why_in_bengali(desk):
    """A good deposit typed with a bad grace period: neither is saved; the field says why."""
    browser = desk.login_as("Super Admin", locale="bn")
    response = browser.post("/admin/settings/rentals/", data={
        "key_deposit_poisha": "700", "grace_period_days": "তিন", "lost_key_fee_poisha": "-5"})
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "পূর্ণসংখ্যা" in text  # "Enter a whole number." in Bengali
    assert "কিছুই সংরক্ষণ করা হয়নি" in text
    db.session.expire_all()
    assert settings.get("key_deposit_poisha") == 50000
    assert settings.get("grace_period_days") == 3 and settings.get("lost_key_fee_poisha") == 100000
    assert not _log_of("key_deposit_poisha")
    # What was typed stays on the screen to be corrected.
    assert 'value="700"' in text


@pytest.mark.parametrize(("key", "value"), [
    ("currency", "taka"), ("default_language", "fr"), ("timezone", "Mars/Olympus"),
    ("invoice_format", "{prefix}-{YYYY}"), ("invoice_format", "{prefix}-{client}-{seq:06}"),
    ("holidays", "16 December"), ("gym_hours", "all day"), ("backup_schedule", "hourly"),
    ("mail_security", "tls1.0"), ("default_term", "CUSTOM"), ("backup_offsite_url", "ftp://x/y"),
])
def test_a_value_the_setting_does_not_take_is_refused(desk, key, value):
    """Choices take only what is offered; formats and dates must read as they should."""
    with pytest.raises(settings.InvalidSettings) as refused:
        settings.update({key: value})
    assert key in refused.value.errors
    assert settings.get(key) == settings.SETTINGS[key].default


def test_the_price_grid_sets_prices_in_taka_and_the_next_quote_uses_them(desk):
    """The manager types 900 for every other category's month and 1,250.50 for Premium's."""
    premium = LockerCategory(name="Premium")
    db.session.add(premium)
    db.session.commit()
    locker = desk.make_locker(category=premium)
    plain = desk.make_locker(number="P-2")
    browser = desk.login_as("Super Admin")
    page = browser.get("/admin/settings/rentals/").get_data(as_text=True)
    assert 'id="price-grid"' in page and 'name="price-1-MONTHLY"' in page
    form = {"price-0-category": "*", "price-1-category": "Premium"}
    for term in settings.TERMS:
        form[f"price-0-{term}"] = str(settings.DEFAULT_PRICES["*"][term])
    form["price-0-MONTHLY"] = "৯০০"
    form["price-1-MONTHLY"] = "1,250.50"
    assert browser.post("/admin/settings/rentals/", data=form).status_code == 302
    table = settings.get("rental_prices_taka")
    assert table["*"]["MONTHLY"] == 900 and table["Premium"] == {"MONTHLY": "1250.50"}
    assert pricing.settings_price(locker, RentalTerm.MONTHLY) == 125050
    # An empty cell takes every other category's price.
    assert pricing.settings_price(locker, RentalTerm.WEEKLY) == 25000
    assert pricing.settings_price(plain, RentalTerm.MONTHLY) == 90000
    # A cell that is not an amount refuses the whole grid, naming the cell.
    form["price-1-WEEKLY"] = "abc"
    response = browser.post("/admin/settings/rentals/", data=form)
    assert response.status_code == 400 and "Premium" in response.get_data(as_text=True)
    assert settings.get("rental_prices_taka")["Premium"] == {"MONTHLY": "1250.50"}


def test_a_secret_is_never_sent_back_and_its_change_is_logged_without_it(desk):
    """The WhatsApp token is typed once; the form and the activity log never show it."""
    browser = desk.login_as("Super Admin")
    assert browser.post("/admin/settings/whatsapp/", data={
        "whatsapp_token": "EAAG-secret-token-98765"}).status_code == 302
    assert settings.get("whatsapp_token") == "EAAG-secret-token-98765"
    page = browser.get("/admin/settings/whatsapp/").get_data(as_text=True)
    assert "EAAG-secret" not in page and "8765" in page
    [entry] = _log_of("whatsapp_token")
    log_page = browser.get(f"/admin/activity/details/?id={entry.id}").get_data(as_text=True)
    assert "EAAG" not in log_page and "8765" not in log_page


def test_the_default_term_is_what_the_assign_form_starts_on(desk):
    """A gym that sells weeks sets the default term; the desk's form starts there."""
    settings.update({"default_term": "WEEKLY"})
    page = desk.login_as("Front Desk").get("/admin/rental_desk/assign/").get_data(as_text=True)
    assert re.search(r'<option selected value="WEEKLY">|<option value="WEEKLY" selected>', page)


def test_a_reminder_due_on_a_holiday_waits_for_the_next_open_day(desk):
    """On Victory Day the gym is closed: a reminder waits for the 17th at the quiet hours' end."""
    settings.update({"holidays": "2026-12-16", "quiet_hours": "21:00-08:00"})
    noon = clock.day_start_utc(date(2026, 12, 16)) + (datetime(2026, 1, 1, 12) - datetime(2026, 1, 1))
    assert notifications.after_quiet_hours(noon) == clock.day_start_utc(date(2026, 12, 17)) + (
        datetime(2026, 1, 1, 8) - datetime(2026, 1, 1))
    # The night before the holiday waits past it, too.
    late_evening = clock.day_start_utc(date(2026, 12, 15)) + (
        datetime(2026, 1, 1, 22) - datetime(2026, 1, 1))
    assert notifications.after_quiet_hours(late_evening) == noon.replace(hour=2, day=17)
    # A day the gym is open is not touched.
    open_noon = clock.day_start_utc(date(2026, 12, 18)) + (
        datetime(2026, 1, 1, 12) - datetime(2026, 1, 1))
    assert notifications.after_quiet_hours(open_noon) == open_noon


def _definitions(tree):
    """The nodes of the SETTINGS and GROUPS tables: naming a key there is not reading it."""
    return {id(child) for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and any(getattr(target, "id", "") in ("SETTINGS", "GROUPS") for target in node.targets)
            for child in ast.walk(node)}


def _string_constants():
    """Every string literal of the application's code and templates, outside those tables."""
    found = set()
    for folder in ("app", "admin_views", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defined = _definitions(tree)
            found.update(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.Constant) and isinstance(node.value, str)
                         and id(node) not in defined)
    for path in (ROOT / "templates").rglob("*.html"):
        found.update(re.findall(r"""["']([a-z_]+)["']""", path.read_text(encoding="utf-8")))
    return found


def test_every_setting_is_read_by_something():
    """A setting nobody reads is a promise the app does not keep: each key is used in the code."""
    used = _string_constants()
    unread = [key for key in settings.SETTINGS if key not in used]
    assert not unread, f"settings read by nothing: {unread}"
