"""Every screen truly in Bengali: a crawler finds English left on any page (issue 10).

Each role signs in with Bengali as its language and opens every menu page,
then from each page the create, details and edit pages of a record of every
model, and sends every create form back empty to see its validation errors;
then the error pages. The text a person can read (page text, placeholders,
titles, button values, option texts, the list filters' choices) must hold no
Latin-script word, except the few that are Latin on purpose (brands and
abbreviations the desk writes in Latin, e-mail addresses, record numbers).
The records the test creates are named in Bengali or digits, so anything
Latin on a page is the interface's own text.

It runs on SQLite only: it checks templates, formatters and catalogs, which
do not depend on the database, and it opens a few hundred pages.
"""

import json
import re
from datetime import date
from datetime import datetime
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask_login import login_user

from admin_views.activity import ActivityLogView
from app.extensions import db
from app.i18n import local_date
from app.i18n import local_datetime
from app.models import ActivityLog
from app.models import Coupon
from app.models import CouponKind
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Floor
from app.models import Gender
from app.models import Key
from app.models import LockerCategory
from app.models import PaymentMethod
from app.models import PriceRule
from app.models import RentalTerm
from app.models import Tag
from app.models import TicketPriority
from app.models import Zone
from app.models import ZoneKind
from app.services import audit
from app.services import billing
from app.services import clients
from app.services import clock
from app.services import handover
from app.services import lost_found
from app.services import maintenance
from app.services import rentals
from app.services import settings
from app.services import waitlist
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from app.web import error_page

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = [pytest.mark.slow, pytest.mark.databases("sqlite", "postgresql")]

# Words that are Latin on purpose: brands, abbreviations and units a desk in Bangladesh
# writes in Latin, and the name of the other language in the language switch.
ALLOWED_WORDS = {
    "bKash", "Nagad", "SSLCommerz", "WhatsApp", "SMS", "NID", "VAT", "BIN", "PDF", "CSV",
    "XLSX", "QR", "ID", "IP", "UTF", "MB", "BDT", "English",
    # The providers and protocols of messages, as their settings name them.
    "SMTP", "SSL", "Wireless", "API", "Cloud", "SID", "Meta",
    # Key formats the gateways hand keys out in (Nagad's settings).
    "PEM", "Base",  # Base64
    # Image formats, a unit, and the software the status page names.
    "JPEG", "PNG", "WebP", "GB", "Redis", "SQLite", "PostgreSQL", "MariaDB",
}
# Latin that is data, not interface: e-mail and web addresses, record numbers such as
# locker "A-101" or invoice "INV-2026-000001", a timezone ("Asia/Dhaka"), a browser's
# name as the activity log records it ("Werkzeug/3.1"), a file type (".xlsx"), and the
# placeholders of the invoice number format ("{prefix}-{YYYY}").
ALLOWED_PATTERNS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|https?://\S+"
    r"|\b[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-\d+\b"
    r"|\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b"
    r"|\b[A-Za-z]+/\d[\w.]*"
    r"|\.[a-z]{3,4}\b"
    r"|\{\w+(?::\w+)?\}"
    # A message template's placeholders ("{{ client_name }}"), and the words a setting
    # is written in ("sms -3", "starttls, ssl or none", "daily, weekly or off").
    r"|\{\{\s*\w+\s*\}\}"
    r"|\b(?:email|sms|whatsapp)\s+[+-]?\d+\b"
    r"|\b(?:starttls|ssl|none|daily|weekly|off)\b"
    r"|\b(?:Ctrl|Alt|Shift)\+\w\b"
    # The server's environment variables, named as they are set (BACKUP_ENCRYPTION_KEY).
    r"|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"
)
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’_]*")
# Attributes whose values a person reads on the screen.
READ_ATTRIBUTES = {"placeholder", "title", "alt", "data-placeholder"}
# Code, and keys printed on the keyboard in Latin (<kbd>Ctrl</kbd>).
SKIPPED_ELEMENTS = {"script", "style", "template", "kbd"}
# Links that are not pages of the interface: files, exports, the switch and the way out.
NOT_PAGES = re.compile(r"/export/|\.pdf\b|/pdf\b|/static/|/uploads/|/logout|/language"
                       r"|/healthz|/ajax/|/documents/")
RECORD_PAGES = re.compile(r"/(new|details|edit)/")
ROLES = (SUPER_ADMIN, MANAGER, FRONT_DESK, ACCOUNTANT)


