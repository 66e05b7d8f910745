"""Numbers as a Bangladeshi desk reads and types them (issue 10).

Figures are grouped in lakhs; a Bengali reader sees Bengali digits in
amounts, counts and the numbers inside messages; Bengali digits typed in any
search box or amount field mean what ASCII digits mean; the pages use the
bundled Bengali font.
"""

import re
from decimal import Decimal
from urllib.parse import urljoin

import pytest
from flask import render_template_string
from flask_babel import force_locale
from flask_babel import gettext
from flask_babel import lazy_gettext
from flask_babel import ngettext

from app.i18n import money
from app.i18n import number
from app.services import handover
from app.services import quick_search
from app.services.digits import ascii_digits
from app.services.digits import bengali_digits
from app.services.handover import HandoverError
from app.services.money import InvalidAmount
from app.services.money import parse_taka

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

LOCKOUT = "Too many failed attempts. Try again after %(minutes)d minutes."


# --- typing digits ---------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["01711-222333", "A-101", "1,200.50", "#123", "INV-2026-000042"])
def test_bengali_digits_read_as_the_ascii_digits_they_stand_for(typed):
    """০১৭১১-২২২৩৩৩ is 01711-222333 to every search and amount field."""
    written = bengali_digits(typed)
    assert written != typed, "the example has digits"
    assert ascii_digits(written) == typed
    assert ascii_digits(typed) == typed


def test_other_decimal_digits_are_read_too_but_not_superscripts():
    """A Devanagari or fullwidth digit is a digit (as int() reads it); ² is not."""
    assert ascii_digits("\u0967\u0968 \uff13") == "12 3"
    assert ascii_digits("m²") == "m²"


@pytest.mark.parametrize("typed", ["1,200.50", "৳ 1200.5", "0.07", "1250", "12,34,567.89"])
def test_an_amount_typed_in_bengali_digits_is_the_same_amount(app, typed):
    """"১,২০০.৫০" in an amount field is exactly what "1,200.50" is, in every parser."""
    with app.app_context():
        expected = parse_taka(typed)
        assert parse_taka(bengali_digits(typed)) == expected
        assert handover.parse_taka(bengali_digits(typed), "deposit") == expected


def test_an_amount_in_bengali_digits_is_refused_as_its_ascii_form_is(app):
    """Three decimals are refused whatever digits they are typed in."""
    with app.app_context():
        for text in ("1.005", bengali_digits("1.005")):
            with pytest.raises(InvalidAmount):
                parse_taka(text)
            with pytest.raises(HandoverError):
                handover.parse_taka(text, "deposit")


def test_a_pasted_amount_with_a_no_break_space_is_read(app):
    """"১ ২০০" copied from a document (no-break space) is 1200 taka."""
    with app.app_context():
        assert parse_taka(bengali_digits("1\u00a0200")) == parse_taka("1200")


# --- showing numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("value, grouped", [(410338, "4,10,338"), (12345678, "1,23,45,678"),
                                            (999, "999"), (-150000, "-1,50,000"),
                                            (Decimal("33.3"), "33.3"), (0, "0")])
def test_counts_are_grouped_in_lakhs_and_written_for_the_reader(app, value, grouped):
    """4,10,338 for an English reader, ৪,১০,৩৩৮ for a Bengali one."""
    with app.test_request_context():
        with force_locale("en"):
            assert number(value) == grouped
        with force_locale("bn"):
            assert number(value) == bengali_digits(grouped)


def test_money_and_counts_read_alike(app):
    """The taka figure of an amount and the count of the same whole number group the same way."""
    with app.test_request_context():
        for locale in ("en", "bn"):
            with force_locale(locale):
                assert money(41033800).startswith("৳" + number(410338) + ".")


def test_numbers_in_a_bengali_message_are_bengali_digits(app, desk):
    """A message with a number reads "১৫ মিনিট" in Bengali and "15 minutes" in English."""
    minutes = desk.app.config["LOCKOUT_MINUTES"]
    with app.test_request_context():
        with force_locale("en"):
            assert gettext(LOCKOUT, minutes=minutes) == LOCKOUT % {"minutes": minutes}
        with force_locale("bn"):
            message = gettext(LOCKOUT, minutes=minutes)
            lazy = str(lazy_gettext(LOCKOUT, minutes=minutes))
            plural = ngettext("%(num)d label", "%(num)d labels", 1200)
    assert f"{bengali_digits(minutes)} মিনিট" in message
    assert lazy == message
    assert bengali_digits(1200) in plural
    assert not re.search("[0-9]", message + plural)


