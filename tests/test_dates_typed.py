"""Is a date typed as it is shown, dd/mm/yyyy, on every form and list filter (issue 10)?

Every screen shows 31/12/2026; the desk types it the same way, in English or
Bengali digits, and the picker writes it so. ISO 2026-12-31 is still read
(old bookmarks of filtered lists, scripts), and a day that does not exist is
refused with a message saying how to write one.
"""

import json
import re
from datetime import date
from datetime import datetime
from datetime import timedelta
from html import unescape

import pytest
from flask_babel import force_locale
from flask_babel import gettext

from admin_views.base import DeskFilterConverter
from admin_views.filters import BranchDayBetween
from admin_views.filters import BranchDayOn
from app.extensions import db
from app.models import Client
from app.models import LostItem
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.services import clock
from app.services.digits import bengali_digits
from app.services.typed_dates import parse_typed_date
from app.services.typed_dates import parse_typed_datetime
from tests.test_client_doors import post_edit
from tests.test_registration import post_registration
from tests.test_registration import register_form

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

CHRISTMAS_1990 = date(1990, 12, 25)
ENGLISH_REFUSAL = "Enter the date as dd/mm/yyyy, e.g. 31/12/2026"


def _stored(model, record_id):
    db.session.expire_all()
    return db.session.get(model, record_id)


def _written(day, pattern="%d/%m/%Y"):
    return day.strftime(pattern)