class VisibleText(HTMLParser):
    """The text of a page a person can read, in pieces.

    The list filters' names, operations and choices are shown by script from
    the JSON in #filter-groups-data, so they are read from there.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces = []
        self._skipping = 0
        self._filters = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in SKIPPED_ELEMENTS:
            self._skipping += 1
            return
        self._filters = attributes.get("id") == "filter-groups-data"
        for name in sorted(READ_ATTRIBUTES & attributes.keys()):
            self.pieces.append(attributes[name] or "")
        if tag == "input" and (attributes.get("type") or "").lower() in ("submit", "button",
                                                                           "reset"):
            self.pieces.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS and self._skipping:
            self._skipping -= 1
        self._filters = False

    def handle_data(self, data):
        if self._skipping or not data.strip():
            return
        if self._filters:
            self.pieces.extend(_filter_texts(json.loads(data)))
        elif data.strip().startswith(("{", "[", '"')):
            # Data for scripts (an action's confirmation): the texts are its string values.
            self.pieces.extend(_json_texts(_json_or_none(data)) if _json_or_none(data)
                               else [data])
        else:
            self.pieces.append(data)


def _filter_texts(groups):
    """Every text the filter menu shows: the filters, their operations and choices."""
    for name, filters in groups.items():
        yield name
        for one in filters:
            yield one["operation"]
            for _value, label in one.get("options") or []:
                yield label


def _json_or_none(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_texts(value):
    """The string values in a piece of JSON (not its keys, which are for the code)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_texts(item)
    elif isinstance(value, str):
        yield value


def visible_text(html):
    """The pieces of text of `html` a person can read."""
    parser = VisibleText()
    parser.feed(html)
    return parser.pieces


def untranslated(html, known=()):
    """(word, the text it is in) for each Latin word of `html` no allowance covers."""
    found = []
    for piece in visible_text(html):
        for word in LATIN_WORD.findall(ALLOWED_PATTERNS.sub(" ", piece)):
            if word not in ALLOWED_WORDS and word not in known:
                found.append((word, " ".join(piece.split())[:80]))
    return found


