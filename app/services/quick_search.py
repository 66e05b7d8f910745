"""The Ctrl+K quick search (SPEC D5): clients, lockers, key tags, invoices and payments from one box.

Each group is searched only when the caller may see it (`modules`), within the
user's branch when limited (`branch_id`), and returns at most `limit` rows of
plain values: the screen decides where a hit leads. A query that is exactly a
key tag, or the number of exactly one locker, names that locker as the place
to jump to, so a scanned tag followed by Enter opens its locker at once. A
member id from the client card's QR code ("MEM-000042", see Client.member_id)
names its client the same way.
"""

from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import Invoice
from app.models import Key
from app.models import Locker
from app.models import LockerStatus
from app.models import Payment
from app.models import Rental
from app.models import Zone
from app.services.client_search import search_condition
from app.services.client_search import typed_exactly
from app.services.digits import ascii_digits

GROUP_LIMIT = 8
MIN_LENGTH = 2
MAX_LENGTH = 100
GROUPS = ("clients", "lockers", "keys", "payments")
# payment.id is a 32-bit INTEGER: PostgreSQL refuses to compare it with a larger number.
MAX_PAYMENT_ID = 2**31 - 1


@dataclass
class Results:
    """What one query found, per group (lists of dicts), and the locker to jump to, if any."""

    groups: dict = field(default_factory=dict)
    # {"id", "branch_id", "zone_id"} of the locker an exact tag or number names.
    jump_locker: dict | None = None
    jump_key_id: int | None = None
    # An exact invoice number opens that invoice.
    jump_invoice_id: int | None = None
    # An exact member id (the client card's QR code) opens that client.
    jump_client_id: int | None = None


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_branch(query, column, branch_id):
    return query if branch_id is None else query.where(column == branch_id)


def clients(text, *, branch_id=None, limit=GROUP_LIMIT):
    """Clients by phone (typed any way), name, email, NID or the locker they rent, by name.

    Fetched without ORDER BY, so the database stops at the `limit`-th match
    instead of reading all 50,000 clients to sort them (a common name answers
    in a few milliseconds); which of many matches come back is the database's
    choice, and they are sorted by name here.
    """
    return _client_rows(search_condition(text), branch_id, limit)


def clients_holding(locker_ids, *, branch_id=None, limit=GROUP_LIMIT):
    """Clients whose rental holds (reserves or rents) one of the lockers, by name."""
    holding = db.select(Rental.client_id).where(Rental.holding_locker_id.in_(locker_ids))
    return _client_rows(Client.id.in_(holding), branch_id, limit)


def member(text, *, branch_id=None):
    """The id of the client whose member id is exactly `text`, within the branch; or None."""
    client_id = Client.id_from_member_id(text)
    if client_id is None:
        return None
    query = db.select(Client.id).where(Client.id == client_id)
    return db.session.execute(_in_branch(query, Client.branch_id, branch_id)).scalar_one_or_none()


def _client_rows(condition, branch_id, limit):
    query = db.select(Client.id, Client.full_name, Client.phone, Client.status).where(
        condition).limit(limit)
    rows = [row._asdict() for row in db.session.execute(_in_branch(query, Client.branch_id,
                                                                   branch_id))]
    return sorted(rows, key=lambda row: (row["full_name"].casefold(), row["id"]))


def _locker_rows():
    return (db.select(Locker.id, Locker.number, Locker.status, Locker.branch_id, Locker.zone_id,
                      Zone.name.label("zone"), Zone.name_bn.label("zone_bn"),
                      Branch.name.label("branch"))
            .join(Zone, Locker.zone_id == Zone.id).join(Branch, Locker.branch_id == Branch.id))


def lockers(text, *, branch_id=None, limit=GROUP_LIMIT, available_first=False):
    """Lockers whose number starts with `text` (any case), with zone and branch."""
    pattern = _escape_like(text.upper()) + "%"
    order = [Locker.number, Locker.id]
    if available_first:
        order.insert(0, sa.case((Locker.status == LockerStatus.AVAILABLE, 0), else_=1))
    query = (_locker_rows().where(sa.func.upper(Locker.number).like(pattern, escape="\\"))
             .order_by(*order).limit(limit))
    return [row._asdict() for row in db.session.execute(_in_branch(query, Locker.branch_id,
                                                                   branch_id))]


def keys(text, *, branch_id=None, limit=GROUP_LIMIT):
    """Keys whose tag is exactly `text` (any case), with their locker."""
    query = (db.select(Key.id, Key.tag, Key.state, Key.locker_id, Locker.number,
                       Locker.branch_id, Locker.zone_id)
             .join(Locker, Key.locker_id == Locker.id)
             .where(sa.func.upper(Key.tag) == text.upper()).order_by(Key.tag, Key.id).limit(limit))
    return [row._asdict() for row in db.session.execute(_in_branch(query, Locker.branch_id,
                                                                   branch_id))]


