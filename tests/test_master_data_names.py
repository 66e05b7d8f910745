"""Are floors, zones, categories and tags named in Bengali for Bengali readers (issue 10)?"""

import pytest
from flask_babel import force_locale

from app.extensions import db
from app.models import Floor
from app.models import LockerCategory
from app.models import Setting
from app.models import Tag
from app.models import Zone
from app.models import ZoneKind
from app.services import settings

GRID = "/admin/locker_grid/"


def _bilingual_locker(desk):
    """A locker on floor "Ground floor" (নিচতলা), zone "Men" (পুরুষ), category Premium (প্রিমিয়াম)."""
    branch = desk.make_branch()
    floor = Floor(branch=branch, name="Ground floor", name_bn="নিচতলা", level=0)
    zone = Zone(floor=floor, name="Men", name_bn="পুরুষ", kind=ZoneKind.MEN)
    category = LockerCategory(name="Premium", name_bn="প্রিমিয়াম")
    db.session.add_all([floor, zone, category])
    db.session.commit()
    return desk.make_locker(zone=zone, number="M-001", category=category)


@pytest.mark.parametrize(("locale", "expected"), [("bn", "পুরুষ"), ("en", "Men")])
def test_the_name_follows_the_readers_language(desk, locale, expected):
    """A Bengali reader reads the Bengali name, anyone else the English one."""
    locker = _bilingual_locker(desk)
    with force_locale(locale):
        assert locker.zone.local_name == expected
        assert str(locker.zone) == f"{locker.zone.floor.local_name} · {expected}"


def test_without_a_bengali_name_the_english_one_is_shown(desk):
    """A tag nobody named in Bengali reads in English on a Bengali screen."""
    tag = Tag(name="Corporate")
    db.session.add(tag)
    db.session.commit()
    with force_locale("bn"):
        assert tag.local_name == "Corporate"
        assert str(tag) == "Corporate"


def test_the_lockers_list_shows_zone_and_category_in_the_users_language(desk):
    """On a Bengali screen the lockers list names the zone পুরুষ and the category প্রিমিয়াম."""
    _bilingual_locker(desk)
    bengali = desk.login_as("Manager", locale="bn").get("/admin/lockers/").get_data(as_text=True)
    english = desk.login_as("Manager", locale="en").get("/admin/lockers/").get_data(as_text=True)
    assert "পুরুষ" in bengali and "প্রিমিয়াম" in bengali
    assert "পুরুষ" not in english and "প্রিমিয়াম" not in english
    assert "Premium" in english


def test_the_grid_names_floors_and_zones_in_the_users_language(desk):
    """The grid's floor and zone headings and its floor/zone pickers speak the reader's language."""
    locker = _bilingual_locker(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch, locale="bn")
    groups = browser.get(GRID + "tiles", query_string={"branch": locker.branch_id}).get_json()
    assert [(group["fn"], group["zn"]) for group in groups["groups"]] == [("নিচতলা", "পুরুষ")]
    page = browser.get(GRID).get_data(as_text=True)
    assert ">নিচতলা</option>" in page and ">পুরুষ</option>" in page


@pytest.mark.parametrize(("endpoint", "fields"), [
    ("floors", {"name": "First floor", "name_bn": "দোতলা", "level": "1"}),
    ("zones", {"name": "Women", "name_bn": "মহিলা", "kind": "WOMEN"}),
    ("locker_categories", {"name": "Day-use", "name_bn": "দৈনিক", "description": ""}),
    ("tags", {"name": "Long-term", "name_bn": "দীর্ঘমেয়াদি"}),
])
def test_the_bengali_name_is_typed_in_the_admin_form(desk, endpoint, fields):
    """A Super Admin gives master data its Bengali name on the same form as the English one."""
    branch = desk.make_branch()
    floor = Floor(branch=branch, name="Ground floor", level=0)
    db.session.add(floor)
    db.session.commit()
    browser = desk.login_as("Super Admin")
    form = browser.get(f"/admin/{endpoint}/new/").get_data(as_text=True)
    assert 'name="name_bn"' in form
    related = {"floors": {"branch": str(branch.id)}, "zones": {"floor": str(floor.id)}}
    response = browser.post(f"/admin/{endpoint}/new/",
                            data={**fields, **related.get(endpoint, {})})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    model = {"floors": Floor, "zones": Zone, "locker_categories": LockerCategory,
             "tags": Tag}[endpoint]
    saved = db.session.execute(db.select(model).where(model.name == fields["name"])).scalar_one()
    assert saved.name_bn == fields["name_bn"]


@pytest.mark.slow
def test_the_demo_gym_is_named_in_both_languages(desk):
    """The demo's zones read পুরুষ / মহিলা, its floors তলা, and its invoices carry a real company."""
    from app.services.demo import load_demo_data

    load_demo_data(lockers=6, clients=4, years=1)
    names = dict(db.session.execute(db.select(Zone.name, Zone.name_bn)).all())
    assert names["Men"] == "পুরুষ" and names["Women"] == "মহিলা"
    floors = db.session.execute(db.select(Floor.name_bn)).scalars().all()
    assert floors and all(name.endswith("তলা") for name in floors)
    assert all(db.session.execute(db.select(LockerCategory.name_bn)).scalars())
    assert settings.get("company_name") and settings.get("company_bin")
    assert db.session.get(Setting, "company_name").value != "Locker desk gym"
