"""Does every link a role is shown open for that role (no 403 behind a menu item or a card)?"""

import re
from urllib.parse import urlsplit

import pytest

from app.models import LockerStatus
from tests.factories import ROLES
from tests.test_permissions import _records

_HREF = re.compile(r'href="([^"#][^"]*)"')
# Not pages: files, exports, the language switch and the way out.
_NOT_PAGES = re.compile(r"/export/|\.pdf\b|/static/|/uploads/|/logout|/language|/ajax/")
# /admin/lockers/details/?id=3 and ?id=4 are one page to check.
_RECORD_ID = re.compile(r"(?<=[=/])\d+")


def _local_links(page):
    """The same-site page links of a page: menu, cards, buttons and row links."""
    links = set()
    for href in _HREF.findall(page):
        href = href.replace("&amp;", "&")
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if not _NOT_PAGES.search(href):
            links.add(href)
    return links


def _walk(browser, start, depth):
    """{url: (status, the page that links to it)} of every page within `depth` clicks of `start`."""
    seen, found_on, level = {}, {}, [start]
    kinds = set()
    for _ in range(depth + 1):
        following = []
        for url in level:
            kind = _RECORD_ID.sub("N", url)
            if url in seen or kind in kinds:
                continue
            kinds.add(kind)
            response = browser.get(url)
            seen[url] = response.status_code
            if response.status_code == 200 and response.mimetype == "text/html":
                for link in _local_links(response.get_data(as_text=True)):
                    found_on.setdefault(link, url)
                    following.append(link)
        level = following
    return {url: (status, found_on.get(url)) for url, status in seen.items()}


# Which links a role is shown and may open is decided by templates and permissions,
# the same on every database; the crawl costs 10-17 s per role on a server database.
@pytest.mark.slow
@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("role", ROLES)
def test_no_link_on_the_dashboard_or_in_the_menu_answers_403(desk, role):
    """A role follows every link it is shown, three clicks deep from the dashboard; none is refused."""
    browser = desk.login_as(role)
    _records(desk)
    pages = _walk(browser, "/admin/", depth=3)
    assert any(url.startswith("/admin/rentals/") for url in pages)
    refused = {url: on for url, (status, on) in pages.items() if status == 403}
    assert refused == {}, role


@pytest.mark.parametrize("role", ROLES)
def test_the_dashboard_figures_open_what_they_count(desk, role):
    """Every link on a role's default dashboard opens (no 403): each figure leads to its list."""
    desk.make_locker()
    browser = desk.login_as(role)
    page = browser.get("/admin/").get_data(as_text=True)
    board = page[page.index('id="dashboard"'):]
    cards = re.findall(r'<a class="card[^"]*home-card[^"]*"[^>]*href="([^"]+)"', board)
    # One card per locker status: every role may see lockers.
    assert len(cards) == len(LockerStatus), cards
    links = set(re.findall(r'<a [^>]*href="(/admin/[^"]+)"', board))
    for url in links:
        assert browser.get(url.replace("&amp;", "&")).status_code == 200, (role, url)


def test_the_menu_follows_a_change_of_permissions_and_language_at_once(desk):
    """The menu is kept once drawn, per page, language and set of permissions: a role given
    a permission sees the new item on its next page, in the language it reads."""
    from app.extensions import db
    from app.models import Role

    def menu(page):
        return page[page.index('id="admin-navbar-collapse"'):page.index("navbar-right")]

    browser = desk.login_as("Front Desk")
    assert "/admin/activity/" not in menu(browser.get("/admin/lockers/").get_data(as_text=True))
    role = db.session.execute(db.select(Role).filter_by(name="Front Desk")).scalar_one()
    role.permissions = [*role.permissions, "activity-view"]
    db.session.commit()
    shown = menu(browser.get("/admin/lockers/").get_data(as_text=True))
    assert "/admin/activity/" in shown and "Activity log" in shown
    browser.post("/language", data={"locale": "bn"})
    shown = menu(browser.get("/admin/lockers/").get_data(as_text=True))
    assert "কার্যক্রমের লগ" in shown and "Activity log" not in shown
