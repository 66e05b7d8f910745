"""The live locker grid (SPEC L4): tiles, marks, filters, the side panel, its menu and the change feed."""

import json
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import url_for
from redis import Redis

from app.extensions import db
from app.extensions import security
from app.i18n import local_datetime
from app.models import Floor
from app.models import Key
from app.models import KeyState
from app.models import LockerSize
from app.models import LockerStatus
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalTerm
from app.models import Zone
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import clients
from app.services import grid
from app.services import handover
from app.services import lockers
from app.services import rentals
from app.services.money import format_taka
from tests.conftest import TEST_REDIS_URL

GRID = "/admin/locker_grid/"


def _tiles(browser, **args):
    """{locker id: tile} of the grid's tile feed, and the whole answer."""
    response = browser.get(GRID + "tiles", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    return {tile["id"]: tile for tile in data["tiles"]}, data


def _changes(browser, since, **args):
    response = browser.get(GRID + "changes", query_string={"since": since, **args})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _embedded(page, element_id):
    start = page.index(f'<script type="application/json" id="{element_id}">')
    start = page.index(">", start) + 1
    return json.loads(page[start:page.index("</script>", start)])


def _page_config(page):
    """The settings the grid page hands to its script."""
    return _embedded(page, "grid-config")


def _page(browser, **args):
    """{locker id: tile} the grid page draws, the tiles and groups it carries, and its HTML."""
    response = browser.get(GRID, query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    data = _embedded(page, "grid-data")
    return {tile["id"]: tile for tile in data["tiles"]}, data, page


def _version(branch_id):
    value = Redis.from_url(TEST_REDIS_URL).get(f"locker_grid:{branch_id}:version")
    return int(value or 0)


def _set_status(locker, status, user, reason="by hand"):
    lockers.change_status(locker.id, status, by_user_id=user.id, manual=True, reason=reason)
    db.session.commit()


def _assign(locker, client, user, term=RentalTerm.MONTHLY):
    return rentals.assign(locker.id, client.id, term, by_user_id=user.id)


def _pay(rental, amount):
    """Cash taken at the desk on the rental's invoice."""
    billing.record_payment(billing.invoice_of(rental.id).id, amount, PaymentMethod.CASH,
                           by_user_id=None)


def _make_role(name, permissions):
    security.datastore.create_role(name=name, permissions=permissions)
    db.session.commit()


# --- tiles and marks ----------------------------------------------------------------------

def test_each_tile_shows_its_status_as_colour_and_text(desk):
    """Every status has its own colour class and says its name, so colour is never the only cue."""
    zone = desk.make_zone()
    free = desk.make_locker(zone=zone, number="M-001")
    broken = desk.make_locker(zone=zone, number="M-002")
    browser = desk.login_as("Manager")
    _set_status(broken, LockerStatus.OUT_OF_SERVICE, browser.user)

    tiles, _data, page = _page(browser)
    assert (tiles[free.id]["n"], tiles[free.id]["s"]) == ("M-001", "AVAILABLE")
    assert (tiles[broken.id]["n"], tiles[broken.id]["s"]) == ("M-002", "OUT_OF_SERVICE")
    labels = _page_config(page)["labels"]["statuses"]
    assert labels["OUT_OF_SERVICE"] == {"label": "Out of service", "icon": "⛔"}
    assert len({status["icon"] for status in labels.values()}) == len(LockerStatus)
    assert 'class="legend-item st-OUT_OF_SERVICE"' in page
    assert _tiles(browser)[0] == tiles


def test_tiles_mark_expiring_soon_overdue_unpaid_and_needs_rekey(desk):
    """Rentals ending within the setting's days, past their end, unpaid, and lost keys are marked."""
    zone = desk.make_zone()
    soon, overdue, paid, rekey = (desk.make_locker(zone=zone) for _ in range(4))
    browser = desk.login_as("Manager")
    user = browser.user
    _assign(soon, desk.make_client(branch=zone.branch), user, RentalTerm.DAILY)
    late = _assign(overdue, desk.make_client(branch=zone.branch), user, RentalTerm.DAILY)
    late.ends_at = utcnow() - timedelta(days=1)
    db.session.commit()
    rentals.expire_due()
    settled = _assign(paid, desk.make_client(branch=zone.branch), user, RentalTerm.MONTHLY)
    _pay(settled, settled.price_poisha)
    rekey.needs_rekey = True
    db.session.commit()

    tiles, _ = _tiles(browser)
    assert tiles[soon.id]["m"] == ["soon", "dues"]
    assert tiles[overdue.id]["s"] == "EXPIRED" and tiles[overdue.id]["m"] == ["overdue", "dues"]
    assert "m" not in tiles[paid.id]
    assert tiles[rekey.id]["m"] == ["rekey"]
    on_page, _data, page = _page(browser)
    assert on_page == tiles
    assert "Expiring soon" in page and "Needs re-key" in page


def test_a_past_holders_dues_are_not_the_new_holders(desk):
    """The tile and the panel show what the client holding the locker owes on it, nobody else's."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    left_owing = _assign(locker, desk.make_client(branch=locker.branch), browser.user)
    rentals.release(left_owing.id, by_user_id=browser.user.id, locker_to=LockerStatus.AVAILABLE)
    now_holding = _assign(locker, desk.make_client(branch=locker.branch), browser.user)
    _pay(now_holding, now_holding.price_poisha)
    tiles, _ = _tiles(browser)
    assert "dues" not in tiles[locker.id].get("m", [])
    assert grid.panel(locker.id, branch_id=None).dues_poisha == 0
    assert billing.owed_on_locker(locker.id, left_owing.client_id) == left_owing.price_poisha


def test_expiring_soon_follows_the_setting(desk):
    """With 'expiring soon' at 0 days, a rental ending tomorrow is not marked."""
    from app.services import settings

    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    _assign(locker, desk.make_client(branch=locker.branch), browser.user, RentalTerm.WEEKLY)
    tiles, _ = _tiles(browser)
    assert "soon" not in tiles[locker.id]["m"]
    settings.put("expiring_soon_days", "10")
    db.session.commit()
    tiles, _ = _tiles(browser)
    assert "soon" in tiles[locker.id]["m"]


def test_a_tile_shows_the_clients_initials_never_the_name(desk):
    """A screen across the room shows 'KU', the name only appears in the side panel."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    _assign(locker, desk.make_client(branch=locker.branch, name="Karim Uddin Ahmed"), browser.user)
    tiles, data = _tiles(browser)
    assert tiles[locker.id]["c"] == "KA"
    assert "Karim" not in str(data) and "Karim" not in _page(browser)[2]
    assert grid.initials("রুমানা আক্তার") == "রুআ"


# --- filters -------------------------------------------------------------------------------

def test_filters_narrow_the_grid_by_floor_zone_size_and_status(desk):
    """Floor, zone, size and status filters each keep only the lockers that match."""
    branch = desk.make_branch()
    ground = Floor(branch=branch, name="Ground", level=0)
    first = Floor(branch=branch, name="First", level=1)
    men = Zone(floor=ground, name="Men", kind=ZoneKind.MEN)
    women = Zone(floor=first, name="Women", kind=ZoneKind.WOMEN)
    db.session.add_all([ground, first, men, women])
    db.session.commit()
    small = desk.make_locker(zone=men, size=LockerSize.SMALL)
    large = desk.make_locker(zone=men, size=LockerSize.LARGE)
    upstairs = desk.make_locker(zone=women)
    browser = desk.login_as("Manager")
    _set_status(large, LockerStatus.CLEANING, browser.user)

    def ids(**args):
        return set(_tiles(browser, branch=branch.id, **args)[0])

    assert ids() == {small.id, large.id, upstairs.id}
    assert ids(floor=first.id) == {upstairs.id}
    assert ids(zone=men.id) == {small.id, large.id}
    assert ids(size="SMALL") == {small.id}
    assert ids(status="CLEANING") == {large.id}
    assert ids(floor=ground.id, size="LARGE", status="CLEANING") == {large.id}
    tiles, data, _page_html = _page(browser, branch=branch.id, floor=first.id)
    assert set(tiles) == {upstairs.id}
    assert [(group["fn"], group["zn"]) for group in data["groups"]] == [("First", "Women")]


def test_tiles_are_grouped_by_floor_and_zone_in_building_order(desk):
    """Floors come by level, zones by name, lockers by number."""
    branch = desk.make_branch()
    upper = Floor(branch=branch, name="Upper", level=2)
    lower = Floor(branch=branch, name="Lower", level=1)
    zones = [Zone(floor=upper, name="VIP", kind=ZoneKind.VIP),
             Zone(floor=lower, name="Women", kind=ZoneKind.WOMEN),
             Zone(floor=lower, name="Men", kind=ZoneKind.MEN)]
    db.session.add_all([upper, lower, *zones])
    db.session.commit()
    for zone in zones:
        desk.make_locker(zone=zone, number=f"{zone.name[0]}-002")
        desk.make_locker(zone=zone, number=f"{zone.name[0]}-001")
    browser = desk.login_as("Manager")
    _tiles_by_id, data = _tiles(browser, branch=branch.id)
    assert [(g["fn"], g["zn"]) for g in data["groups"]] == [
        ("Lower", "Men"), ("Lower", "Women"), ("Upper", "VIP")]
    assert [t["n"] for t in data["tiles"]] == ["M-001", "M-002", "W-001", "W-002", "V-001", "V-002"]


def test_a_bad_filter_is_reported_and_left_out(desk):
    """An unknown status or a floor of another branch gets a clear message; the rest still applies."""
    locker = desk.make_locker()
    other_floor = desk.make_zone().floor
    browser = desk.login_as("Manager")
    response = browser.get(GRID, query_string={"branch": locker.branch_id, "status": "BROKEN",
                                               "floor": other_floor.id})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose a status from the list." in text and "Choose a floor of this branch." in text
    assert [tile["id"] for tile in _embedded(text, "grid-data")["tiles"]] == [locker.id]
    response = browser.get(GRID + "tiles", query_string={"status": "BROKEN"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Choose a status from the list."


# --- branch scoping ------------------------------------------------------------------------

def test_a_branch_limited_user_sees_only_their_branch(desk):
    """Front Desk of one branch never sees another branch's lockers, whatever the URL says."""
    mine = desk.make_locker()
    theirs = desk.make_locker()
    browser = desk.login_as("Front Desk", branch=mine.branch)
    tiles, _data, page = _page(browser, branch=theirs.branch_id)
    assert set(tiles) == {mine.id}
    assert 'name="branch"' not in page
    tiles, _ = _tiles(browser, branch=theirs.branch_id)
    assert set(tiles) == {mine.id}
    assert set(_tiles(browser, branch="not-a-branch")[0]) == {mine.id}


def test_an_unlimited_user_picks_the_branch(desk):
    """A manager of every branch chooses the branch; the grid shows that branch only."""
    desk.make_locker()
    second = desk.make_locker()
    browser = desk.login_as("Manager")
    tiles, _data, page = _page(browser, branch=second.branch_id)
    assert set(tiles) == {second.id}
    assert 'name="branch"' in page


def test_the_panel_of_another_branchs_locker_is_not_found(desk):
    """A forged locker id of another branch answers 404, not the other branch's client."""
    mine = desk.make_locker()
    theirs = desk.make_locker()
    browser = desk.login_as("Front Desk", branch=mine.branch)
    assert browser.get(f"{GRID}locker/{theirs.id}").status_code == 404
    assert browser.get(f"{GRID}locker/{mine.id}").status_code == 200
    assert browser.get(f"{GRID}locker/999999").status_code == 404


def test_the_feed_never_shows_another_branchs_changes(desk):
    """A change in branch B does not reach a grid limited to branch A, even if it asks for B."""
    mine = desk.make_locker()
    theirs = desk.make_locker()
    browser = desk.login_as("Front Desk", branch=mine.branch)
    since = _changes(browser, 0)["version"]
    _set_status(theirs, LockerStatus.MAINTENANCE, browser.user)
    for args in ({}, {"branch": theirs.branch_id}):
        feed = _changes(browser, since, **args)
        assert feed["tiles"] == [] and feed["removed"] == []
    _set_status(mine, LockerStatus.MAINTENANCE, browser.user)
    assert [t["id"] for t in _changes(browser, 0, branch=theirs.branch_id)["tiles"]] == [mine.id]


# --- the menu ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "expected"), [
    ("Front Desk", ["assign", "reserve", "maintenance"]),
    ("Accountant", None),
    ("Desk trainee", ["assign", "reserve"]),
])
def test_the_menu_of_an_available_locker_follows_the_role(desk, role, expected):
    """Front Desk may assign and send to maintenance; a trainee without lockers-edit only assigns."""
    _make_role("Desk trainee", ["lockers-view", "rentals-view", "rentals-create"])
    locker = desk.make_locker()
    browser = desk.login_as(role)
    tiles, _ = _tiles(browser)
    assert tiles[locker.id].get("a") == expected


def test_the_menu_follows_the_lockers_status(desk):
    """Renew/release only with a rental, 'cleaning done' only when cleaning, no assigning a locker
    that needs a new key."""
    zone = desk.make_zone()
    assigned, cleaning, in_repair, rekey = (desk.make_locker(zone=zone) for _ in range(4))
    browser = desk.login_as("Manager")
    _assign(assigned, desk.make_client(branch=zone.branch), browser.user)
    _set_status(cleaning, LockerStatus.CLEANING, browser.user)
    _set_status(in_repair, LockerStatus.MAINTENANCE, browser.user)
    rekey.needs_rekey = True
    db.session.commit()
    tiles, _ = _tiles(browser)
    assert tiles[assigned.id]["a"] == ["renew", "release", "key", "maintenance"]
    assert tiles[cleaning.id]["a"] == ["maintenance", "cleaning_done"]
    assert "a" not in tiles[in_repair.id]
    assert tiles[rekey.id]["a"] == ["key", "maintenance"]


def test_the_panel_links_the_menu_to_the_target_screens(desk):
    """The panel's actions are links to the screens that do the work, with the locker filled in."""
    locker = desk.make_locker()
    browser = desk.login_as("Front Desk", branch=locker.branch)
    _set_status(locker, LockerStatus.CLEANING, browser.user)
    text = browser.get(f"{GRID}locker/{locker.id}").get_data(as_text=True)
    assert f'href="/admin/lockers/status/?ids={locker.id}&amp;status=AVAILABLE"' in text
    assert f'href="/admin/lockers/status/?ids={locker.id}&amp;status=MAINTENANCE"' in text
    config = _page_config(browser.get(GRID).get_data(as_text=True))
    with desk.app.test_request_context():
        assert config["actionUrls"]["maintenance"] == url_for(
            "lockers.status_view", ids="__ID__", status="MAINTENANCE")


def test_the_accountant_sees_no_actions_in_the_panel(desk):
    """Without rental, key or locker editing rights the panel offers nothing to do."""
    locker = desk.make_locker()
    browser = desk.login_as("Accountant")
    text = browser.get(f"{GRID}locker/{locker.id}").get_data(as_text=True)
    assert "Nothing you may do with this locker." in text and "data-action=" not in text


# --- the side panel ----------------------------------------------------------------------------

def test_the_panel_shows_client_keys_term_dues_and_the_last_ten_changes(desk):
    """Tapping a tile shows who rents it, their photo and phone, keys, expiry, what they owe and
    the locker's last 10 status changes, with links to the client and the locker."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch, name="Rumana Akter", phone="+8801811234567",
                              photo_path="clients/rumana.jpg")
    db.session.add(Key(locker=locker, tag="K-RUM-1", state=KeyState.WITH_CLIENT))
    db.session.commit()
    browser = desk.login_as("Front Desk", branch=locker.branch)
    for step in range(1, 13):
        target = LockerStatus.MAINTENANCE if step % 2 else LockerStatus.AVAILABLE
        _set_status(locker, target, browser.user, reason=f"step-{step:02d}")
    rental = _assign(locker, client, browser.user, RentalTerm.MONTHLY)
    _pay(rental, 30000)

    text = browser.get(f"{GRID}locker/{locker.id}").get_data(as_text=True)
    assert "Rumana Akter" in text and "+8801811234567" in text
    assert 'src="/uploads/clients/rumana.jpg?thumb=1"' in text
    assert "K-RUM-1" in text and "With client" in text
    assert format_taka(rental.price_poisha - 30000) in text
    with desk.app.test_request_context(headers={"Accept-Language": "en"}):
        assert local_datetime(rental.ends_at) in text
    assert f'href="/admin/client_profile/?id={client.id}"' in text
    assert f'href="/admin/lockers/details/?id={locker.id}"' in text
    assert text.count('class="grid-panel-change"') == 10
    assert "step-12" in text and "step-04" in text and "step-03" not in text


def test_the_panel_hides_the_photo_from_staff_who_may_not_see_clients(desk):
    """A role without clients-view gets no photo (the file would be refused anyway)."""
    _make_role("Key runner", ["lockers-view"])
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch, photo_path="clients/x.jpg")
    manager = desk.make_user("Manager")
    _assign(locker, client, manager)
    browser = desk.login_as("Key runner")
    text = browser.get(f"{GRID}locker/{locker.id}").get_data(as_text=True)
    assert "clients/x.jpg" not in text and "client_profile" not in text


# --- the change feed ---------------------------------------------------------------------------

def test_a_committed_change_reaches_the_feed(desk):
    """After a status change is committed, the feed returns that tile with its new status."""
    locker = desk.make_locker()
    other = desk.make_locker(zone=locker.zone)
    browser = desk.login_as("Manager")
    _tiles_by_id, first = _tiles(browser)
    assert first["version"] == _version(locker.branch_id)
    _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    feed = _changes(browser, first["version"])
    assert feed["version"] == first["version"] + 1
    assert [(t["id"], t["s"]) for t in feed["tiles"]] == [(locker.id, "MAINTENANCE")]
    assert feed["removed"] == [] and other.id not in {t["id"] for t in feed["tiles"]}
    assert _changes(browser, feed["version"]) == {"version": feed["version"], "tiles": [],
                                                 "removed": []}


def test_a_rolled_back_change_is_never_announced(desk):
    """A change that was rolled back never shows on any grid."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    since = _changes(browser, 0)["version"]
    lockers.change_status(locker.id, LockerStatus.MAINTENANCE, by_user_id=browser.user.id,
                          manual=True)
    db.session.flush()
    db.session.rollback()
    assert _version(locker.branch_id) == since
    assert _changes(browser, since) == {"version": since, "tiles": [], "removed": []}


def test_a_refused_rental_is_never_announced(desk):
    """A rental the rules refuse (the locker is in repair) changes nothing and announces nothing."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    since = _version(locker.branch_id)
    with pytest.raises(rentals.RentalError):
        _assign(locker, desk.make_client(branch=locker.branch), browser.user)
    assert _version(locker.branch_id) == since


def test_a_locker_leaving_the_filter_is_listed_as_removed(desk):
    """A grid showing only Available lockers drops a locker that goes to maintenance."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    since = _changes(browser, 0, status="AVAILABLE")["version"]
    _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    feed = _changes(browser, since, status="AVAILABLE")
    assert feed["tiles"] == [] and feed["removed"] == [locker.id]


def test_payments_keys_and_client_names_reach_the_feed(desk):
    """Paying the dues, handing out a key and renaming the client each refresh the tile."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch, name="Karim Uddin")
    key = Key(locker=locker, tag="K-FEED-1")
    db.session.add(key)
    db.session.commit()
    browser = desk.login_as("Manager")
    rental = _assign(locker, client, browser.user)

    since = _version(locker.branch_id)
    _pay(rental, rental.price_poisha)
    feed = _changes(browser, since)
    assert [t["id"] for t in feed["tiles"]] == [locker.id] and "m" not in feed["tiles"][0]

    since = feed["version"]
    handover.issue_key(locker.id, key.id, deposit_poisha=0, by_user_id=browser.user.id)
    assert [t["id"] for t in _changes(browser, since)["tiles"]] == [locker.id]

    since = _version(locker.branch_id)
    clients.update_client(client.id, {"branch_id": client.branch_id, "full_name": "Zara Uddin",
                                      "phone": client.phone, "status": "ACTIVE"},
                          by_user_id=browser.user.id)
    assert [t["c"] for t in _changes(browser, since)["tiles"]] == ["ZU"]


def test_a_grid_too_far_behind_is_told_to_reload(desk, monkeypatch):
    """Older than the kept history, or newer than Redis knows (Redis lost its data): reload."""
    monkeypatch.setattr(grid, "HISTORY_SIZE", 2)
    zone = desk.make_zone()
    first, second, third = (desk.make_locker(zone=zone) for _ in range(3))
    browser = desk.login_as("Manager")
    since = _version(zone.branch_id)
    for locker in (first, second, third):
        _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    assert _changes(browser, since) == {"version": since + 3, "reload": True}
    assert [t["id"] for t in _changes(browser, since + 1)["tiles"]] == [second.id, third.id]
    assert _changes(browser, since + 50)["reload"] is True


def test_a_bad_since_is_refused(desk):
    """The feed needs a whole version number; anything else gets a clear 400."""
    desk.make_locker()
    browser = desk.login_as("Manager")
    for since in ("yesterday", "-1", "1.5", "²", ""):
        response = browser.get(GRID + "changes", query_string={"since": since})
        assert response.status_code == 400, since
        assert response.get_json()["error"] == "The version to start from must be a whole number."
    response = browser.get(GRID + "changes", query_string={"since": "0", "floor": "²"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "Choose a floor of this branch."


def test_one_change_stays_under_2_kb(desk):
    """The live update for one changed locker is small: compact tile JSON, no HTML."""
    locker = desk.make_locker(number="PREMIUM-LONG-001")
    browser = desk.login_as("Manager")
    _assign(locker, desk.make_client(branch=locker.branch, name="Mohammad Abdullah Al Mamun"),
            browser.user, RentalTerm.DAILY)
    since = _version(locker.branch_id)
    lockers.update_locker(locker.id, {"notes": "Door sticks"}, by_user_id=browser.user.id)
    response = browser.get(GRID + "changes", query_string={"since": since})
    assert [t["id"] for t in response.get_json()["tiles"]] == [locker.id]
    assert len(response.data) <= 2048
    assert "<" not in response.get_data(as_text=True)


def test_without_redis_the_grid_falls_back_and_changes_still_save(desk, caplog):
    """Redis down: the page renders, the feed says 'fallback', and the desk's changes are saved."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    with caplog.at_level(logging.WARNING):
        _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    assert "not announced" in caplog.text
    db.session.expire_all()
    assert locker.status is LockerStatus.MAINTENANCE
    tiles, data, _html = _page(browser)
    assert tiles[locker.id]["s"] == "MAINTENANCE" and data["version"] is None
    assert _changes(browser, 3) == {"reload": False, "fallback": True}
    tiles, data = _tiles(browser)
    assert data["version"] is None and tiles[locker.id]["s"] == "MAINTENANCE"


def test_grids_re_read_everything_after_redis_comes_back(desk):
    """A change that could not be announced makes open grids re-read once Redis is back."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    since = _version(locker.branch_id)
    working = desk.app.config["REDIS_URL"]
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    _set_status(locker, LockerStatus.MAINTENANCE, browser.user)
    desk.app.config["REDIS_URL"] = working
    desk.app.extensions["rq"]["redis"] = None
    desk.app.extensions["locker_grid"]["down_until"] = 0
    assert _changes(browser, since)["reload"] is True


def test_installing_the_listeners_again_announces_each_change_once(desk):
    """init_admin runs once per app; the session hooks must not pile up."""
    locker = desk.make_locker()
    user = desk.make_user("Manager")
    grid.install_listeners()
    grid.install_listeners()
    since = _version(locker.branch_id)
    _set_status(locker, LockerStatus.MAINTENANCE, user)
    assert _version(locker.branch_id) == since + 1


def test_the_tile_query_does_not_grow_with_the_number_of_lockers(desk):
    """A handful of SQL statements for 3 lockers or 15, rented or not: no query per locker."""
    zone = desk.make_zone()
    manager = desk.make_user("Manager")

    def add_lockers(count):
        for _ in range(count):
            locker = desk.make_locker(zone=zone)
            db.session.add(Key(locker=locker, tag=f"K-{locker.number}-{locker.id}",
                               state=KeyState.WITH_CLIENT))
            db.session.commit()
            _assign(locker, desk.make_client(branch=zone.branch), manager)

    browser = desk.login_as("Manager")
    statements = []

    def count(*args):
        statements.append(args[2])

    def measure():
        statements.clear()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            _tiles(browser, branch=zone.branch_id)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    add_lockers(3)
    few = measure()
    add_lockers(12)
    assert measure() == few
    assert len(_tiles(browser)[0]) == 15


# --- the page itself ----------------------------------------------------------------------------

def test_the_grid_needs_lockers_view(desk, client):
    """Strangers go to the login page; staff without lockers-view are refused."""
    _make_role("Cashier only", ["payments-view"])
    assert client.get(GRID).status_code == 302
    assert client.get(GRID + "changes?since=0").status_code == 302
    browser = desk.login_as("Cashier only")
    for path in (GRID, GRID + "tiles", GRID + "changes?since=0", GRID + "locker/1"):
        assert browser.get(path).status_code == 403


def test_the_grid_is_an_early_top_level_menu_item(desk):
    """'Locker grid' sits right after Home in the top menu, not inside a category."""
    browser = desk.login_as("Front Desk")
    page = browser.get("/admin/").get_data(as_text=True)
    home = page.index('href="/admin/"')
    grid_link = page.index(f'href="{GRID}"')
    clients = page.index('href="/admin/clients/"')
    assert home < grid_link < clients
    assert "Locker grid" in page[grid_link:grid_link + 200]


def test_the_page_polls_the_feed_from_the_version_it_was_drawn_at(desk):
    """The page carries its version and filters so its script asks only for what is newer."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    _tiles_by_id, data, page = _page(browser, branch=locker.branch_id, size="MEDIUM")
    assert data["version"] == _version(locker.branch_id)
    assert _page_config(page)["filters"] == {"branch": locker.branch_id, "size": "MEDIUM"}
    assert "/static/js/grid.js" in page and "/static/css/grid.css" in page


def test_rentals_outside_the_grid_are_left_alone(desk):
    """A released rental no longer holds the locker: the tile shows no client."""
    locker = desk.make_locker()
    browser = desk.login_as("Manager")
    rental = _assign(locker, desk.make_client(branch=locker.branch), browser.user)
    rentals.release(rental.id, by_user_id=browser.user.id)
    tiles, _ = _tiles(browser)
    assert tiles[locker.id]["s"] == "CLEANING" and "c" not in tiles[locker.id]
    assert db.session.get(Rental, rental.id).holding_locker_id is None


# --- initials: whole letters, conjuncts included (issue 10) --------------------------------

@pytest.mark.parametrize("name, expected", [
    ("শ্রী ঋত্বিক", "শ্রীঋ"),         # শ + ্ + র + ী is one letter, not "শ্"
    ("ক্ষমা", "ক্ষ"),                  # ক্ষ: ক + ্ + ষ
    ("স্বপ্ন দাস", "স্বদা"),            # স্ব, then দা with its vowel sign
    ("স্ত্রী আক্তার", "স্ত্রীআ"),        # two viramas: স + ্ + ত + ্ + র + ী
    ("র\u200d্যাব হোসেন", "র\u200d্যাহো"),  # ra-phala written with a joiner stays whole
    ("চাঁদ মিয়া", "চাঁমি"),            # chandrabindu belongs to its letter
    ("Karim Uddin Ahmed", "KA"),
    ("émile zola", "ÉZ"),
    ("  ", ""),
])
def test_initials_take_whole_letters_of_the_first_and_last_word(name, expected):
    """A tile shows the first letter of the first and last word as a reader writes it."""
    assert grid.initials(name) == expected


def test_a_conjunct_is_never_cut_at_its_virama():
    """No initial ends in a virama (্) when the word goes on: the conjunct is kept whole."""
    for name in ("শ্রী ঋত্বিক", "ক্ষমা", "স্বপ্ন", "দ্বীপ", "ত্রিশা", "জ্ঞান"):
        for letter in (grid.first_letter(word) for word in name.split()):
            assert not letter.endswith("\u09cd"), (name, letter)