def _input(page, name):
    """The attributes of the <input name=`name`> of `page`, unescaped."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag is not None, f"no input {name}"
    return {key: unescape(value) for key, value in re.findall(r'([\w-]+)="([^"]*)"', tag[0])}


def _bengali_refusal():
    with force_locale("bn"):
        return gettext(ENGLISH_REFUSAL)


# --- reading what is typed ----------------------------------------------------------

@pytest.mark.parametrize("typed", [
    _written(CHRISTMAS_1990),                       # as every screen shows it
    CHRISTMAS_1990.isoformat(),                     # an old bookmark or a script
    bengali_digits(_written(CHRISTMAS_1990)),       # a Bengali keyboard
    f"  {CHRISTMAS_1990.day}/{CHRISTMAS_1990.month}/{CHRISTMAS_1990.year} ",  # no leading zeros
])
def test_a_day_is_read_as_the_desk_types_it(typed):
    """25/12/1990, ২৫/১২/১৯৯০, 25/12/1990 without zeros and 1990-12-25 are one day."""
    assert parse_typed_date(typed) == CHRISTMAS_1990


@pytest.mark.parametrize("typed", [
    "31/02/2026",      # no such day
    "12/25/1990",      # month and day swapped, as an English-US PC writes them
    "25.12.1990", "1990/12/25", "25/12/90", "25/12/0990", "", "tomorrow",
])
def test_what_is_not_a_day_is_refused(typed):
    """A date that does not exist, or not written dd/mm/yyyy (or ISO), is not guessed at."""
    with pytest.raises(ValueError):
        parse_typed_date(typed)


def test_a_time_is_read_as_the_picker_writes_it():
    """31/12/2026 18:30 (the picker), with seconds, in Bengali digits or ISO: one moment."""
    moment = datetime(2026, 12, 31, 18, 30)
    for typed in (moment.strftime("%d/%m/%Y %H:%M"), moment.strftime("%d/%m/%Y %H:%M:%S"),
                  bengali_digits(moment.strftime("%d/%m/%Y %H:%M")), moment.isoformat(" ")):
        assert parse_typed_datetime(typed) == moment, typed


# --- forms --------------------------------------------------------------------------

@pytest.mark.parametrize("typed", [
    _written(CHRISTMAS_1990), bengali_digits(_written(CHRISTMAS_1990)), CHRISTMAS_1990.isoformat(),
])
def test_a_birth_date_typed_dd_mm_yyyy_is_saved_from_the_client_edit_form(desk, typed):
    """Clients → Edit: 25/12/1990 (in either digits, or ISO) is stored as 25 December 1990."""
    client = desk.make_client()
    response = post_edit(desk.login_as("Manager"), client, date_of_birth=typed)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert _stored(Client, client.id).date_of_birth == CHRISTMAS_1990


@pytest.mark.parametrize(("locale", "refusal"), [("en", lambda: ENGLISH_REFUSAL),
                                                 ("bn", _bengali_refusal)])
def test_the_31st_of_february_is_refused_in_the_readers_language(desk, locale, refusal):
    """31/02/2026 on Clients → Edit says how to write a date, keeps the text, saves nothing."""
    client = desk.make_client()
    browser = desk.login_as("Manager", locale=locale)
    response = post_edit(browser, client, date_of_birth="31/02/2026")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert refusal() in unescape(page)
    assert _input(page, "date_of_birth")["value"] == "31/02/2026"
    assert _stored(Client, client.id).date_of_birth is None


def test_the_bengali_refusal_is_written_in_bengali(app):
    """The message is translated, not the English one again."""
    with app.app_context():
        refusal = _bengali_refusal()
    assert refusal != ENGLISH_REFUSAL
    assert "দিন/মাস/বছর" in refusal


def test_the_register_page_reads_dd_mm_yyyy(desk):
    """Registering with a birth date of 25/12/1990 stores 25 December 1990."""
    branch = desk.make_branch()
    browser = desk.login_as("Front Desk", branch=branch)
    response = post_registration(browser, register_form(
        branch, date_of_birth=_written(CHRISTMAS_1990)))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    client = db.session.execute(db.select(Client)).scalar_one()
    assert client.date_of_birth == CHRISTMAS_1990


@pytest.mark.parametrize("locale", ["en", "bn"])
def test_the_register_page_refuses_a_day_that_does_not_exist(desk, locale):
    """31/02/2026 on the register page: the translated message, and no client."""
    branch = desk.make_branch()
    browser = desk.login_as("Front Desk", branch=branch, locale=locale)
    response = post_registration(browser, register_form(branch, date_of_birth="31/02/2026"))
    expected = ENGLISH_REFUSAL if locale == "en" else _bengali_refusal()
    assert response.status_code == 200
    assert expected in unescape(response.get_data(as_text=True))
    assert db.session.execute(db.select(db.func.count(Client.id))).scalar_one() == 0


@pytest.mark.parametrize(("locale", "digits"), [("en", str), ("bn", bengali_digits)])
def test_the_edit_form_shows_the_date_dd_mm_yyyy_with_the_picker(desk, locale, digits):
    """The birth date's input holds 25/12/1990 (in the reader's digits) and opens the picker."""
    client = desk.make_client(date_of_birth=CHRISTMAS_1990)
    browser = desk.login_as("Manager", locale=locale)
    page = browser.get(f"/admin/clients/edit/?id={client.id}").get_data(as_text=True)
    field = _input(page, "date_of_birth")
    assert field["value"] == digits(_written(CHRISTMAS_1990))
    assert (field["data-role"], field["data-date-format"]) == ("datepicker", "DD/MM/YYYY")
    assert field.get("type") == "text"


def test_the_claim_form_offers_today_dd_mm_yyyy_and_reads_it(desk):
    """Lost & found → Claim: today is offered as dd/mm/yyyy, and sent back so it is saved."""
    from app.services import lost_found

    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    today = clock.today(locker.branch.timezone)
    item = lost_found.record_item(locker.id, "Gym bag", by_user_id=browser.user.id,
                                  cleaned_out_on=today)
    page = browser.get(f"/admin/lost_found/claim/?id={item.id}").get_data(as_text=True)
    offered = _input(page, "claimed_on")["value"]
    assert offered == _written(today)
    response = browser.post(f"/admin/lost_found/claim/?id={item.id}",
                            data={"claimed_on": offered, "client": str(client.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert _stored(LostItem, item.id).claimed_on == today


# --- list filters -------------------------------------------------------------------

def _view(app, endpoint):
    return next(view for view in app.extensions["admin"][0]._views if view.endpoint == endpoint)


def _filter_key(app, endpoint, column, test):
    return next(key for key, (_index, flt) in _view(app, endpoint)._filter_args.items()
                if getattr(getattr(flt, "column", None), "key", None) == column and test(flt))


def _listed_items(browser, key, value):
    response = browser.get("/admin/lost_found/", query_string={f"flt0_{key}": value})
    assert response.status_code == 200
    return set(re.findall(r"\bItem-[A-Z]\b", response.get_data(as_text=True))), response


@pytest.mark.parametrize("write", [
    lambda day: _written(day), lambda day: bengali_digits(_written(day)), date.isoformat,
])
def test_a_lost_item_list_filters_on_a_day_typed_dd_mm_yyyy(app, desk, write):
    """Lost & found, "cleaned out on equals 10/03/2026": only that day's item, however typed."""
    from app.services import lost_found

    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    day = clock.today(locker.branch.timezone) - timedelta(days=5)
    for name, cleaned_out_on in (("Item-A", day), ("Item-B", day - timedelta(days=1))):
        lost_found.record_item(locker.id, name, by_user_id=browser.user.id,
                               cleaned_out_on=cleaned_out_on)
    key = _filter_key(app, "lost_found", "cleaned_out_on",
                      lambda flt: type(flt).__name__ == "DateEqualFilter")
    listed, _response = _listed_items(browser, key, write(day))
    assert listed == {"Item-A"}


