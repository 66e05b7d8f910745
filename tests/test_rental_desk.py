"""The desk's rental screens: assign with a price, reserve, renew, release."""

from app.extensions import db
from app.models import Gender
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import rentals


def _setup(desk, kind=ZoneKind.MEN):
    locker = desk.make_locker(zone=desk.make_zone(kind=kind), number="M-021")
    client = desk.make_client(branch=locker.branch, name="Karim Uddin", phone="+8801711123456")
    return locker, client


def test_assign_shows_the_price_then_assigns(desk):
    """The desk types the locker and the phone, sees the price, and confirms."""
    locker, client = _setup(desk)
    browser = desk.login_as("Front Desk", branch=locker.branch)
    page = browser.post("/admin/rental_desk/assign/", data={
        "locker_number": "m-021", "client_query": "01711-123456", "term": "MONTHLY",
        "check": "1"}).get_data(as_text=True)
    # Rent ৳800.00 plus 15 % VAT (the default setting), every line shown.
    assert "Karim Uddin" in page and "৳800.00" in page and "৳120.00" in page and "৳920.00" in page
    assert db.session.execute(db.select(Rental)).first() is None
    response = browser.post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_id": str(client.id), "term": "MONTHLY", "confirm": "1"})
    assert response.status_code == 302
    rental = db.session.execute(db.select(Rental)).scalar_one()
    assert rental.status is RentalStatus.ACTIVE and rental.price_poisha == 92000
    assert rental.status_changes[0].changed_by_id == browser.user.id


def test_a_banned_client_is_refused_on_screen(desk):
    """The story's end: a banned client cannot be assigned, with the reason shown."""
    locker, client = _setup(desk)
    client.status = client.status.BANNED
    client.ban_reason = "Lost three keys"
    db.session.commit()
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_id": str(client.id), "term": "MONTHLY", "confirm": "1"})
    assert "Karim Uddin is banned and cannot rent a locker." in response.get_data(as_text=True)
    assert db.session.get(Locker, locker.id).status is LockerStatus.AVAILABLE


def test_a_mismatch_asks_a_manager_for_a_reason(desk):
    """A woman in the men's zone: the desk sees the warning, a manager overrides."""
    locker, client = _setup(desk)
    client.gender = Gender.FEMALE
    db.session.commit()
    form = {"locker_number": "M-021", "client_id": str(client.id), "term": "WEEKLY",
            "confirm": "1"}
    front_desk = desk.login_as("Front Desk")
    page = front_desk.post("/admin/rental_desk/assign/", data=form).get_data(as_text=True)
    assert "Only a manager can override this." in page
    manager = desk.login_as("Manager")
    page = manager.post("/admin/rental_desk/assign/", data=form).get_data(as_text=True)
    assert 'name="override_reason"' in page
    response = manager.post("/admin/rental_desk/assign/",
                            data={**form, "override_reason": "Family zone full"})
    assert response.status_code == 302
    rental = db.session.execute(db.select(Rental)).scalar_one()
    assert rental.status_changes[-1].reason == "override: Family zone full"


def test_several_clients_match_and_the_desk_picks_one(desk):
    """A name shared by two clients lists both to choose from."""
    locker, client = _setup(desk)
    desk.make_client(branch=locker.branch, name="Karim Hasan")
    page = desk.login_as("Front Desk").post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_query": "karim", "term": "MONTHLY", "confirm": "1"})
    text = page.get_data(as_text=True)
    assert "Karim Uddin" in text and "Karim Hasan" in text and "Choose one client." in text


