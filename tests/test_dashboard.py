"""The dashboard (SPEC D1–D4, D6, issue 13): each user's widgets, who may see which, the live feed.

Figures are checked against the hand-worked story of tests/test_figures.py (its
docstring has the numbers); here, that the screen shows them and links them.
"""

import contextvars
import re
from collections import namedtuple

import pytest

from admin_views import dashboard as dashboard_view
from app.extensions import db
from app.models import DashboardLayout
from app.models import Role
from app.models import base
from app.services import clients
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from tests.factories import ROLES
from tests.test_figures import NOW
from tests.test_figures import story  # noqa: F401  (the fixture)

# Screens, pages and files: the same SQL on every database. PostgreSQL stands for the
# server databases (its strict types catch what SQLite lets pass); MariaDB runs the
# tests of the services and their SQL, which the CI's time allows on all three.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def _shown(page):
    return re.findall(r'data-widget="([a-z_]+)" data-size="([sml])"', page)


def _save(browser, widgets):
    token = re.search(r'data-csrf="([^"]+)"', browser.get("/admin/").get_data(as_text=True))[1]
    return browser.post("/admin/dashboard/layout", json={"widgets": widgets},
                        headers={"X-CSRFToken": token})


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_default_and_only_widgets_it_may(desk, role):
    browser = desk.login_as(role)
    shown = _shown(browser.get("/admin/").get_data(as_text=True))
    keys = [key for key, _size in shown]
    assert keys == [item["key"] for item in dashboard_view.ROLE_DEFAULTS[role]]
    user = browser.user
    for key, widget in dashboard_view.WIDGETS.items():
        status = browser.get(f"/admin/widget/{key}").status_code
        assert status == (200 if widget.allowed(user) else 403), (role, key)


def test_the_front_desk_is_not_shown_money_and_cannot_add_it(desk):
    """Revenue is for the accountant and the manager; a forged layout cannot add it."""
    browser = desk.login_as(FRONT_DESK)
    page = browser.get("/admin/").get_data(as_text=True)
    assert 'value="revenue"' not in page and 'data-widget="revenue"' not in page
    assert browser.get("/admin/widget/revenue").status_code == 403
    assert browser.get("/admin/widget/revenue_chart").status_code == 403
    response = _save(browser, [{"key": "lockers", "size": "l"}, {"key": "revenue", "size": "s"}])
    assert response.status_code == 400 and "not one you may add" in response.json["error"]
    assert db.session.get(DashboardLayout, browser.user.id) is None
    assert browser.get("/admin/widget/nonsense").status_code == 404


def test_a_user_arranges_their_dashboard_and_resets_it(desk):
    manager = desk.login_as(MANAGER, locale="bn")
    other = desk.login_as(MANAGER)
    arranged = [{"key": "revenue_chart", "size": "s"}, {"key": "lockers", "size": "m"},
                {"key": "feed", "size": "l"}]
    assert _save(manager, arranged).json == {"widgets": arranged}
    page = manager.get("/admin/").get_data(as_text=True)
    assert _shown(page) == [("revenue_chart", "s"), ("lockers", "m"), ("feed", "l")]
    # What was removed is offered again, in Bengali.
    assert '<option value="dues">বকেয়া</option>' in page
    # Another user's dashboard is their own.
    assert [key for key, _ in _shown(other.get("/admin/").get_data(as_text=True))] == [
        item["key"] for item in dashboard_view.ROLE_DEFAULTS[MANAGER]]

    # Refused in the user's language, and nothing changes.
    for bad, message in (([{"key": "lockers", "size": "xl"}], "ছোট, মাঝারি বা বড়"),
                         ([{"key": "lockers", "size": "s"}] * 2, "একবারই"),
                         ("lockers", "পড়া যায়নি")):
        response = _save(manager, bad)
        assert response.status_code == 400 and message in response.json["error"], bad
    assert _shown(manager.get("/admin/").get_data(as_text=True))[0] == ("revenue_chart", "s")

    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      manager.get("/admin/").get_data(as_text=True))[1]
    manager.post("/admin/dashboard/reset", data={"csrf_token": token})
    assert [key for key, _ in _shown(manager.get("/admin/").get_data(as_text=True))] == [
        item["key"] for item in dashboard_view.ROLE_DEFAULTS[MANAGER]]


def test_a_widget_whose_permission_goes_leaves_the_dashboard(desk):
    accountant = desk.login_as(ACCOUNTANT)
    _save(accountant, [{"key": "revenue", "size": "s"}, {"key": "lockers", "size": "l"}])
    role = db.session.execute(db.select(Role).where(Role.name == ACCOUNTANT)).scalar_one()
    role.permissions = [p for p in role.permissions if p != "reports-view"]
    db.session.commit()
    assert _shown(accountant.get("/admin/").get_data(as_text=True)) == [("lockers", "l")]
    assert accountant.get("/admin/widget/revenue").status_code == 403


