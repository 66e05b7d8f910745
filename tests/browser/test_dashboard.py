"""Does a manager arrange their own dashboard in a real browser, and does it stay so (SPEC D3)?"""

import pytest

from app.extensions import db
from app.models import DashboardLayout
from app.services import clients
from tests.browser.conftest import log_in
from tests.browser.test_csp_pages import Console

pytestmark = pytest.mark.browser


def _order(page):
    return page.eval_on_selector_all("#dashboard .dashboard-widget",
                                     "nodes => nodes.map(n => n.dataset.widget)")


def _saved(user_id):
    db.session.expire_all()
    layout = db.session.get(DashboardLayout, user_id)
    return [item["key"] for item in layout.widgets] if layout is not None else None


def _wait_saved(page, user_id, keys):
    for _ in range(50):
        if _saved(user_id) == keys:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"saved {_saved(user_id)}, expected {keys}")


def test_a_widget_dragged_resized_added_and_removed_stays_so_after_a_reload(live_desk, page):
    base_url, desk = live_desk
    branch = desk.make_branch()
    desk.make_locker(zone=desk.make_zone(branch=branch))
    manager = desk.make_user("Manager", locale="bn")
    console = Console(page)
    failed = []
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    log_in(page, base_url, manager)
    page.wait_for_selector('#dashboard .dashboard-widget[data-widget="revenue_chart"] canvas')
    before = _order(page)
    assert before[:3] == ["lockers", "occupancy", "expiring"]

    # Drag the third widget (by its handle) above the first.
    handle = page.locator('.dashboard-widget[data-widget="expiring"] .drag-handle')
    target = page.locator('.dashboard-widget[data-widget="lockers"] .card-header')
    handle.drag_to(target, target_position={"x": 40, "y": 5})
    after = _order(page)
    assert after[0] == "expiring" and after.index("lockers") < after.index("occupancy"), after
    _wait_saved(page, manager.id, after)

    # Make the monthly revenue chart small, remove the dues card, add it back at the end.
    page.click('.dashboard-widget[data-widget="revenue_chart"] [data-resize="s"]')
    page.click('.dashboard-widget[data-widget="dues"] [data-remove]')
    assert page.locator('#add-widget option[value="dues"]').count() == 1
    page.select_option("#add-widget", "dues")
    page.wait_for_selector('#dashboard .dashboard-widget[data-widget="dues"]')
    expected = [key for key in after if key != "dues"] + ["dues"]
    _wait_saved(page, manager.id, expected)

    page.reload()
    page.wait_for_selector("#dashboard .dashboard-widget")
    assert _order(page) == expected
    assert page.get_attribute('.dashboard-widget[data-widget="revenue_chart"]', "data-size") == "s"
    # In Bengali: the widget's title.
    assert page.inner_text('.dashboard-widget[data-widget="lockers"] h2') == "অবস্থা অনুযায়ী লকার"
    assert console.policy_violations() == [] and console.script_errors() == []
    assert failed == []

    # The feed shows what happens at the desk without a reload.
    clients.register_client(branch_id=branch.id, full_name="Live Feed Client",
                            phone="+8801712345678", by_user_id=manager.id)
    page.wait_for_selector('.dashboard-feed li:has-text("Live Feed Client")', timeout=15000)

    page.click('form[action$="/dashboard/reset"] button')
    page.wait_for_selector("#dashboard .dashboard-widget")
    assert _order(page) == before and _saved(manager.id) is None