def test_text_and_identifiers_in_a_message_keep_their_own_digits(app):
    """Only numbers are rewritten: a locker number passed as text stays "A-101"."""
    with app.test_request_context(), force_locale("bn"):
        message = gettext("%(count)d lockers created: %(first)s to %(last)s.", count=12,
                          first="A-101", last="A-112")
    assert "A-101" in message and "A-112" in message and bengali_digits(12) in message


def test_numbers_in_a_template_message_are_bengali_and_still_escaped(app):
    """{{ _() }} and ngettext in a page write numbers for the reader and escape the rest."""
    page = ("{{ _('Showing the first %(shown)d of %(total)d problems.', shown=3, total=250) }}|"
            "{{ ngettext('%(num)d label', '%(num)d labels', 7) }}|{{ _('%(x)s', x='<b>') }}|"
            "{{ 410338|format_decimal }}|{{ 410338|number }}")
    with app.test_request_context():
        with force_locale("bn"):
            bengali = render_template_string(page)
        with force_locale("en"):
            english = render_template_string(page)
    assert english == "Showing the first 3 of 250 problems.|7 labels|&lt;b&gt;|4,10,338|4,10,338"
    assert bengali.split("|")[2] == "&lt;b&gt;"
    assert bengali.split("|")[3:] == [bengali_digits("4,10,338")] * 2
    assert bengali_digits(250) in bengali and bengali_digits(7) in bengali
    assert not re.search("[0-9]", bengali)


