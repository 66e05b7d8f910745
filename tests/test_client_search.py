"""Finding a client the way the desk types it (SPEC C3)."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Client
from app.models import ClientSearchKey
from app.models import Invoice
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import Tag
from app.models import utcnow
from app.services import billing
from app.services import client_search


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
                          status=RentalStatus.ACTIVE, price_poisha=80000,
                          holding_locker_id=locker.id))
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


# --- the search keys (issue "Chain scale") --------------------------------------------------

def _found(typed):
    """Names of the clients the search box finds for `typed`, straight from the service."""
    return set(db.session.execute(sa.select(Client.full_name).where(
        client_search.search_condition(typed))).scalars())


def test_names_fold_case_accents_and_bengali_typing_variants():
    """What is typed and what is stored fold alike; Bengali vowel signs stay inside the word."""
    assert client_search.name_words("Rúmana AKTER-Khan") == ["rumana", "akter", "khan"]
    assert client_search.name_words("মোঃ করিম") == ["মোঃ", "করিম"]
    # য় typed as one letter or as য + nukta; a joiner typed or not; digits in Bengali.
    assert client_search.fold("\u09df") == client_search.fold("\u09af\u09bc")
    assert client_search.fold("র\u200dয") == client_search.fold("রয")
    assert client_search.fold("০১৭") == "017"


def test_the_keys_of_a_client():
    keys = client_search.search_keys("Md. Karim Uddin", "+8801711123456", "Karim@Example.com",
                                     "১৯৯০১২৩")
    assert keys == {"n:md", "n:karim", "n:uddin", "p:1711123456", "t:6543211171",
                    "e:karim@example.com", "i:1990123"}
    assert "n:md" in client_search.search_keys("Mohammad Ali", "+8801711123456", None, None)


def test_a_name_word_finds_by_its_start_and_its_other_spellings(desk):
    branch = desk.make_branch()
    desk.make_client(branch=branch, name="Mohammad Karim Uddin", phone="+8801711000001")
    desk.make_client(branch=branch, name="মোঃ রহিম", phone="+8801711000002")
    desk.make_client(branch=branch, name="Rúmana Akter", phone="+8801711000003")
    assert _found("kar") == {"Mohammad Karim Uddin"}
    assert _found("md karim") == {"Mohammad Karim Uddin"}
    assert _found("Muhammad") == {"Mohammad Karim Uddin", "মোঃ রহিম"}
    assert _found("রহি") == {"মোঃ রহিম"}
    assert _found("RUMANA") == {"Rúmana Akter"}
    assert _found("arim") == set()   # the start of a word, not the middle
    assert _found("karim rumana") == set()   # every word must find the same client


def test_keys_follow_every_change_of_a_client(desk):
    """Registration and an edit leave the keys right (anonymisation: tests/test_privacy.py)."""
    from app.services import clients

    branch = desk.make_branch()
    staff = desk.make_user("Manager", branch=branch)
    client = clients.register_client(branch_id=branch.id, full_name="Nusrat Jahan",
                                     phone="01811-222333", by_user_id=staff.id)
    assert _found("nusrat") == {"Nusrat Jahan"} and _found("01811222") == {"Nusrat Jahan"}
    clients.update_client(client.id, {"branch_id": branch.id, "full_name": "Nusrat Chowdhury",
                                      "phone": "01911-222333", "status": "ACTIVE"},
                          by_user_id=staff.id)
    assert _found("jahan") == set() and _found("01811222") == set()
    assert _found("chow") == {"Nusrat Chowdhury"} and _found("222333") == {"Nusrat Chowdhury"}
    assert db.session.execute(sa.select(sa.func.count()).select_from(ClientSearchKey).where(
        ClientSearchKey.client_id == client.id)).scalar() == 4   # two names, phone both ways


def test_clients_written_around_the_session_get_their_keys_from_seed(app, desk):
    """A bulk load (or an upgrade from before the keys) is filled in by `flask seed`."""
    desk.insert_clients(desk.make_branch(), 12, name="Farhan {n}")
    assert _found("farhan") == set()
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0 and "Search keys written for 12 clients." in result.output
    assert len(_found("farhan")) == 12
    assert client_search.write_missing_keys() == 0
