"""Does the date picker speak the reader's language and write dd/mm/yyyy (issue 10)?"""

import re
from datetime import date

import pytest

from app.extensions import db
from app.models import Client
from app.services.digits import bengali_digits
from tests.browser.conftest import ARTIFACTS
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser
BENGALI_WORD = re.compile(r"^[\u0980-\u09FF]+$")
PICKER = ".daterangepicker:visible .calendar:visible"


def _watch_console(page):
    """The page's console errors (a script refused by the CSP, a script failing), as a list."""
    errors = []

    def heard(message):
        # The browser asks for /favicon.ico on its own; the desk has none.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(message.text)

    page.on("console", heard)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _stored_birth_date(client):
    db.session.expire_all()
    return db.session.get(Client, client.id).date_of_birth


@pytest.mark.parametrize("locale", ["bn", "en"])
def test_a_birth_date_is_picked_in_the_readers_language_and_saved(live_desk, page, locale):
    """A Manager opens the picker on a client's birth date, sees the months in their
    language and the week from Saturday, picks the 15th thirty years back, sees
    15/mm/yyyy in the input (in Bengali digits for a Bengali reader) and saves it."""
    base_url, desk = live_desk
    client = desk.make_client(name="Rumana Akter")
    user = desk.make_user("Manager", locale=locale)
    errors = _watch_console(page)
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/clients/edit/?id={client.id}")

    page.click("input[name=date_of_birth]")
    picker = page.locator(PICKER)
    picker.wait_for()
    month_name = picker.locator("select.monthselect option:checked").inner_text()
    english_month = page.evaluate("moment().locale('en').format('MMMM')")
    if locale == "bn":
        assert BENGALI_WORD.match(month_name), month_name
    else:
        assert month_name == english_month
    # The first column is Saturday, named in the reader's language.
    first_day = picker.locator("thead tr").nth(1).locator("th").first.inner_text()
    assert first_day == page.evaluate("moment.weekdaysMin(6)")
    assert bool(BENGALI_WORD.match(first_day)) is (locale == "bn")

    year = int(picker.locator("select.yearselect").input_value()) - 30
    month = int(picker.locator("select.monthselect").input_value()) + 1
    picker.locator("select.yearselect").select_option(str(year))
    page.screenshot(path=str(ARTIFACTS / f"date-picker-{locale}.png"), full_page=True)
    day_15 = bengali_digits("15") if locale == "bn" else "15"
    picker.locator("td.available:not(.off)", has_text=re.compile(f"^{day_15}$")).click()

    picked = date(year, month, 15).strftime("%d/%m/%Y")
    expected = bengali_digits(picked) if locale == "bn" else picked
    assert page.input_value("input[name=date_of_birth]") == expected
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/clients/(\?.*)?$"))
    assert _stored_birth_date(client) == date(year, month, 15)
    assert not errors, errors


def test_a_typed_date_is_left_as_typed_and_moves_the_calendar(live_desk, page):
    """Typing 25/12/1990 key by key keeps the text; the calendar turns to December 1990."""
    base_url, desk = live_desk
    client = desk.make_client(name="Karim Uddin")
    user = desk.make_user("Manager", locale="en")
    errors = _watch_console(page)
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/clients/edit/?id={client.id}")

    field = page.locator("input[name=date_of_birth]")
    field.click()
    field.press_sequentially("25/12/1990")
    assert field.input_value() == "25/12/1990"
    picker = page.locator(PICKER)
    assert picker.locator("select.yearselect").input_value() == "1990"
    assert picker.locator("select.monthselect").input_value() == "11"
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/clients/(\?.*)?$"))
    assert _stored_birth_date(client) == date(1990, 12, 25)
    assert not errors, errors


def test_an_optional_date_is_cleared_from_the_picker(live_desk, page):
    """The picker's Clear (মুছে ফেলুন for a Bengali reader) empties a birth date."""
    base_url, desk = live_desk
    client = desk.make_client(name="Sohel Rana", date_of_birth=date(1990, 12, 25))
    user = desk.make_user("Manager", locale="bn")
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/clients/edit/?id={client.id}")

    page.click("input[name=date_of_birth]")
    clear = page.locator(".daterangepicker:visible .desk-picker-clear")
    assert BENGALI_WORD.match(clear.inner_text().replace(" ", ""))
    clear.click()
    assert page.input_value("input[name=date_of_birth]") == ""
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/clients/(\?.*)?$"))
    assert _stored_birth_date(client) is None


def test_the_register_page_has_the_same_picker(live_desk, page):
    """The register page (no Flask-Admin form script) opens the picker and writes dd/mm/yyyy."""
    base_url, desk = live_desk
    user = desk.make_user("Front Desk", locale="en", branch=desk.make_branch())
    errors = _watch_console(page)
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/register_client/")

    page.click("input[name=date_of_birth]")
    picker = page.locator(PICKER)
    picker.wait_for()
    year = int(picker.locator("select.yearselect").input_value())
    month = int(picker.locator("select.monthselect").input_value()) + 1
    picker.locator("td.available:not(.off)", has_text=re.compile("^1$")).click()
    assert page.input_value("input[name=date_of_birth]") == date(year, month, 1).strftime("%d/%m/%Y")
    assert not errors, errors


def _date_filter_key(app, endpoint, column, kind):
    view = next(view for view in app.extensions["admin"][0]._views if view.endpoint == endpoint)
    return next(key for key, (_index, flt) in view._filter_args.items()
                if getattr(getattr(flt, "column", None), "key", None) == column
                and type(flt).__name__ == kind)


def test_a_list_filter_date_uses_the_same_picker_and_style(live_desk, page):
    """Lost & found filtered by an old ISO link shows the day dd/mm/yyyy; a day picked in
    the Bengali picker filters the list again."""
    from app.services import lost_found

    base_url, desk = live_desk
    locker = desk.make_locker()
    user = desk.make_user("Manager", locale="bn")
    picked_day = date(2026, 3, 10)
    lost_found.record_item(locker.id, "Item-A", by_user_id=user.id, cleaned_out_on=picked_day)
    lost_found.record_item(locker.id, "Item-B", by_user_id=user.id,
                           cleaned_out_on=date(2026, 3, 9))
    key = _date_filter_key(desk.app, "lost_found", "cleaned_out_on", "DateEqualFilter")
    errors = _watch_console(page)
    log_in(page, base_url, user)
    page.goto(f"{base_url}/admin/lost_found/?flt0_{key}=2026-03-09")

    field = page.locator("#filter_form input.filter-val")
    assert field.input_value() == bengali_digits("09/03/2026")
    field.click()
    page.locator(PICKER).locator("td.available:not(.off)",
                                 has_text=re.compile(f"^{bengali_digits('10')}$")).click()
    assert field.input_value() == bengali_digits(picked_day.strftime("%d/%m/%Y"))
    page.click("#filter_form button[type=submit]")
    page.wait_for_load_state("networkidle")
    listed = set(re.findall(r"\bItem-[A-Z]\b", page.inner_text("table.model-list")))
    assert listed == {"Item-A"}
    assert not errors, errors