def test_a_day_range_typed_with_the_pickers_dash_filters_a_list(app, desk):
    """"Between 09/03/2026 - 10/03/2026" (the picker's range) lists the items of those days."""
    from app.services import lost_found

    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    day = clock.today(locker.branch.timezone) - timedelta(days=5)
    for name, cleaned_out_on in (("Item-A", day), ("Item-B", day - timedelta(days=1)),
                                 ("Item-C", day - timedelta(days=2))):
        lost_found.record_item(locker.id, name, by_user_id=browser.user.id,
                               cleaned_out_on=cleaned_out_on)
    key = _filter_key(app, "lost_found", "cleaned_out_on",
                      lambda flt: type(flt).__name__ == "DateBetweenFilter")
    typed = f"{_written(day - timedelta(days=1))} - {_written(day)}"
    listed, _response = _listed_items(browser, key, typed)
    assert listed == {"Item-A", "Item-B"}


def test_a_day_that_does_not_exist_in_a_filter_is_flashed_and_ignored(app, desk):
    """A filter of 31/02/2026 filters nothing away and says the value is invalid."""
    from app.services import lost_found

    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    lost_found.record_item(locker.id, "Item-A", by_user_id=browser.user.id,
                           cleaned_out_on=clock.today(locker.branch.timezone))
    key = _filter_key(app, "lost_found", "cleaned_out_on",
                      lambda flt: type(flt).__name__ == "DateEqualFilter")
    listed, response = _listed_items(browser, key, "31/02/2026")
    assert listed == {"Item-A"}
    assert "Invalid Filter Value" in unescape(response.get_data(as_text=True))


def _rental_ending(desk, number, ends_at):
    locker = desk.make_locker(number=number)
    client = desk.make_client(branch=locker.branch)
    rental = Rental(branch=locker.branch, locker=locker, client=client, term=RentalTerm.MONTHLY,
                    days=30, starts_at=ends_at - timedelta(days=30), ends_at=ends_at,
                    status=RentalStatus.ACTIVE, price_poisha=80000)
    db.session.add(rental)
    db.session.commit()
    return rental


@pytest.mark.parametrize(("kind", "typed"), [
    (BranchDayOn, "17/03/2026"),
    (BranchDayOn, bengali_digits("17/03/2026")),
    (BranchDayBetween, "17/03/2026 - 18/03/2026"),
    (BranchDayBetween, "2026-03-17 to 2026-03-18"),   # a bookmark from Flask-Admin's picker
])
def test_branch_day_filters_read_dd_mm_yyyy(app, desk, kind, typed):
    """Rentals ending on 17/03/2026 at the branch: the one ending 00:30 that day in Dhaka."""
    # 00:30 on 17 March in Dhaka is 18:30 on the 16th in UTC; 23:30 on the 16th is 17:30.
    _rental_ending(desk, "LATE-1", datetime(2026, 3, 16, 18, 30))
    _rental_ending(desk, "EARLY-1", datetime(2026, 3, 16, 17, 30))
    browser = desk.login_as("Manager")
    key = _filter_key(app, "rentals", "ends_at", lambda flt: type(flt) is kind)
    response = browser.get("/admin/rentals/", query_string={f"flt0_{key}": typed})
    assert set(re.findall(r"\b(?:LATE|EARLY)-1\b", response.get_data(as_text=True))) == {"LATE-1"}


def test_datetime_filters_read_the_pickers_dd_mm_yyyy_hh_mm(app):
    """The activity log's and deposits' time filters read 31/12/2026 18:30 and ranges of it."""
    with app.test_request_context():
        converter = DeskFilterConverter()
        classes = {cls.__name__: cls for cls in converter.datetime_filters}
    equal = classes["DateTimeEqualFilter"](None, "At")
    between = classes["DateTimeBetweenFilter"](None, "At")
    assert equal.clean("31/12/2026 18:30") == datetime(2026, 12, 31, 18, 30)
    assert between.clean("01/12/2026 00:00 - 31/12/2026 18:30") == [
        datetime(2026, 12, 1), datetime(2026, 12, 31, 18, 30)]
    assert not between.validate("31/12/2026 18:30 - 01/12/2026 00:00")
    assert not equal.validate("31/02/2026 18:30")


# --- the picker's words ---------------------------------------------------------------

def _picker_config(page):
    found = re.search(r'<script type="application/json" id="date-picker-config">(.*?)</script>',
                      page, re.S)
    assert found is not None, "no date picker config on the page"
    return json.loads(found[1])


@pytest.mark.parametrize("locale", ["en", "bn"])
def test_every_admin_page_gives_the_picker_its_words_in_the_readers_language(desk, locale):
    """The picker's buttons come translated from the server, with the script that uses them."""
    browser = desk.login_as("Manager", locale=locale)
    page = browser.get("/admin/clients/").get_data(as_text=True)
    config = _picker_config(page)
    with force_locale(locale):
        expected = {"apply": gettext("Apply"), "cancel": gettext("Cancel"),
                    "clear": gettext("Clear"), "from": gettext("From"), "to": gettext("Until")}
    assert (config["lang"], config["labels"]) == (locale, expected)
    assert "/static/js/datepicker.js" in page
    assert "bootstrap-daterangepicker/daterangepicker.js" in page
