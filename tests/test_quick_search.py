"""The Ctrl+K quick search (SPEC D5) and the palette's shortcuts (SPEC U4)."""

from datetime import timedelta

import pytest
from flask import url_for

from app.extensions import db
from app.extensions import security
from app.models import Key
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow

URL = "/admin/quick_search/"


def _search(browser, q, **params):
    response = browser.get(URL, query_string={"q": q, **params})
    assert response.status_code == 200, response.status_code
    return response.get_json()


def _group(data, key):
    """The items of one group, or None when the group was not searched at all."""
    for group in data["groups"]:
        if group["key"] == key:
            return group["items"]
    return None


def _titles(data, key):
    return [item["title"] for item in _group(data, key) or []]


def _locker_url(desk, locker):
    """Where a locker opens: the grid on its branch and zone when the app has a grid, else its
    details page."""
    with desk.app.test_request_context():
        if "locker_grid.index" in desk.app.view_functions:
            return url_for("locker_grid.index", branch=locker.branch_id, zone=locker.zone_id,
                           locker=locker.id)
        return url_for("lockers.details_view", id=locker.id)


@pytest.fixture
def gym(desk):
    """A branch with two clients, two women's lockers with keys, and a bKash payment."""
    branch = desk.make_branch(name="Dhanmondi", code="DHN")
    rumana = desk.make_client(branch=branch, name="Rumana Akter", phone="+8801711123456",
                              nid="1990123456789")
    karim = desk.make_client(branch=branch, name="Karim Uddin", phone="+8801811000222")
    zone = desk.make_zone(branch, kind=ZoneKind.WOMEN, name="Women")
    w14 = desk.make_locker(zone=zone, number="W-014")
    w15 = desk.make_locker(zone=zone, number="W-015")
    key = Key(locker=w14, tag="K-DHN-W-014")
    payment = Payment(branch=branch, client=rumana, amount_poisha=80000, reference="8N7A6B5C4D")
    db.session.add_all([key, Key(locker=w15, tag="K-DHN-W-015"), payment])
    db.session.commit()
    return {"branch": branch, "rumana": rumana, "karim": karim, "w14": w14, "w15": w15,
            "key": key, "payment": payment}


def test_a_phone_typed_with_dashes_finds_the_client(desk, gym):
    """'01711-123456' finds Rumana, with her phone and status, and opens her profile."""
    browser = desk.login_as("Front Desk")
    items = _group(_search(browser, "01711-123456"), "clients")
    assert [(item["title"], item["detail"], item["badge"]) for item in items] == [
        ("Rumana Akter", "+8801711123456", "Active")]
    assert items[0]["url"] == f"/admin/client_profile/?id={gym['rumana'].id}"


def test_a_name_fragment_and_an_nid_find_the_client(desk, gym):
    """The start of a name word, or the NID, finds the client and nobody else."""
    browser = desk.login_as("Front Desk")
    assert _titles(_search(browser, "Ruma"), "clients") == ["Rumana Akter"]
    assert _titles(_search(browser, "akt"), "clients") == ["Rumana Akter"]
    assert _titles(_search(browser, "1990123456789"), "clients") == ["Rumana Akter"]
    assert _titles(_search(browser, "uddin"), "clients") == ["Karim Uddin"]


def test_a_locker_is_found_by_the_start_of_its_number(desk, gym):
    """'w-01' lists W-014 and W-015 with zone and status; each opens its locker."""
    browser = desk.login_as("Front Desk")
    items = _group(_search(browser, "w-01"), "lockers")
    assert [(item["title"], item["badge"]) for item in items] == [
        ("W-014", "Available"), ("W-015", "Available")]
    assert "Women" in items[0]["detail"]
    assert items[0]["url"] == _locker_url(desk, gym["w14"])


def test_an_exact_locker_number_jumps_to_the_locker(desk, gym):
    """Typing one locker's whole number is enough: Enter goes straight to it."""
    browser = desk.login_as("Front Desk")
    assert _search(browser, "W-015")["jump"] == _locker_url(desk, gym["w15"])
    assert _search(browser, "W-01")["jump"] is None


