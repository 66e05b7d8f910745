"""The demo data and the commands a real install uses."""

import pytest

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Invoice
from app.models import InvoiceLine
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalStatusChange
from app.models import User
from app.models import Zone
from app.services import handover
from app.services import settings
from app.services.access import ensure_default_roles
from app.services.demo import DEMO_PASSWORD
from app.services.demo import DEMO_STAFF
from app.services.phones import normalise_bd_mobile
from tests import databases


def _count(model, *where):
    return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar_one()


def _latest_status(change, owner_column):
    """{owner id: to_status of its latest change} from a status-history table."""
    latest = (db.select(owner_column, db.func.max(change.id).label("last"))
              .group_by(owner_column).subquery())
    rows = db.session.execute(db.select(owner_column, change.to_status)
                              .join(latest, change.id == latest.c.last))
    return dict(rows.all())


# What the demo contains is the loader's business; its history on each database is checked below.
@pytest.mark.databases("sqlite")
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


def test_the_demo_history_is_what_the_desk_would_have_recorded(app, desk):
    """Every term is invoiced at its price, never overpaid, and deposits and histories agree."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--lockers", "20", "--clients", "40"])
    assert result.exit_code == 0, result.output
    rentals = db.session.execute(db.select(Rental.id, Rental.price_poisha)).all()
    invoiced = dict(db.session.execute(db.select(Invoice.rental_id, Invoice.total_poisha)).all())
    assert len(rentals) > 20
    assert len(invoiced) == _count(Invoice) == len(rentals)
    assert all(invoiced.get(rental_id) == price for rental_id, price in rentals)
    lines = db.select(InvoiceLine.invoice_id, db.func.sum(InvoiceLine.amount_poisha).label("sum")) \
        .group_by(InvoiceLine.invoice_id).subquery()
    assert _count(Invoice, Invoice.id == lines.c.invoice_id, Invoice.total_poisha != lines.c.sum) == 0
    assert _count(Invoice, Invoice.vat_poisha > 0) == len(rentals)

    paid = db.select(Payment.invoice_id, db.func.sum(Payment.amount_poisha).label("paid")) \
        .group_by(Payment.invoice_id).subquery()
    assert _count(Invoice, Invoice.id == paid.c.invoice_id, paid.c.paid > Invoice.total_poisha) == 0
    assert _count(Payment) > 20
    assert _count(Payment, Payment.invoice_id.is_(None)) == 0

    keys_out = _count(Key, Key.state == KeyState.WITH_CLIENT)
    assert keys_out > 0
    assert handover.deposits_total() == keys_out * settings.get("key_deposit_poisha")

    statuses = dict(db.session.execute(db.select(Rental.id, Rental.status)).all())
    assert _latest_status(RentalStatusChange, RentalStatusChange.rental_id) == statuses
    locker_statuses = dict(db.session.execute(db.select(Locker.id, Locker.status)).all())
    assert _latest_status(LockerStatusChange, LockerStatusChange.locker_id) == locker_statuses


def test_the_same_seed_gives_the_same_demo(app, desk):
    """`--seed` makes the demo repeatable: the same clients, invoices and payments again."""

    def load_and_describe():
        result = app.test_cli_runner().invoke(
            args=["demo-data", "--lockers", "8", "--clients", "12", "--seed", "7"])
        assert result.exit_code == 0, result.output
        return [db.session.execute(query).all() for query in (
            db.select(Client.phone, Client.full_name).order_by(Client.id),
            # Ids are compared through what they point at: MariaDB's emptied tables keep
            # counting their ids on, PostgreSQL's and SQLite's start again.
            db.select(Invoice.number, Invoice.total_poisha, Client.phone)
            .join(Client, Invoice.client_id == Client.id).order_by(Invoice.id),
            db.select(Invoice.number, Payment.amount_poisha, Payment.method)
            .join(Invoice, Payment.invoice_id == Invoice.id).order_by(Payment.id))]

    first = load_and_describe()
    db.session.remove()
    databases.empty_tables(db)
    ensure_default_roles()
    settings.ensure_defaults()
    assert load_and_describe() == first


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