def test_reserve_renew_and_release_from_the_screens(desk):
    """Reserve → assign → renew → release, each from its screen."""
    locker, client = _setup(desk)
    browser = desk.login_as("Front Desk")
    assert browser.post("/admin/rental_desk/reserve/", data={
        "locker_number": "M-021", "client_id": str(client.id), "hours": "3",
        "confirm": "1"}).status_code == 302
    assert db.session.get(Locker, locker.id).status is LockerStatus.RESERVED
    assert browser.post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_id": str(client.id), "term": "MONTHLY",
        "confirm": "1"}).status_code == 302
    rental = db.session.execute(db.select(Rental)).scalar_one()
    assert "৳800.00" in browser.get(f"/admin/rental_desk/renew/?rental_id={rental.id}").get_data(
        as_text=True)
    assert browser.post("/admin/rental_desk/renew/",
                        data={"rental_id": rental.id}).status_code == 302
    renewal = db.session.execute(db.select(Rental).where(Rental.renewed_from_id == rental.id)
                                 ).scalar_one()
    response = browser.post("/admin/rental_desk/release/", data={
        "rental_id": renewal.id, "locker_to": "AVAILABLE", "reason": "Client moved away"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Locker, locker.id).status is LockerStatus.AVAILABLE


def test_rental_screens_check_permissions_and_branches(desk):
    """Accountants cannot assign; a desk of another branch cannot touch the rental."""
    locker, client = _setup(desk)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    assert desk.login_as("Accountant").get("/admin/rental_desk/assign/").status_code == 403
    other = desk.login_as("Front Desk", branch=desk.make_branch())
    assert other.get(f"/admin/rental_desk/release/?rental_id={rental.id}").status_code == 404


def test_bulk_renew_from_the_rentals_list(desk):
    """Two rentals renewed at once from the list; a banned client's is refused and named."""
    zone = desk.make_zone(kind=ZoneKind.FAMILY)
    first = rentals.assign(desk.make_locker(zone=zone).id, desk.make_client(branch=zone.branch).id,
                           RentalTerm.MONTHLY, by_user_id=None)
    second_client = desk.make_client(branch=zone.branch, name="Banned Later")
    second = rentals.assign(desk.make_locker(zone=zone).id, second_client.id, RentalTerm.WEEKLY,
                            by_user_id=None)
    second_client.status = second_client.status.BANNED
    db.session.commit()
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/rentals/action/", data={
        "action": "renew", "rowid": [str(first.id), str(second.id)]}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "1 rentals renewed." in text and f"Rental #{second.id} was not renewed" in text
    assert db.session.execute(db.select(Rental).where(Rental.renewed_from_id == first.id)).first()
    renewal = db.session.execute(db.select(Rental).where(Rental.renewed_from_id == first.id)
                                 ).scalar_one()
    desk.login_as("Accountant").post("/admin/rentals/action/", data={
        "action": "renew", "rowid": [str(renewal.id)]})
    assert not db.session.execute(
        db.select(Rental).where(Rental.renewed_from_id == renewal.id)).first()


def test_assigning_issues_the_invoice_with_the_quoted_lines(desk):
    """The confirmed quote becomes the invoice, numbered, in the same step as the rental."""
    from app.models import Coupon
    from app.models import CouponKind
    from app.models import Invoice

    locker, client = _setup(desk)
    db.session.add(Coupon(code="EID50", kind=CouponKind.AMOUNT, amount_poisha=5000))
    db.session.commit()
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_id": str(client.id), "term": "MONTHLY",
        "coupon_code": "eid50", "confirm": "1"})
    assert response.status_code == 302
    invoice = db.session.execute(db.select(Invoice)).scalar_one()
    assert invoice.number.endswith("-000001")
    assert [line.kind for line in invoice.lines] == ["rent", "coupon", "vat"]
    assert invoice.total_poisha == sum(line.amount_poisha for line in invoice.lines)
    assert invoice.total_poisha == (80000 - 5000) * 115 // 100
    rental = db.session.execute(db.select(Rental)).scalar_one()
    assert rental.price_poisha == invoice.total_poisha and invoice.rental_id == rental.id


def test_a_used_up_coupon_leaves_nothing_assigned(desk):
    """If the coupon runs out between quote and confirm, neither rental nor invoice is saved."""
    from app.models import Coupon
    from app.models import CouponKind
    from app.models import Invoice

    locker, client = _setup(desk)
    db.session.add(Coupon(code="ONCE", kind=CouponKind.AMOUNT, amount_poisha=5000, usage_limit=1,
                          times_used=1))
    db.session.commit()
    response = desk.login_as("Front Desk").post("/admin/rental_desk/assign/", data={
        "locker_number": "M-021", "client_id": str(client.id), "term": "MONTHLY",
        "coupon_code": "ONCE", "confirm": "1"})
    assert "has been used up" in response.get_data(as_text=True)
    assert db.session.execute(db.select(Rental)).first() is None
    assert db.session.execute(db.select(Invoice)).first() is None
    assert db.session.get(Locker, locker.id).status is LockerStatus.AVAILABLE
