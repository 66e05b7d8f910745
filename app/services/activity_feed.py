"""The live activity feed (SPEC D4): the latest desk actions of a branch, from the domain events.

The events are the desk's own record of what happened, written with each
change (app.services.events), so the feed shows exactly what was done and
nothing that was rolled back. A screen asks for the events after the last one
it showed (`after_id`), read newest first from the (branch_id, occurred_at)
index.
"""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Client
from app.models import DomainEvent
from app.models import Locker
from app.models import User
from app.services import events

# What each event is called on the feed; events not named here are not shown
# (bookkeeping such as a client's details edited, or a locker renamed).
LABELS = {
    events.CLIENT_REGISTERED: _l("Client registered"),
    events.RENTAL_RESERVED: _l("Locker reserved"),
    events.RENTAL_ASSIGNED: _l("Locker rented"),
    events.RENTAL_RENEWED: _l("Rental renewed"),
    events.RENTAL_RELEASED: _l("Locker released"),
    events.RENTAL_EXPIRED: _l("Rental expired"),
    events.RENTAL_ABANDONED: _l("Locker abandoned"),
    events.RENTAL_LAPSED: _l("Reservation lapsed"),
    events.KEY_ISSUED: _l("Key handed over"),
    events.KEY_RETURNED: _l("Key returned"),
    events.KEY_LOST: _l("Key reported lost"),
    events.INVOICE_ISSUED: _l("Invoice issued"),
    events.INVOICE_CANCELLED: _l("Invoice cancelled"),
    events.PAYMENT_RECORDED: _l("Payment received"),
    events.PAYMENT_REFUNDED: _l("Payment refunded"),
    events.LOCKER_STATUS_CHANGED: _l("Locker status changed"),
    events.DEPOSIT_REFUNDED: _l("Deposit refunded"),
    events.WAITLIST_OFFERED: _l("Locker offered from the waiting list"),
}
LIMIT = 20


@dataclass(frozen=True)
class FeedItem:
    id: int
    name: str
    label: object
    occurred_at: datetime
    client_id: int | None
    client_name: str | None
    locker_id: int | None
    locker_number: str | None
    rental_id: int | None
    amount_poisha: int | None
    by: str | None


def latest(branch_id=None, after_id=None, limit=LIMIT):
    """The newest `limit` feed items of `branch_id` (every branch: None), after `after_id`.

    Newest first. `after_id` is the id of the newest item a screen already shows.
    """
    stmt = (db.select(DomainEvent).where(DomainEvent.name.in_(LABELS))
            .order_by(DomainEvent.occurred_at.desc(), DomainEvent.id.desc()).limit(limit))
    if branch_id is not None:
        stmt = stmt.where(DomainEvent.branch_id == branch_id)
    if after_id is not None:
        stmt = stmt.where(DomainEvent.id > after_id)
    rows = db.session.execute(stmt).scalars().all()
    clients = _names(Client.id, Client.full_name, {row.client_id for row in rows})
    lockers = _names(Locker.id, Locker.number, {row.locker_id for row in rows})
    staff = _names(User.id, User.full_name, {row.by_user_id for row in rows})
    return [FeedItem(id=row.id, name=row.name, label=LABELS[row.name],
                     occurred_at=row.occurred_at, client_id=row.client_id,
                     client_name=clients.get(row.client_id), locker_id=row.locker_id,
                     locker_number=lockers.get(row.locker_id), rental_id=row.rental_id,
                     amount_poisha=(row.data or {}).get("amount_poisha"),
                     by=staff.get(row.by_user_id))
            for row in rows]


def _names(id_column, name_column, ids):
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(
        db.select(id_column, name_column).where(id_column.in_(ids))).all())
