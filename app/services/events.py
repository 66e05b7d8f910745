"""Domain events with an outbox: services say what happened, subscribers hear it after commit.

A service records an event in the same transaction as the change it
describes (`record("rental.renewed", …)`), so the event exists exactly when
the change does: a rolled-back action leaves neither. After the commit the
events are handed to every subscriber (the grid's change feed now; the
notifications, the live activity feed and the payment gateways next), then
stamped as dispatched. A subscriber that cannot deliver (Redis is down)
returns False or raises: the event stays undelivered and the sweeper job
(`dispatch_undelivered`, every minute) hands it out again later. Delivery is
therefore at least once; subscribers are written to be idempotent.

Subscribers receive `Event` values (plain data, no ORM objects), so they
never touch the committed session and may run in any process.
"""

import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask import has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import DomainEvent
from app.models import utcnow
from app.services.transactions import in_slices

log = logging.getLogger(__name__)

CLIENT_REGISTERED = "client.registered"
RENTAL_RESERVED = "rental.reserved"
RENTAL_ASSIGNED = "rental.assigned"
RENTAL_RENEWED = "rental.renewed"
RENTAL_RELEASED = "rental.released"
RENTAL_EXPIRED = "rental.expired"
RENTAL_ABANDONED = "rental.abandoned"
KEY_ISSUED = "key.issued"
KEY_RETURNED = "key.returned"
KEY_LOST = "key.lost"
INVOICE_ISSUED = "invoice.issued"
INVOICE_CANCELLED = "invoice.cancelled"
PAYMENT_RECORDED = "payment.recorded"
PAYMENT_REFUNDED = "payment.refunded"
LOCKER_STATUS_CHANGED = "locker.status_changed"
LOCKER_ADDED = "locker.added"
LOCKER_UPDATED = "locker.updated"
LOCKER_REMOVED = "locker.removed"
KEY_REGISTERED = "key.registered"
KEY_REKEYED = "key.rekeyed"
DEPOSIT_REFUNDED = "deposit.refunded"
CLIENT_UPDATED = "client.updated"
RENTAL_LAPSED = "rental.lapsed"  # a reservation whose deadline passed
WAITLIST_OFFERED = "waitlist.offered"

_PENDING = "domain_events_pending"
SWEEP_AFTER = timedelta(seconds=30)
SWEEP_BATCH = 5000


@dataclass(frozen=True)
class Event:
    """What subscribers receive: the event's name, ids and data."""

    id: int
    name: str
    branch_id: int | None = None
    locker_id: int | None = None
    client_id: int | None = None
    rental_id: int | None = None
    by_user_id: int | None = None
    data: dict = field(default_factory=dict)


_subscribers = []
_in_transaction = []


def subscribe(handler, names=None):
    """Call `handler(events)` with each committed batch of events (those named in `names`).

    The handler returns False (or raises) when it could not deliver; the batch
    is then handed to it again by the sweeper.
    """
    entry = (handler, frozenset(names) if names else None)
    if entry not in _subscribers:
        _subscribers.append(entry)


def in_transaction(handler):
    """Call `handler(row)` as each event is recorded, inside the desk's transaction.

    For what must exist exactly when the event does (a notification to send):
    the handler's writes commit or roll back with the action itself.
    """
    if handler not in _in_transaction:
        _in_transaction.append(handler)


def record(name, *, branch_id=None, locker_id=None, client_id=None, rental_id=None,
           by_user_id=None, **data):
    """Add an event to the current transaction; it is dispatched after the commit."""
    row = DomainEvent(name=name, branch_id=branch_id, locker_id=locker_id, client_id=client_id,
                      rental_id=rental_id, by_user_id=by_user_id, data=data or None,
                      occurred_at=utcnow())
    db.session.add(row)
    db.session.info.setdefault(_PENDING, []).append(row)
    for handler in _in_transaction:
        handler(row)
    return row


def _as_event(row):
    return Event(id=row.id, name=row.name, branch_id=row.branch_id, locker_id=row.locker_id,
                 client_id=row.client_id, rental_id=row.rental_id, by_user_id=row.by_user_id,
                 data=row.data or {})


def deliver(batch):
    """Hand `batch` (Events) to every subscriber; returns the ids all of them took."""
    failed = set()
    for handler, names in list(_subscribers):
        wanted = [event for event in batch if names is None or event.name in names]
        if not wanted:
            continue
        try:
            ok = handler(wanted)
        except Exception:  # a subscriber's failure must never undo or block the desk
            log.exception("Event subscriber %s failed; the events will be swept again.",
                          getattr(handler, "__name__", handler))
            ok = False
        if ok is False:
            failed.update(event.id for event in wanted)
    return [event.id for event in batch if event.id not in failed]


def _stamp(ids):
    """Mark events dispatched, in chunks, in a short transaction of its own."""
    if not ids:
        return
    now = utcnow()
    with db.engine.begin() as connection:
        for ids_slice in in_slices(ids):
            connection.execute(sa.update(DomainEvent.__table__)
                               .where(DomainEvent.__table__.c.id.in_(ids_slice))
                               .values(dispatched_at=now))


def dispatch_undelivered(older_than=SWEEP_AFTER, limit=SWEEP_BATCH):
    """Job: hand out again events whose delivery failed or was cut short; returns how many."""
    cutoff = utcnow() - older_than
    rows = db.session.execute(
        db.select(DomainEvent).where(DomainEvent.dispatched_at.is_(None),
                                     DomainEvent.occurred_at <= cutoff)
        .order_by(DomainEvent.id).limit(limit)).scalars().all()
    batch = [_as_event(row) for row in rows]
    db.session.rollback()
    delivered = deliver(batch)
    _stamp(delivered)
    return len(delivered)


# --- after commit -------------------------------------------------------------------------

def _after_flush(session, flush_context):
    """Snapshot the flushed events (persistent with their ids now; the rows expire at commit)."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    ready = session.info.setdefault(_PENDING + "_ready", [])
    for row in [row for row in pending if inspect(row).persistent]:
        ready.append(_as_event(row))
        pending.remove(row)


def _after_commit(session):
    if session.in_nested_transaction():
        return
    batch = session.info.pop(_PENDING + "_ready", None)
    session.info.pop(_PENDING, None)
    if not batch:
        return
    if not has_app_context():
        log.warning("Domain events committed outside an app context wait for the sweeper.")
        return
    try:
        _stamp(deliver(batch))
    except Exception:  # stamping failed: the sweeper delivers them again later
        current_app.logger.exception("Could not stamp %d dispatched events.", len(batch))


def _after_transaction_end(session, transaction):
    """A rolled-back transaction dispatches nothing (a committed one was handled already)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_PENDING + "_ready", None)


_LISTENERS = (("after_flush_postexec", _after_flush), ("after_commit", _after_commit),
              ("after_transaction_end", _after_transaction_end))


def install_listeners():
    """Dispatch committed events from every session; safe to call again."""
    for name, listener in _LISTENERS:
        if not sa_event.contains(Session, name, listener):
            sa_event.listen(Session, name, listener)