# Frozen: a stand-in clock that always says the story's "now".
STORY_CLOCK = namedtuple("StoryClock", "at")(NOW)


@pytest.fixture
def story_now(story, monkeypatch):  # noqa: F811  (the fixture imported above)
    """The story's "now" (20 March 2026) in the requests too, which run in a context of their own."""
    monkeypatch.setattr(base, "simulated_clock",
                        contextvars.ContextVar("story_clock", default=STORY_CLOCK))
    return story


def test_the_widgets_show_the_storys_figures_and_link_them(story_now, desk):
    """March's ৳3,140 and the dues of ৳420 + ৳300 + Dipu's ৳920 (tests/test_figures.py)."""
    manager = desk.login_as(MANAGER)
    page = manager.get("/admin/").get_data(as_text=True)
    assert re.search(r'data-figure="revenue-month">৳3,140.00<', page)
    month = re.search(r'href="([^"]+)"><div class="h4 mb-0" data-figure="revenue-month"', page)[1]
    listed = manager.get(month.replace("&amp;", "&")).get_data(as_text=True)
    assert "920.00" in listed and "1,000.00" in listed
    # Dues are read over every invoice: the page leaves a frame the browser fills in.
    assert re.search(r'data-widget="dues" data-size="s" data-waiting', page)
    dues = manager.get("/admin/widget/dues").get_data(as_text=True)
    assert re.search(r'data-figure="dues">৳1,640.00<', dues)
    # Every widget draws with this data, and every link in them opens.
    charts = 0
    for key in dashboard_view.WIDGETS:
        html = manager.get(f"/admin/widget/{key}").get_data(as_text=True)
        assert f'data-widget="{key}"' in html and "data-waiting" not in html
        charts += html.count('class="chart-data"')
        for url in set(re.findall(r'<a [^>]*href="(/admin/[^"]+)"', html)):
            assert manager.get(url.replace("&amp;", "&")).status_code == 200, (key, url)
    assert charts == 3


def test_the_utilisation_widget_changes_its_period(story_now, desk):
    manager = desk.login_as(MANAGER)
    for by in ("day", "week", "month"):
        html = manager.get(f"/admin/widget/utilisation?by={by}").get_data(as_text=True)
        assert re.search(rf'class="btn btn-outline-primary active" data-widget-args="by={by}"',
                         html)
    assert manager.get("/admin/widget/utilisation?by=century").status_code == 200


def test_the_feed_shows_desk_actions_of_the_users_branch_as_they_happen(desk):
    branch, other_branch = desk.make_branch(), desk.make_branch()
    admin = desk.login_as(SUPER_ADMIN)
    limited = desk.login_as(FRONT_DESK, branch=branch)
    first = _register(branch, "Rahima Begum", "+8801712000001", admin.user.id)
    _register(other_branch, "Elsewhere Khan", "+8801712000002", admin.user.id)
    items = limited.get("/admin/feed").json["items"]
    assert [(item["label"], item["client"]) for item in items] == [
        ("Client registered", "Rahima Begum")]
    assert items[0]["link"] == f"/admin/client_profile/?id={first.id}"
    newest = items[0]["id"]
    assert limited.get(f"/admin/feed?after={newest}").json["items"] == []
    _register(branch, "Karim Mia", "+8801712000003", admin.user.id)
    assert [item["client"] for item in
            limited.get(f"/admin/feed?after={newest}").json["items"]] == ["Karim Mia"]
    assert len(admin.get("/admin/feed").json["items"]) == 3
    assert limited.get("/admin/feed?after=x").status_code == 400
    page = limited.get("/admin/").get_data(as_text=True)
    assert "Rahima Begum" in page and "Elsewhere Khan" not in page


def _register(branch, name, phone, by_user_id):
    return clients.register_client(branch_id=branch.id, full_name=name, phone=phone,
                                   by_user_id=by_user_id)


def _save_in_a_second_tab(user_id, widgets):
    from app.services import dashboard

    saved = dashboard.save_layout(user_id, widgets, set(dashboard_view.WIDGETS))
    return ",".join(item["key"] for item in saved)


@pytest.mark.race
@pytest.mark.databases("sqlite", "postgresql", "mariadb")  # the insert race differs on each
def test_two_tabs_saving_a_first_arrangement_at_once_both_succeed_and_one_stays(app, desk):
    """Both first saves insert the user's row at once: neither fails, the last one stays."""
    from tests.races import race

    user = desk.make_user(MANAGER)
    first = [{"key": "lockers", "size": "l"}]
    second = [{"key": "feed", "size": "m"}, {"key": "lockers", "size": "s"}]
    outcomes = race(app, _save_in_a_second_tab, [(user.id, first), (user.id, second)])
    assert sorted(outcomes) == ["feed,lockers", "lockers"], outcomes
    db.session.expire_all()
    kept = db.session.get(DashboardLayout, user.id).widgets
    assert kept in (first, second)
