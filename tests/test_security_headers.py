"""Security headers on the desk's responses, and pages that need no inline code to work.

Every page is served with a nonce-based Content-Security-Policy, cannot be
framed or sniffed, and is not kept by the browser; static files stay cacheable.
Under that policy an inline handler, a `javascript:` link or a `style=`
attribute would simply not work, so no page may carry one.
"""

import html
import itertools
import re
from datetime import date
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask_admin.contrib.sqla import ModelView

from app.extensions import db
from app.models import Coupon
from app.models import CouponKind
from app.models import Invoice
from app.models import InvoiceLine
from app.models import Tag
from app.models import TicketPriority
from app.services import clients
from app.services import demo
from app.services import lost_found
from app.services import maintenance
from app.services import waitlist
from tests.test_production_login import https_browser
from tests.test_production_login import log_in

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

_numbers = itertools.count(1)

DIRECTIVES = ("default-src 'self'", "object-src 'none'", "base-uri 'self'",
              "frame-ancestors 'none'", "form-action 'self'", "img-src 'self' data: blob:")
# Static files are no pages. A list's pages other than these are about one record
# (details, edit, claim, resolve …) and are opened with the list's first record.
_NOT_A_PAGE = ("static", "security.static")
_WHOLE_LIST = ("index_view", "create_view", "ajax_lookup", "export")
# A list sorted, searched, filtered or turned to another page is the same page.
_SAME_LIST = {"sort", "desc", "page", "page_size", "search", "url"}


def nonce_of(response):
    """The nonce the response's Content-Security-Policy allows scripts with."""
    policy = response.headers.get("Content-Security-Policy", "")
    match = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert match, f"no script nonce in the policy {policy!r}"
    return match.group(1)


def assert_security_headers(response):
    """The headers every page of the desk is served with."""
    policy = response.headers.get("Content-Security-Policy", "")
    for directive in DIRECTIVES:
        assert directive in policy, f"{directive!r} missing from {policy!r}"
    nonce = nonce_of(response)
    assert f"style-src 'self' 'nonce-{nonce}'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"
    assert_not_stored(response)


def assert_not_stored(response):
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers


class InlineCode(HTMLParser):
    """Collects whatever in a page would need 'unsafe-inline' (or break under the policy)."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data"}

    def __init__(self, nonce):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems = []
        self._script = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline handler")
            elif name in self.URL_ATTRIBUTES and value.lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}> javascript: URL")
            elif name == "style":
                self.problems.append(f"<{tag} style={value!r}> style attribute")
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self._script = (tag, attributes, [])

    def handle_data(self, data):
        if self._script is not None:
            self._script[2].append(data)

    def handle_endtag(self, tag):
        if self._script is None or tag != self._script[0]:
            return
        tag, attributes, text = self._script
        self._script = None
        code = "".join(text).strip()
        is_data = attributes.get("type") == "application/json"
        if code and not is_data and attributes.get("nonce") != self.nonce:
            self.problems.append(f"<{tag}> with inline code and nonce {attributes.get('nonce')!r}: "
                                 f"{code[:80]!r}")


def inline_code_in(response):
    """What in the HTML of `response` the page's policy would block."""
    parser = InlineCode(nonce_of(response))
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser.problems


def _invoice(desk):
    """A small invoice of a new client, for the PDF."""
    client = desk.make_client()
    invoice = Invoice(
        number=f"INV-2026-{next(_numbers):06d}", branch_id=client.branch_id, client_id=client.id,
        issued_at=datetime(2026, 3, 17, 8, 5), due_on=date(2026, 4, 1), subtotal_poisha=80000,
        discount_poisha=0, vat_poisha=0, total_poisha=80000,
        lines=[InvoiceLine(position=1, kind="rent", description="Locker M-014, monthly",
                           amount_poisha=80000)],
    )
    db.session.add(invoice)
    db.session.commit()
    return invoice