def payments(text, *, branch_id=None, limit=GROUP_LIMIT):
    """Payments by exact reference, or by number written "#123"."""
    conditions = [typed_exactly(Payment.reference, text)]
    # isdecimal(), not isdigit(): "#১২৩" from a Bengali receipt is a number, "#²" is not.
    number = text[1:]
    if text.startswith("#") and number.isdecimal() and int(number) <= MAX_PAYMENT_ID:
        conditions.append(Payment.id == int(number))
    query = (db.select(Payment.id, Payment.reference, Payment.amount_poisha, Payment.status,
                       Payment.paid_at, Client.full_name.label("client"))
             .join(Client, Payment.client_id == Client.id)
             .where(sa.or_(*conditions)).order_by(Payment.paid_at.desc(), Payment.id.desc())
             .limit(limit))
    return [row._asdict() for row in db.session.execute(_in_branch(query, Payment.branch_id,
                                                                   branch_id))]


def invoices(text, *, branch_id=None, limit=GROUP_LIMIT):
    """Invoices by exact number, as printed (numbers are issued in capitals; the unique index answers)."""
    query = (db.select(Invoice).where(typed_exactly(Invoice.number, text))
             .order_by(Invoice.id).limit(limit))
    return list(db.session.execute(_in_branch(query, Invoice.branch_id, branch_id)).scalars())


def _locker_ref(row, id_key="id"):
    return {"id": row[id_key], "branch_id": row["branch_id"], "zone_id": row["zone_id"]}


def clean(text):
    """The query as searched: trimmed, Bengali digits as ASCII, at most MAX_LENGTH characters."""
    return " ".join(ascii_digits(text or "").split())[:MAX_LENGTH]


def search(text, *, modules, branch_id=None, limit=GROUP_LIMIT):
    """Search every group named in `modules` (a set of module names the user may view)."""
    text = clean(text)
    results = Results()
    if len(text) < MIN_LENGTH:
        return results
    if "keys" in modules:
        found = keys(text, branch_id=branch_id, limit=limit)
        results.groups["keys"] = found
        if len(found) == 1:
            results.jump_locker = _locker_ref(found[0], "locker_id")
            results.jump_key_id = found[0]["id"]
    if "lockers" in modules:
        found = lockers(text, branch_id=branch_id, limit=limit)
        results.groups["lockers"] = found
        exact = [row for row in found if row["number"].upper() == text.upper()]
        if results.jump_locker is None and len(exact) == 1:
            results.jump_locker = _locker_ref(exact[0])
    if "clients" in modules:
        results.groups["clients"] = _clients_for(text, results, branch_id, limit)
    if "payments" in modules:
        found = invoices(text, branch_id=branch_id, limit=limit)
        results.groups["invoices"] = found
        if results.jump_locker is None and len(found) == 1:
            results.jump_invoice_id = found[0].id
        results.groups["payments"] = payments(text, branch_id=branch_id, limit=limit)
    return results


def _clients_for(text, results, branch_id, limit):
    """The client group; a query that names a key, a member or lockers needs no search of all clients.

    An exact key tag is a key, not a name fragment; an exact member id is its
    client, who is then the place to jump to. A whole locker number finds
    the client holding that locker, as search_condition would, without reading
    every client for a name, email or NID that a locker number never is.
    """
    if results.jump_key_id is not None:
        return []
    member_id = member(text, branch_id=branch_id)
    if member_id is not None:
        # A member id is one client, never part of a name; a locker number still wins.
        if results.jump_locker is None:
            results.jump_client_id = member_id
        return _client_rows(Client.id == member_id, branch_id, limit)
    numbered = [row["id"] for row in results.groups.get("lockers", [])
                if row["number"].upper() == text.upper()]
    if numbered:
        return clients_holding(numbered, branch_id=branch_id, limit=limit)
    return clients(text, branch_id=branch_id, limit=limit)


def search_lockers_to_assign(text, *, branch_id=None, limit=GROUP_LIMIT):
    """Lockers for the "assign" palette: by number prefix or exact key tag, available first."""
    text = clean(text)
    results = Results()
    if len(text) < MIN_LENGTH:
        return results
    found = lockers(text, branch_id=branch_id, limit=limit, available_first=True)
    by_tag = keys(text, branch_id=branch_id, limit=1)
    if by_tag:
        results.jump_locker = _locker_ref(by_tag[0], "locker_id")
        tagged = results.jump_locker["id"]
        found = lockers_by_id([tagged]) + [row for row in found if row["id"] != tagged][:limit - 1]
    else:
        exact = [row for row in found if row["number"].upper() == text.upper()]
        if len(exact) == 1:
            results.jump_locker = _locker_ref(exact[0])
    results.groups["lockers"] = found
    return results


def lockers_by_id(ids):
    """The same rows as lockers(), for the given ids."""
    query = _locker_rows().where(Locker.id.in_(ids)).order_by(Locker.number, Locker.id)
    return [row._asdict() for row in db.session.execute(query)]