class Links(HTMLParser):
    """The /admin links of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("/admin"):
            self.links.append(href)


def links_of(html):
    """The /admin links on a page, without files, exports and the way out."""
    parser = Links()
    parser.feed(html)
    return [link for link in parser.links if not NOT_PAGES.search(link)]


def _page_key(url):
    """One key for the pages that differ only in the record they show."""
    parts = urlsplit(url)
    record = "?id=N" if "id=" in parts.query else ""
    return re.sub(r"/\d+(?=/|$)", "/N", parts.path) + record


def _world(desk):
    """A branch in Bengali with a record of every kind, named in Bengali or digits.

    Texts the services write down (invoice lines, the activity log's summaries)
    are written in the desk's default language, Bengali, as on a real install.
    """
    desk.app.config["BABEL_DEFAULT_LOCALE"] = "bn"
    settings.put("company_name", "ফিটনেস জিম")
    settings.put("rental_prices_taka", {"*": {**settings.DEFAULT_PRICES["*"], "MONTHLY": 800},
                                        "সাধারণ": {"MONTHLY": 900}})
    branch = desk.make_branch(name="ধানমন্ডি শাখা", code="১")
    manager = desk.make_user(MANAGER, full_name="নাসরিন আক্তার")
    clients.publish_terms("শর্তাবলি", "মেয়াদ শেষে লকার খালি করা হয়।", by_user_id=manager.id)
    category = LockerCategory(name="সাধারণ", description="সাধারণ লকার")
    db.session.add_all([
        Tag(name="নিয়মিত"), category,
        DiscountRule(name="বার্ষিক ছাড়", kind=DiscountKind.TERM, term=RentalTerm.YEARLY,
                     percent_bp=1000),
        Coupon(code="২০২৬", kind=CouponKind.PERCENT, percent_bp=500),
        PriceRule(term=RentalTerm.MONTHLY, price_poisha=90000,
                  effective_from=clock.today("Asia/Dhaka")),
    ])
    db.session.commit()
    zone = Zone(floor=Floor(branch=branch, name="নিচতলা", level=0), name="পারিবারিক জোন",
                kind=ZoneKind.FAMILY)
    db.session.add(zone)
    db.session.commit()
    locker = desk.make_locker(zone=zone, number="১০১", category=category)
    spare = desk.make_locker(zone=zone, number="১০২")
    key = Key(locker=locker, tag="চাবি-১০১")
    db.session.add(key)
    db.session.commit()
    client = desk.make_client(branch=branch, name="রহিম উদ্দিন", gender=Gender.MALE)
    waiting = desk.make_client(branch=branch, name="করিম মিয়া", gender=Gender.MALE)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=manager.id)
    invoice = billing.invoice_of(rental.id)
    billing.record_payment(invoice.id, 10000, PaymentMethod.CASH, by_user_id=manager.id)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=manager.id)
    maintenance.open_ticket(spare.id, "কবজা ভাঙা", priority=TicketPriority.NORMAL,
                            by_user_id=manager.id)
    lost_found.record_item(spare.id, "তোয়ালে", by_user_id=manager.id,
                           cleaned_out_on=clock.today(branch.timezone) - timedelta(days=120))
    waitlist.join(waiting.id, zone.id, by_user_id=manager.id)
    return branch


def _known_data():
    """Latin words of data the install holds that the test did not name: the invoice prefix."""
    return set(LATIN_WORD.findall(str(settings.get("invoice_prefix"))))


def _check(browser, method, url, problems, known, **kwargs):
    """Request `url`; note its untranslated text; return the response."""
    response = browser.open(url, method=method, **kwargs)
    # A redirect's body is Werkzeug's, and no browser shows it.
    if response.mimetype == "text/html" and not 300 <= response.status_code < 400:
        for word, text in untranslated(response.get_data(as_text=True), known):
            problems.setdefault((word, text), set()).add(f"{method} {url} ({response.status_code})")
    return response


def _crawl(browser, problems, known):
    """Open every menu page, the record pages they link to and each create form sent empty."""
    home = _check(browser, "GET", "/admin/", problems, known)
    assert home.status_code == 200
    menu = links_of(home.get_data(as_text=True))
    seen = {_page_key("/admin/")}
    queue = [(link, True) for link in menu]
    while queue:
        url, follow = queue.pop(0)
        key = _page_key(url)
        if key in seen:
            continue
        seen.add(key)
        response = _check(browser, "GET", url, problems, known)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        if "/new/" in url:
            _check(browser, "POST", url, problems, known, data={})
        if follow:
            queue.extend((link, False) for link in links_of(response.get_data(as_text=True))
                         if RECORD_PAGES.search(link))
    return seen


def _report(problems):
    """Each offending text once, with (some of) the pages it is on."""
    return "\n".join(f"{word!r} in {text!r} on {len(pages)} page(s): {', '.join(sorted(pages)[:3])}"
                     for (word, text), pages in sorted(problems.items()))


# Templates and catalogs do not depend on the database: SQLite is enough.
@pytest.mark.databases("sqlite")
def test_every_page_reads_in_bengali_for_every_role(desk):
    """Does a Bengali-speaking desk meet any English on any screen, whatever its role?"""
    _world(desk)
    known = _known_data()
    problems = {}
    visited = 0
    for role in ROLES:
        browser = desk.login_as(role, locale="bn", full_name="সুমাইয়া ইসলাম")
        visited += len(_crawl(browser, problems, known))
        # The error pages: a page the role may not open, one that does not exist, a method
        # the URL does not take, and a request the server cannot make sense of.
        _check(browser, "GET", "/admin/users/" if role != SUPER_ADMIN else "/admin/nope/",
               problems, known)
        _check(browser, "GET", "/admin/no-such-page/", problems, known)
        _check(browser, "GET", "/language", problems, known)
        _check(browser, "POST", "/language", problems, known, data={"locale": "xx"})
    assert visited > 150, visited
    assert not problems, "untranslated text:\n" + _report(problems)


def test_the_crawler_sees_english_where_it_is_left(app):
    """Would the crawler notice an English word in text, a tooltip, an option or a filter?"""
    filters = json.dumps({"অবস্থা": [{"operation": "সমান", "options": [["A", "ACTIVE"]]}]})
    html = (f'<p>লকার Available</p><span title="is_active: true"></span>'
            f'<select><option value="__None">__None</option></select>'
            f'<div id="filter-groups-data">{filters}</div>'
            f'<p>admin@gym.local · A-101 · INV-2026-000001 · bKash <kbd>Ctrl</kbd></p>'
            f'<script>var english = "words";</script>')
    assert [word for word, _text in untranslated(html)] == [
        "Available", "is_active", "true", "None", "ACTIVE"]


def test_each_error_page_is_in_the_admins_look_and_leads_back(desk):
    """Do 403, 404, 405 and 400 say what happened in Bengali, with a way to the dashboard?"""
    browser = desk.login_as(FRONT_DESK, locale="bn")
    for method, url, code, title in (
            ("GET", "/admin/users/", 403, "অনুমতি নেই"),
            ("GET", "/admin/no-such-page/", 404, "পাতাটি পাওয়া যায়নি"),
            ("GET", "/language", 405, "এভাবে করা যায় না"),
            ("POST", "/language", 400, "অনুরোধটি বোঝা যায়নি")):
        response = browser.open(url, method=method, data={"locale": "xx"})
        html = response.get_data(as_text=True)
        assert response.status_code == code, url
        assert title in html, url
        assert 'href="/admin/"' in html and "ড্যাশবোর্ডে ফিরে যান" in html, url
        assert "navbar" in html and "desk.css" in html, url
    assert "GET" not in browser.get("/language").headers["Allow"]


def test_the_500_page_is_translated_too(desk):
    """When the server fails, does the page still speak Bengali and lead back?"""
    user = desk.make_user(MANAGER, locale="bn")
    with desk.app.test_request_context("/admin/"):
        login_user(user)
        body, code, _headers = error_page(RuntimeError("boom"))
    assert code == 500
    assert "কিছু একটা ভুল হয়েছে" in body and "ড্যাশবোর্ডে ফিরে যান" in body


def test_an_expired_session_shows_the_form_again_with_what_was_typed(desk):
    """A form sent after the session's CSRF token is gone: back to the form, nothing lost?"""
    browser = desk.login_as(MANAGER, locale="bn")
    desk.app.config["WTF_CSRF_ENABLED"] = True
    form_page = "/admin/tags/new/"
    sent = browser.post(form_page, data={"name": "সাপ্তাহিক", "csrf_token": "stale"},
                        headers={"Referer": f"http://localhost{form_page}"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith(form_page)
    assert db.session.execute(db.select(Tag).filter_by(name="সাপ্তাহিক")).first() is None
    again = browser.get(form_page).get_data(as_text=True)
    assert "আপনার সেশন শেষ হয়ে গিয়েছিল" in again
    assert 'value="সাপ্তাহিক"' in again
    # Once: the next visit is a fresh form.
    assert 'value="সাপ্তাহিক"' not in browser.get(form_page).get_data(as_text=True)


def test_every_logged_record_and_field_has_a_bengali_name(app):
    """Is every kind of record and every field the activity log can show named in Bengali?"""
    view = next(v for v in app.extensions["admin"][0]._views if isinstance(v, ActivityLogView))
    unnamed = []
    with app.test_request_context(headers={"Accept-Language": "bn"}):
        for mapper in db.Model.registry.mappers:
            model = mapper.class_
            if issubclass(model, audit.UNAUDITED_MODELS):
                continue
            name = model.__name__
            if untranslated(view._model_column(view, None, ActivityLog(model=name), "model")):
                unnamed.append(name)
            for attr in mapper.column_attrs:
                if attr.key != "id" and untranslated(view.field_name(name, attr.key)):
                    unnamed.append(f"{name}.{attr.key}")
    assert not unnamed


def test_changes_in_the_activity_log_read_as_the_desk_shows_values(app):
    """Are logged enum values, yes/no, poisha and times shown as everywhere else?"""
    view = next(v for v in app.extensions["admin"][0]._views if isinstance(v, ActivityLogView))
    entry = ActivityLog(model="Locker", changes={"status": ["available", "assigned"],
                                                 "needs_rekey": [False, True]})
    deposit = ActivityLog(model="DepositEntry", changes={"amount_poisha": 50000})
    with app.test_request_context(headers={"Accept-Language": "bn"}):
        table = str(view._changes_table(view, None, entry, "changes"))
        money = view._changes_export(view, None, deposit, "changes")
    assert "খালি" in table and "বরাদ্দকৃত" in table and "হ্যাঁ" in table and "না" in table
    assert "৳৫০০" in money


def test_dates_have_one_style_in_the_readers_digits(app):
    """Is a date dd/mm/yyyy and a time 24-hour, in Bengali digits for a Bengali reader?"""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert local_date(date(2026, 3, 9)) == "09/03/2026"
        assert local_datetime(datetime(2026, 1, 1, 18, 30)) == "02/01/2026 00:30"
    with app.test_request_context(headers={"Accept-Language": "bn"}):
        assert local_date(date(2026, 3, 9)) == "০৯/০৩/২০২৬"