def test_a_locker_number_also_finds_the_client_holding_it(desk, gym):
    """Karim rents W-014: its number lists him under Clients; W-015 is free, so nobody."""
    now = utcnow()
    db.session.add(Rental(branch=gym["branch"], locker=gym["w14"], client=gym["karim"],
                          term=RentalTerm.MONTHLY, days=30, starts_at=now,
                          ends_at=now + timedelta(days=30), status=RentalStatus.ACTIVE,
                          holding_locker_id=gym["w14"].id, price_poisha=80000))
    db.session.commit()
    browser = desk.login_as("Front Desk")
    assert _titles(_search(browser, "w-014"), "clients") == ["Karim Uddin"]
    assert _titles(_search(browser, "W-015"), "clients") == []


def test_a_key_tag_is_found_exactly_and_jumps_to_its_locker(desk, gym):
    """A scanned tag, in any case, names its key and its locker; part of a tag finds no key."""
    browser = desk.login_as("Front Desk")
    data = _search(browser, "k-dhn-w-014")
    items = _group(data, "keys")
    assert [(item["title"], item["detail"]) for item in items] == [
        ("K-DHN-W-014", "Locker W-014")]
    assert items[0]["url"] == data["jump"] == _locker_url(desk, gym["w14"])
    assert _group(_search(browser, "K-DHN-W"), "keys") == []


def test_payments_are_found_by_reference_and_by_number(desk, gym):
    """The bKash transaction id, or '#<payment number>', opens the payment."""
    browser = desk.login_as("Front Desk")
    payment = gym["payment"]
    for typed in ("8N7A6B5C4D", "8n7a6b5c4d", f"#{payment.id}"):
        items = _group(_search(browser, typed), "payments")
        assert [item["url"] for item in items] == [
            f"/admin/payments/details/?id={payment.id}"], typed
        assert "৳800.00" in items[0]["title"] and "Rumana Akter" in items[0]["detail"]
    assert _group(_search(browser, "8N7A6B"), "payments") == []


def test_groups_follow_the_users_permissions(desk, gym):
    """An Accountant (no keys-view) gets no key tags; the Front Desk gets all five groups."""
    accountant = desk.login_as("Accountant")
    data = _search(accountant, "K-DHN-W-014")
    assert _group(data, "keys") is None
    assert {group["key"] for group in data["groups"]} == {"clients", "lockers", "invoices",
                                                          "payments"}
    front_desk = desk.login_as("Front Desk")
    assert {group["key"] for group in _search(front_desk, "K-DHN-W-014")["groups"]} == {
        "clients", "lockers", "keys", "invoices", "payments"}


def test_a_user_limited_to_a_branch_finds_only_that_branch(desk, gym):
    """Another branch's clients, lockers, keys and payments stay out of the results."""
    other = desk.make_branch(name="Gulshan", code="GUL")
    sadia = desk.make_client(branch=other, name="Sadia Rumana", phone="+8801911000333")
    locker = desk.make_locker(zone=desk.make_zone(other, kind=ZoneKind.WOMEN), number="W-016")
    db.session.add_all([Key(locker=locker, tag="K-GUL-W-016"),
                        Payment(branch=other, client=sadia, amount_poisha=5000,
                                reference="GULREF01")])
    db.session.commit()
    limited = desk.login_as("Front Desk", branch=gym["branch"])
    assert _titles(_search(limited, "rumana"), "clients") == ["Rumana Akter"]
    assert _titles(_search(limited, "W-01"), "lockers") == ["W-014", "W-015"]
    data = _search(limited, "K-GUL-W-016")
    assert _group(data, "keys") == [] and data["jump"] is None
    assert _group(_search(limited, "GULREF01"), "payments") == []
    everywhere = desk.login_as("Super Admin")
    assert _titles(_search(everywhere, "rumana"), "clients") == ["Rumana Akter", "Sadia Rumana"]
    assert _titles(_search(everywhere, "W-01"), "lockers") == ["W-014", "W-015", "W-016"]


