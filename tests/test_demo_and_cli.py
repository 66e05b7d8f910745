"""The demo data and the commands a real install uses."""

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Locker
from app.models import LockerStatus
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import User
from app.models import Zone
from app.services.demo import DEMO_PASSWORD
from app.services.demo import DEMO_STAFF
from app.services.phones import normalise_bd_mobile


def _count(model, *where):
    return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar_one()


def test_demo_data_builds_a_believable_branch(app, desk):
    """One branch, 3 floors, the asked-for lockers and clients, a year of rentals."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--lockers", "40", "--clients", "60"])
    assert result.exit_code == 0, result.output
    assert _count(Branch) == 1 and _count(Floor) == 3
    assert {z.name for z in db.session.execute(db.select(Zone)).scalars()} == {
        "Men", "Women", "Family", "VIP"}
    assert _count(Locker) == 40 and _count(Client) == 60
    assert _count(Rental) > 40 and _count(Payment) > 30
    active = _count(Rental, Rental.status == RentalStatus.ACTIVE)
    assert active == _count(Locker, Locker.status == LockerStatus.ASSIGNED) > 0
    for phone in db.session.execute(db.select(Client.phone)).scalars():
        assert normalise_bd_mobile(phone) == phone


def test_every_demo_login_works_with_its_role(app, desk):
    """The four demo staff log in with the documented password and see their home page."""
    app.test_cli_runner().invoke(args=["demo-data", "--lockers", "8", "--clients", "8"])
    for email, _name, role, _limited in DEMO_STAFF:
        user = db.session.execute(db.select(User).where(User.email == email)).scalar_one()
        assert [r.name for r in user.roles] == [role]
        assert user.tf_primary_method is None  # two-factor is off for the demo
        browser, response = desk.login(email, DEMO_PASSWORD)
        assert response.status_code == 302, email
        assert browser.get("/admin/").status_code == 200


def test_demo_data_is_loaded_only_once_with_if_empty(app):
    """`make run` calls demo-data --if-empty; the second time changes nothing."""
    runner = app.test_cli_runner()
    runner.invoke(args=["demo-data", "--lockers", "8", "--clients", "8"])
    result = runner.invoke(args=["demo-data", "--if-empty"])
    assert "skipped" in result.output
    with app.app_context():
        assert _count(Locker) == 8


def test_create_admin_makes_a_super_admin(app, desk):
    """`flask create-admin` creates a Super Admin who can log in."""
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "owner@gym.local", "--name", "Gym Owner"],
        input="Tiger-Lantern-Mosque-91\nTiger-Lantern-Mosque-91\n")
    assert result.exit_code == 0, result.output
    user = db.session.execute(db.select(User).where(User.email == "owner@gym.local")).scalar_one()
    assert [r.name for r in user.roles] == ["Super Admin"]
    assert desk.login("owner@gym.local", "Tiger-Lantern-Mosque-91")[1].status_code == 302


def test_create_admin_refuses_a_weak_password(app):
    """A short password is refused and no account is created."""
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "owner@gym.local", "--name", "Gym Owner"],
        input="short\nshort\n")
    assert result.exit_code != 0
    with app.app_context():
        assert _count(User) == 0
