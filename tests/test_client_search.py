"""Finding a client the way the desk types it (SPEC C3)."""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Invoice
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import Tag
from app.models import utcnow
from app.services import billing


def _names(browser, query):
    html = browser.get(f"/admin/clients/?{query}").get_data(as_text=True)
    return {name for name in ("Rumana Akter", "Karim Uddin", "Sadia Islam") if name in html}


@pytest.fixture
def three_clients(desk):
    branch = desk.make_branch()
    rumana = desk.make_client(branch=branch, name="Rumana Akter", phone="+8801711123456",
                              email="rumana@example.com", nid="1990123456789")
    karim = desk.make_client(branch=branch, name="Karim Uddin", phone="+8801811000222")
    sadia = desk.make_client(branch=branch, name="Sadia Islam", phone="+8801911000333")
    return branch, rumana, karim, sadia


@pytest.mark.parametrize("typed", ["01711-123456", "+880 1711 123456", "8801711123456",
                                   "1711123456", "০১৭১১১২৩৪৫৬"])
def test_a_phone_is_found_however_it_is_typed(desk, three_clients, typed):
    """Every way of writing Rumana's number finds Rumana, and only her."""
    browser = desk.login_as("Front Desk")
    assert _names(browser, f"search={typed}") == {"Rumana Akter"}


def test_name_email_nid_and_part_of_a_number_are_found(desk, three_clients):
    """Name words, email, NID and the last digits of a phone all work."""
    browser = desk.login_as("Front Desk")
    assert _names(browser, "search=karim") == {"Karim Uddin"}
    assert _names(browser, "search=rumana@example") == {"Rumana Akter"}
    assert _names(browser, "search=1990123456789") == {"Rumana Akter"}
    assert _names(browser, "search=000333") == {"Sadia Islam"}
    assert _names(browser, "search=nobody") == set()
    # Zeros alone are no part of anyone's number (a scanned "MEM-0000" cut short).
    assert _names(browser, "search=0000") == set()


def test_a_locker_number_finds_its_client(desk, three_clients):
    """Typing the locker number finds the client renting it now."""
    branch, rumana, karim, _ = three_clients
    locker = desk.make_locker(zone=desk.make_zone(branch), number="W-014")
    db.session.add(Rental(branch=branch, locker=locker, client=karim, term=RentalTerm.MONTHLY,
                          days=30, starts_at=utcnow(), ends_at=utcnow() + timedelta(days=30),
                          status=RentalStatus.ACTIVE, price_poisha=80000))
    db.session.commit()
    browser = desk.login_as("Front Desk")
    assert _names(browser, "search=w-014") == {"Karim Uddin"}


def test_search_text_is_not_sql(desk, three_clients):
    """Wildcards and quotes in the box are searched literally."""
    browser = desk.login_as("Front Desk")
    assert _names(browser, "search=%25") == set()
    assert browser.get("/admin/clients/?search=' OR 1=1 --").status_code == 200


def _filter_index(browser, label, operation_text):
    import html
    import json
    import re

    page = browser.get("/admin/clients/").get_data(as_text=True)
    data = json.loads(html.unescape(re.search(
        r'<div id="filter-groups-data" class="d-none">(.*?)</div>', page, re.S).group(1)))
    return next(o["index"] for o in data[label] if o["operation"] == operation_text)


def test_filter_by_tag(desk, three_clients):
    """The Tag filter lists tags made after start-up and narrows the list."""
    _, rumana, _, _ = three_clients
    vip = Tag(name="VIP")
    rumana.tags.append(vip)
    db.session.commit()
    browser = desk.login_as("Front Desk")
    index = _filter_index(browser, "Tag", "equals")
    assert _names(browser, f"flt0_{index}={vip.id}") == {"Rumana Akter"}


def _rental(client, paid_poisha, ended_days_ago):
    """A monthly rental with its ৳800 invoice due on its last day, `paid_poisha` paid on it."""
    now = utcnow()
    ends_at = now - timedelta(days=ended_days_ago)
    locker_rental = Rental(branch=client.branch, locker=client._locker, client=client,
                           term=RentalTerm.MONTHLY, days=30, starts_at=ends_at - timedelta(days=30),
                           ends_at=ends_at, status=RentalStatus.ACTIVE, price_poisha=80000)
    db.session.add(locker_rental)
    db.session.flush()
    invoice = Invoice(number=f"INV-T-{locker_rental.id}", branch=client.branch, client=client,
                      rental=locker_rental, due_on=ends_at.date(), subtotal_poisha=80000,
                      total_poisha=80000)
    db.session.add(invoice)
    db.session.commit()
    if paid_poisha:
        billing.record_payment(invoice.id, paid_poisha, PaymentMethod.CASH, by_user_id=None)


def test_filter_by_payment_state(desk, three_clients):
    """Has dues, paid up and overdue follow one definition."""
    branch, rumana, karim, sadia = three_clients
    locker = desk.make_locker(zone=desk.make_zone(branch))
    for client in (rumana, karim, sadia):
        client._locker = locker
    _rental(rumana, 80000, ended_days_ago=-10)   # paid in full, still running
    _rental(karim, 30000, ended_days_ago=-10)    # owes, not yet ended: dues
    _rental(sadia, 0, ended_days_ago=5)          # owes and ended: overdue
    db.session.commit()
    browser = desk.login_as("Accountant")
    index = _filter_index(browser, "Payment state", "is")
    assert _names(browser, f"flt0_{index}=dues") == {"Karim Uddin", "Sadia Islam"}
    assert _names(browser, f"flt0_{index}=overdue") == {"Sadia Islam"}
    assert _names(browser, f"flt0_{index}=paid") == {"Rumana Akter"}
