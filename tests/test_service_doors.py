"""One door per rule: generic admin forms and list actions go through the same services.

A locker made from the generic Lockers form gets its key and history like a
bulk-created one; a bulk renewal from the rentals list is priced and invoiced
exactly as the renew screen; no admin view of business data writes to the
database on its own.
"""

from flask_admin.contrib.sqla import ModelView

from admin_views.base import ServiceModelView
from app.extensions import db
from app.models import ActivityLog
from app.models import Branch
from app.models import Coupon
from app.models import DiscountRule
from app.models import Floor
from app.models import Invoice
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import LockerStatus
from app.models import PriceRule
from app.models import Rental
from app.models import RentalTerm
from app.models import Role
from app.models import Setting
from app.models import Tag
from app.models import User
from app.models import Zone
from app.models import ZoneKind
from app.services import rentals

# Reference data and system configuration, which a generic form may write:
# places, categories and tags (nothing hangs on a rule there), the price matrix
# and coupons (checked by the pricing view's own validation), staff and roles
# (Flask-Security's datastore) and settings (the settings service's coerce()).
GENERIC_ALLOWED = {Branch, Floor, Zone, LockerCategory, Tag, PriceRule, DiscountRule, Coupon,
                   User, Role, Setting}
OPERATIONS = (("create", "create_model", "create_service"),
              ("edit", "update_model", "update_service"),
              ("delete", "delete_model", "delete_service"))


def _model_views(app):
    admin = app.extensions["admin"][0]
    return [view for view in admin._views if isinstance(view, ModelView)]


def test_no_admin_view_of_business_data_writes_outside_its_service(app):
    """Every create, edit and delete a business list offers is handed to a service function."""
    offenders = []
    for view in _model_views(app):
        if view.model in GENERIC_ALLOWED:
            continue
        for operation, method, service in OPERATIONS:
            if not getattr(view, f"allow_{operation}", True):
                continue
            if isinstance(view, ServiceModelView) and getattr(view, service) is None:
                continue  # ServiceModelView switches an operation without a service off
            if getattr(type(view), method) is getattr(ModelView, method):
                offenders.append(f"{type(view).__name__}.{operation}")
    assert offenders == []


def test_a_locker_made_on_the_generic_form_gets_its_key_and_history(desk):
    """A manager adds one locker from Lockers → Create: Available, with key tag and history."""
    zone = desk.make_zone(kind=ZoneKind.MEN)
    manager = desk.login_as("Manager")
    response = manager.post("/admin/lockers/new/", data={
        "zone": str(zone.id), "number": " m-101 ", "size": LockerSize.LARGE.name, "notes": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    locker = db.session.execute(db.select(Locker).where(Locker.number == "M-101")).scalar_one()
    assert locker.status is LockerStatus.AVAILABLE and locker.size is LockerSize.LARGE
    assert [key.tag for key in locker.keys] == [f"K-{zone.branch.code}-M-101"]
    assert [event.kind for event in db.session.execute(db.select(KeyEvent)).scalars()] == [
        KeyEventKind.ADDED]
    assert [(c.from_status, c.to_status) for c in locker.status_changes] == [
        (None, LockerStatus.AVAILABLE)]
    assert db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Locker", ActivityLog.user_id == manager.user.id)).first()


def test_a_duplicate_locker_number_on_the_generic_form_is_refused(desk):
    """Renaming a locker to a number its branch already has is refused; nothing changes."""
    zone = desk.make_zone()
    first = desk.make_locker(zone=zone, number="M-001")
    second = desk.make_locker(zone=zone, number="M-002")
    manager = desk.login_as("Manager")
    page = manager.post(f"/admin/lockers/edit/?id={second.id}", data={
        "zone": str(zone.id), "number": "m-001", "size": LockerSize.MEDIUM.name,
        "notes": ""}).get_data(as_text=True)
    assert "Locker M-001 already exists in this branch." in page
    db.session.expire_all()
    assert db.session.get(Locker, second.id).number == "M-002"
    assert db.session.get(Locker, first.id).number == "M-001"


def test_a_locker_with_a_history_cannot_be_deleted(desk):
    """A locker that was ever rented keeps its history: deleting it is refused, with why."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.FAMILY))
    rental = rentals.assign(locker.id, desk.make_client(branch=locker.branch).id,
                            RentalTerm.WEEKLY, by_user_id=None)
    rentals.release(rental.id, by_user_id=None, locker_to=LockerStatus.AVAILABLE)
    unused_id = desk.make_locker(zone=locker.zone).id
    manager = desk.login_as("Manager")
    page = manager.post("/admin/lockers/delete/", data={"id": str(locker.id)},
                        follow_redirects=True).get_data(as_text=True)
    assert "has a history; put it Out of service instead" in page
    manager.post("/admin/lockers/delete/", data={"id": str(unused_id)})
    db.session.expire_all()
    assert db.session.get(Locker, locker.id) is not None
    assert db.session.get(Locker, unused_id) is None


def test_a_key_tag_on_the_generic_form_follows_the_tag_rules(desk):
    """A spare key added from Keys → Create is upper-cased, unique and gets its ADDED event."""
    locker = desk.make_locker()
    manager = desk.login_as("Manager")
    page = manager.post("/admin/keys/new/", data={
        "locker": str(locker.id), "tag": "spare 1", "notes": ""}).get_data(as_text=True)
    assert "A key tag has at most 40 characters and no spaces." in page
    response = manager.post("/admin/keys/new/", data={
        "locker": str(locker.id), "tag": " k-spare-1 ", "is_spare": "y", "notes": ""})
    assert response.status_code == 302
    key = db.session.execute(db.select(Key).where(Key.tag == "K-SPARE-1")).scalar_one()
    assert key.is_spare and [e.kind for e in key.events] == [KeyEventKind.ADDED]
    page = manager.post("/admin/keys/new/", data={
        "locker": str(locker.id), "tag": "K-Spare-1", "notes": ""}).get_data(as_text=True)
    assert "Key tag K-SPARE-1 is already in use." in page


def test_bulk_renew_of_twenty_rentals_bills_what_the_renew_screen_charges(desk):
    """20 rentals renewed from the list: 20 invoices, each equal to the renew screen's total."""
    zone = desk.make_zone(kind=ZoneKind.FAMILY)
    terms = [RentalTerm.MONTHLY, RentalTerm.WEEKLY, RentalTerm.QUARTERLY, RentalTerm.DAILY]
    originals = [rentals.assign(desk.make_locker(zone=zone).id,
                                desk.make_client(branch=zone.branch, name=f"Client {n}").id,
                                terms[n % len(terms)], by_user_id=None) for n in range(20)]
    screen_totals = {rental.id: rentals.renewal_quote(rental.id).total_poisha
                     for rental in originals}
    before = db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one()
    browser = desk.login_as("Front Desk")
    text = browser.post("/admin/rentals/action/", data={
        "action": "renew", "rowid": [str(r.id) for r in originals]},
        follow_redirects=True).get_data(as_text=True)
    assert "20 rentals renewed." in text
    assert db.session.execute(db.select(db.func.count(Invoice.id))).scalar_one() == before + 20
    for original in originals:
        renewal = db.session.execute(db.select(Rental).where(
            Rental.renewed_from_id == original.id)).scalar_one()
        invoice = db.session.execute(db.select(Invoice).where(
            Invoice.rental_id == renewal.id)).scalar_one()
        assert invoice.total_poisha == screen_totals[original.id] == renewal.price_poisha
        assert invoice.vat_poisha > 0
        assert f"invoice {invoice.number}" in text