def test_the_lockout_page_says_the_minutes_in_bengali_digits(desk):
    """After five wrong passwords a Bengali browser reads "১৫ মিনিট", not "15 মিনিট"."""
    user = desk.make_user("Front Desk")
    attempts = desk.app.config["LOCKOUT_ATTEMPTS"]
    for _ in range(attempts + 1):
        response = desk.app.test_client().post(
            "/login", data={"email": user.email, "password": "wrong-password-123"},
            headers={"Accept-Language": "bn"}, environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    minutes = desk.app.config["LOCKOUT_MINUTES"]
    assert f"{bengali_digits(minutes)} মিনিট" in page
    assert f"{minutes} মিনিট" not in page


def test_a_bengali_list_counts_its_rows_in_bengali_digits(desk):
    """The list tab reads "তালিকা (১২)" for a Bengali reader and "List (12)" for an English one."""
    branch = desk.make_branch()
    for _ in range(12):
        desk.make_client(branch=branch)
    bengali = desk.login_as("Manager", locale="bn").get("/admin/clients/").get_data(as_text=True)
    english = desk.login_as("Manager").get("/admin/clients/").get_data(as_text=True)
    assert f"({bengali_digits(12)})" in bengali and "(12)" not in bengali
    assert "List (12)" in english


def test_the_home_cards_count_in_bengali_digits(desk):
    """The dashboard's counts are Bengali digits for a Bengali reader."""
    zone = desk.make_zone()
    for _ in range(3):
        desk.make_locker(zone=zone)
    html = desk.login_as("Manager", locale="bn").get("/admin/").get_data(as_text=True)
    counts = re.findall(r'data-status="AVAILABLE">([^<]*)<', html)
    assert counts == [bengali_digits(3)]


# --- searching with Bengali digits -------------------------------------------------------------

@pytest.fixture
def rumana(desk):
    """A client with a mobile number, and a second client who must not be found."""
    branch = desk.make_branch()
    found = desk.make_client(branch=branch, name="Rumana Akter", phone="+8801711222333")
    desk.make_client(branch=branch, name="Sadia Islam", phone="+8801911000444")
    return found


@pytest.mark.parametrize("typed", ["01711-222333", "01711222333", "1711222", "+880 1711 222333"])
def test_the_client_list_finds_a_phone_typed_in_bengali_digits(desk, rumana, typed):
    """০১৭১১-২২২৩৩৩ in the client search finds what 01711-222333 finds."""
    browser = desk.login_as("Front Desk")
    ascii_page = browser.get("/admin/clients/", query_string={"search": typed}).get_data(
        as_text=True)
    bengali_page = browser.get("/admin/clients/",
                               query_string={"search": bengali_digits(typed)}).get_data(as_text=True)
    assert "Rumana Akter" in ascii_page and "Sadia Islam" not in ascii_page
    assert "Rumana Akter" in bengali_page and "Sadia Islam" not in bengali_page


def _quick(browser, q):
    data = browser.get("/admin/quick_search/", query_string={"q": q}).get_json()
    return {group["key"]: [item["title"] for item in group["items"]] for group in data["groups"]}


def test_ctrl_k_finds_a_client_and_a_locker_typed_in_bengali_digits(desk, rumana):
    """Ctrl+K with ০১৭১১২২২৩৩৩ finds Rumana; with W-০১৪ it finds locker W-014."""
    zone = desk.make_zone(rumana.branch)
    desk.make_locker(zone=zone, number="W-014")
    desk.make_locker(zone=zone, number="W-015")
    browser = desk.login_as("Manager")
    for typed in ("01711222333", "W-014"):
        assert _quick(browser, bengali_digits(typed)) == _quick(browser, typed)
    assert any("Rumana Akter" in title for title in _quick(browser, bengali_digits("1711222"))
               ["clients"])
    assert any("W-014" in title for title in _quick(browser, bengali_digits("W-014"))["lockers"])


def test_the_quick_search_reads_the_query_in_ascii_digits():
    """The service's entry turns the query into ASCII digits once, for every group."""
    assert quick_search.clean(f"  {bengali_digits('W-014')}  ") == "W-014"


def test_a_list_search_box_finds_a_locker_number_typed_in_bengali_digits(desk):
    """The lockers list searched for ১০১ finds A-101 and not B-202, as 101 does."""
    zone = desk.make_zone()
    desk.make_locker(zone=zone, number="A-101")
    desk.make_locker(zone=zone, number="B-202")
    browser = desk.login_as("Manager")
    for typed in ("101", bengali_digits("101")):
        page = browser.get("/admin/lockers/", query_string={"search": typed}).get_data(
            as_text=True)
        assert "A-101" in page and "B-202" not in page, typed


# --- the bundled font -----------------------------------------------------------------------------

def _font_faces(css):
    return re.findall(r"@font-face\s*{(.*?)}", css, re.S)


def test_the_pages_use_the_bundled_bengali_font_first(desk):
    """Every page loads desk.css, whose first font for Bengali text is the bundled one."""
    browser = desk.login_as("Front Desk", locale="bn")
    pages = [browser.get("/admin/clients/").get_data(as_text=True),
             desk.app.test_client().get("/login").get_data(as_text=True)]
    for html in pages:
        assert re.search(r'<link href="/static/css/desk\.css[^"]*" rel="stylesheet">', html)
    css = browser.get("/static/css/desk.css").get_data(as_text=True)
    faces = _font_faces(css)
    families = {re.search(r'font-family:\s*"([^"]+)"', face).group(1) for face in faces}
    assert len(families) == 1, families
    family = families.pop()
    body_fonts = re.search(r"(?:^|[\s,}])body\b[^{]*{[^}]*font-family:\s*([^;}]+)", css).group(1)
    assert body_fonts.split(",")[0].strip() == f'"{family}"'
    bengali_faces = [face for face in faces if "U+0980-09FE" in face]
    assert {re.search(r"font-weight:\s*(\d+)", face).group(1) for face in bengali_faces} == {
        "400", "700"}


def test_the_bundled_font_files_are_served_as_woff2_from_the_app(desk):
    """Each @font-face file is served by the app itself, as font/woff2, with its licence beside it."""
    browser = desk.app.test_client()
    css_url = "/static/css/desk.css"
    urls = re.findall(r'url\("?([^")]+)"?\)', browser.get(css_url).get_data(as_text=True))
    assert urls and all(not re.match(r"(https?:)?//", url) for url in urls)
    for url in urls:
        response = browser.get(urljoin(css_url, url))
        assert response.status_code == 200, url
        assert response.mimetype == "font/woff2", (url, response.mimetype)
        assert response.data[:4] == b"wOF2", url
    licence = browser.get("/static/fonts/OFL-noto-sans-bengali.txt")
    assert licence.status_code == 200 and b"SIL OPEN FONT LICENSE" in licence.data.upper()


def test_the_page_policy_allows_fonts_from_the_app_only(desk):
    """font-src 'self': the bundled font loads, no font from another site does."""
    policy = desk.login_as("Front Desk").get("/admin/clients/").headers["Content-Security-Policy"]
    assert "font-src 'self'" in [part.strip() for part in policy.split(";")]