def test_the_search_needs_a_signed_in_user_who_may_see_clients_or_lockers(desk, gym, client):
    """Strangers go to the login page; staff without clients-view or lockers-view get 403."""
    response = client.get(URL, query_string={"q": "rumana"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    security.datastore.create_role(name="Auditor", permissions=["reports-view"])
    db.session.commit()
    assert desk.login_as("Auditor").get(URL, query_string={"q": "rumana"}).status_code == 403


def test_the_answer_stays_small(desk, gym):
    """However many match, a group has at most 8 results and the answer a few kilobytes."""
    for n in range(20):
        desk.make_client(branch=gym["branch"], name=f"Karim Hossain {n:02d}")
    browser = desk.login_as("Super Admin")
    response = browser.get(URL, query_string={"q": "karim"})
    assert len(_group(response.get_json(), "clients")) == 8
    assert len(response.data) < 4000
    assert response.headers["Cache-Control"] == "private, no-store"


def test_short_or_odd_queries_find_nothing_and_do_not_fail(desk, gym):
    """One letter is too short; wildcards and quotes are searched literally."""
    browser = desk.login_as("Front Desk")
    assert _search(browser, "r")["groups"] == []
    for typed in ("%%", "' OR 1=1 --", "#", "#99999999999999999999999"):
        data = _search(browser, typed)
        assert all(_group(data, key) in ([], None) for key in ("clients", "lockers", "keys",
                                                               "payments")), typed


def test_assign_mode_lists_lockers_for_the_assign_screen(desk, gym):
    """Alt+A's palette: a locker or key tag leads to the assign screen, client kept."""
    browser = desk.login_as("Front Desk")
    response = browser.get(URL, query_string={"q": "K-DHN-W-015", "mode": "assign",
                                              "client_id": gym["rumana"].id})
    if "rental_desk.assign_view" not in desk.app.view_functions:
        assert response.status_code == 403
        return
    data = response.get_json()
    expected = (f"/admin/rental_desk/assign/?locker_id={gym['w15'].id}"
                f"&client_id={gym['rumana'].id}")
    assert data["jump"] == expected
    assert _group(data, "lockers")[0]["url"] == expected


def test_assign_mode_needs_the_right_to_rent(desk, gym):
    """An Accountant may search but not open the assign palette."""
    browser = desk.login_as("Accountant")
    response = browser.get(URL, query_string={"q": "W-014", "mode": "assign"})
    assert response.status_code == 403


def test_every_admin_page_carries_the_palette_and_its_shortcuts(desk, gym):
    """The Front Desk sees the palette with Ctrl+K and Alt+N; Alt+A only with the assign screen."""
    page = desk.login_as("Front Desk").get("/admin/lockers/").get_data(as_text=True)
    assert 'id="qs-config"' in page and "js/quick_search.js" in page
    assert "<kbd>Alt</kbd>+<kbd>N</kbd> New client" in page
    assert ("<kbd>Alt</kbd>+<kbd>A</kbd>" in page) is (
        "rental_desk.assign_view" in desk.app.view_functions)
    accountant_page = desk.login_as("Accountant").get("/admin/").get_data(as_text=True)
    assert 'id="qs-config"' in accountant_page
    assert "<kbd>Alt</kbd>+<kbd>N</kbd>" not in accountant_page
    assert "<kbd>Alt</kbd>+<kbd>A</kbd>" not in accountant_page


def test_staff_who_may_not_search_get_no_palette(desk):
    """A role without clients-view or lockers-view gets no palette at all."""
    security.datastore.create_role(name="Auditor", permissions=["reports-view"])
    db.session.commit()
    page = desk.login_as("Auditor").get("/admin/").get_data(as_text=True)
    assert 'id="qs-config"' not in page