def test_an_admin_page_is_served_with_every_security_header(desk):
    """Does the desk's home page come with the CSP, no framing, no sniffing and no-store?"""
    browser = desk.login_as("Super Admin")
    response = browser.get("/admin/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_the_login_page_is_served_with_every_security_header(client):
    """Is the login page protected (and not stored) before anyone signs in?"""
    response = client.get("/login")
    assert response.status_code == 200
    assert_security_headers(response)
    assert inline_code_in(response) == []


def test_an_export_and_a_pdf_are_not_stored_and_cannot_be_framed(desk):
    """Are a client export and an invoice PDF kept out of the cache, unframeable and unsniffed?"""
    browser = desk.login_as("Super Admin")
    desk.make_client()
    export = browser.get("/admin/clients/export/csv/")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert_security_headers(export)

    pdf = browser.get(f"/admin/documents/invoice/{_invoice(desk).id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert_not_stored(pdf)
    assert "frame-ancestors 'none'" in pdf.headers.get("Content-Security-Policy", "")
    assert pdf.headers.get("X-Frame-Options") == "DENY"
    assert pdf.headers.get("X-Content-Type-Options") == "nosniff"
    assert pdf.headers.get("Referrer-Policy") == "same-origin"


@pytest.mark.parametrize("path", ["/static/css/desk.css", "/admin/static/admin/js/helpers.js"])
def test_static_files_stay_cacheable_but_are_not_sniffed(desk, path):
    """Do the desk's and Flask-Admin's static files keep their cache headers, with nosniff?"""
    browser = desk.login_as("Front Desk")
    response = browser.get(path)
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_every_signed_in_page_is_not_stored(desk):
    """Are a list, a form and an account page all kept out of the browser's cache?"""
    browser = desk.login_as("Super Admin")
    for path in ("/admin/clients/", "/admin/lockers/new/", "/change", "/tf-setup"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert_not_stored(response)


def test_the_nonce_is_new_for_every_response_and_is_the_one_on_the_pages_scripts(desk):
    """Does each response carry a fresh nonce, the same one as every script tag of its page?"""
    browser = desk.login_as("Super Admin")
    first = browser.get("/admin/lockers/")
    second = browser.get("/admin/lockers/")
    assert nonce_of(first) != nonce_of(second)
    for response in (first, second):
        page = response.get_data(as_text=True)
        nonces = set(re.findall(r'<script\b[^>]*\bnonce="([^"]+)"', page))
        assert nonces == {nonce_of(response)}
        # desk.js, which binds what the inline handlers used to do, is on the page.
        assert re.search(rf'<script nonce="{nonce_of(response)}" src="[^"]*/js/desk\.js', page)


def _a_busy_desk(desk, user):
    """A branch with a history (rentals, payments, keys) and a row in every other list."""
    demo.load_demo_data(lockers=6, clients=8, years=1)
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.zone.branch, name="Nasrin Akter")
    db.session.add_all([Tag(name="Student"),
                        Coupon(code="WELCOME", kind=CouponKind.PERCENT, percent_bp=1000)])
    db.session.commit()
    clients.publish_terms("Locker terms", "Keep your key safe.", by_user_id=user.id)
    maintenance.open_ticket(locker.id, "Hinge squeaks", priority=TicketPriority.LOW,
                            by_user_id=user.id)
    lost_found.record_item(locker.id, "Blue towel", by_user_id=user.id)
    waitlist.join(client.id, locker.zone_id, by_user_id=user.id)
    db.session.commit()


def _pages(app):
    """Every admin address a GET opens with no id in the path; a list's other pages get its first record."""
    admin = app.extensions["admin"][0]
    first_ids = {}
    for view in admin._views:
        first = view.get_query().first() if isinstance(view, ModelView) else None
        if first is not None:
            first_ids[view.endpoint] = view.get_pk_value(first)
    for rule in app.url_map.iter_rules():
        if ("GET" not in rule.methods or rule.arguments or rule.endpoint in _NOT_A_PAGE
                or not rule.rule.startswith(f"{admin.url}/")):
            continue
        view_endpoint, _, name = rule.endpoint.rpartition(".")
        if name in _WHOLE_LIST or view_endpoint not in first_ids:
            yield rule.rule
        else:
            yield f"{rule.rule}?id={first_ids[view_endpoint]}"


def _page_kind(path):
    """A page's address and the names in its query, less a list's order, page, search and filters."""
    parts = urlsplit(path)
    names = parse_qs(parts.query, keep_blank_values=True)
    return parts.path, frozenset(name for name in names
                                 if name not in _SAME_LIST and not name.startswith("flt"))


def _links(response):
    """The desk's own pages a page links to (no file downloads)."""
    for href in re.findall(r'<a\b[^>]*\bhref="(/[^"#]*)"', response.get_data(as_text=True)):
        href = html.unescape(href)
        if not href.startswith(("//", "/static/", "/admin/static/", "/uploads/")) \
                and "/export/" not in href and not urlsplit(href).path.endswith(".pdf"):
            yield href


# Inline code is in templates, not in data: one database is enough (10-12 s on the others).
@pytest.mark.slow
@pytest.mark.databases("sqlite")
def test_no_page_of_the_desk_needs_inline_code(desk):
    """Does every page a Super Admin can open work under the policy: no handler, no inline script?"""
    browser = desk.login_as("Super Admin")
    _a_busy_desk(desk, browser.user)
    with desk.app.test_request_context():
        pages = sorted(set(_pages(desk.app)))
    # Then the pages those link to (a client's profile, the account pages …), once per
    # address and set of query parameters, as someone clicking through the desk would.
    seen = {_page_kind(path) for path in pages}
    checked, problems = [], {}
    while pages:
        path = pages.pop(0)
        response = browser.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        checked.append(path)
        assert_security_headers(response)
        if found := inline_code_in(response):
            problems[path] = found
        for link in _links(response):
            if _page_kind(link) not in seen:
                seen.add(_page_kind(link))
                pages.append(link)
    assert problems == {}
    # Every list, create form and details page was among them, not just a few pages.
    for kind in ("/admin/clients/", "/admin/lockers/new/", "/admin/lockers/details/",
                 "/admin/keys/details/", "/admin/maintenance/details/", "/admin/tags/details/",
                 "/admin/register_client/", "/admin/locker_grid/", "/admin/client_profile/",
                 "/change", "/tf-setup"):
        assert any(path.startswith(kind) for path in checked), kind
    assert len(checked) > 100, len(checked)


def _logout_form(page):
    """The menu's log-out form of a page: (action, its CSRF token, the button)."""
    for form in re.findall(r"<form\b.*?</form>", page.get_data(as_text=True), re.S):
        if re.search(r'action="/logout"', form):
            assert re.search(r'<form\b[^>]*method="post"', form, re.I), form
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
            button = re.search(r"<button\b[^>]*>\s*([^<]+?)\s*</button>", form)
            assert token and button, form
            return "/logout", token.group(1), button
    raise AssertionError("no log-out form on the page")


@pytest.mark.parametrize("menu_page", ["/admin/", "/change"])
def test_log_out_from_the_menu_signs_out_with_csrf_on(production, menu_page):
    """Does "Log out" in the desk's and the account pages' menus sign the user out (CSRF on)?"""
    user = production.make_user("Front Desk")
    browser = https_browser(production.app)
    assert log_in(browser, user.email).status_code == 302
    page = browser.get(menu_page)
    assert page.status_code == 200
    action, token, button = _logout_form(page)
    assert button.group(1) == "Log out"
    if menu_page == "/admin/":
        assert 'class="dropdown-item"' in button.group(0)

    response = browser.post(action, data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    after = browser.get("/admin/")
    assert after.status_code == 302 and "/login" in after.headers["Location"]

