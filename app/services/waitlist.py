"""The locker waitlist: clients in line for a zone (and optionally a size), first come first served.

When a matching locker is Available, the first client in line whose rental
would be allowed gets it reserved for `waitlist_offer_hours` (an offer). The
offer ends one of three ways: the client takes the locker (the reservation
becomes a rental through rentals.assign: Accepted), staff skip the client
(Skipped, the reservation is cancelled), or the deadline passes (Lapsed). Each
time a locker comes free this way it is offered to the next in line.

Reservations and their cancellation go through app.services.rentals, so a
waitlist offer is an ordinary reservation on the grid, the rental history and
the activity log. An entry is locked while it changes and is marked Offered in
the same transaction as its reservation, so two runs of the job can never
offer one client two lockers or one locker to two clients.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import ActivityAction
from app.models import Client
from app.models import ClientStatus
from app.models import Locker
from app.models import LockerSize
from app.models import Rental
from app.models import RentalStatus
from app.models import WaitlistEntry
from app.models import WaitlistStatus
from app.models import Zone
from app.models import utcnow
from app.services import audit
from app.services import events
from app.services import lockers
from app.services import rentals
from app.services import settings
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.transactions import desk_action

W = WaitlistStatus
# Entries still in line: waiting, or holding an offer not yet taken.
IN_LINE = (W.WAITING, W.OFFERED)
# Rental statuses an offered reservation reaches once the client has taken the locker.
TAKEN = (RentalStatus.ACTIVE, RentalStatus.EXPIRED, RentalStatus.RELEASED, RentalStatus.ABANDONED)


class WaitlistError(Refusal):
    """The rules refuse this; `message` is for the screen, `field` the form field it concerns."""


@dataclass
class Skipped:
    """What skip() did: the skipped entry, and the entry the freed locker was offered to."""

    entry: WaitlistEntry
    next_offer: WaitlistEntry | None = None


@desk_action
def set_note(entry_id, note, *, by_user_id):
    """Change the note on a waitlist entry (the only thing staff edit by hand)."""
    entry = db.session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None:
        raise WaitlistError(_l("That waitlist entry does not exist."))
    if not may_act_on_branch(by_user_id, entry.branch_id):
        raise WaitlistError(_l("This waitlist entry belongs to another branch."))
    entry.note = (note or "").strip()[:255] or None
    return entry


def _with_note(entry, text):
    """The entry's note with `text` added (the model has no column of its own for it)."""
    return " · ".join(part for part in (entry.note, text) if part)[:255]


@desk_action
def join(client_id, zone_id, size=None, *, by_user_id, note=None):
    """Put a client in line for a zone (and a size, if given). Returns the new entry."""
    # Locked so that two desks adding the same client at once add them once.
    client = db.session.get(Client, client_id, with_for_update=True) if client_id else None
    if client is None:
        raise WaitlistError(_l("That client does not exist."), "phone")
    zone = db.session.get(Zone, zone_id) if zone_id else None
    if zone is None:
        raise WaitlistError(_l("Choose a zone."), "zone")
    if client.status is ClientStatus.BANNED:
        raise WaitlistError(_l("%(client)s is banned and cannot join the waitlist.",
                               client=client.full_name), "phone")
    if client.status is not ClientStatus.ACTIVE:
        raise WaitlistError(_l("%(client)s is inactive. Reactivate the client first.",
                               client=client.full_name), "phone")
    if client.branch_id != zone.branch_id:
        raise WaitlistError(_l("The client and the zone belong to different branches."), "zone")
    if size is not None and not isinstance(size, LockerSize):
        raise WaitlistError(_l("Not a valid choice."), "size")
    already = db.session.execute(db.select(WaitlistEntry.id).where(
        WaitlistEntry.client_id == client.id, WaitlistEntry.zone_id == zone.id,
        WaitlistEntry.status.in_(IN_LINE)).limit(1)).first()
    if already is not None:
        raise WaitlistError(_l("%(client)s is already on the waitlist for %(zone)s.",
                               client=client.full_name, zone=zone.local_name), "zone")
    # The objects, not only their ids: the activity log names the entry by them.
    entry = WaitlistEntry(branch_id=zone.branch_id, client=client, zone=zone, size=size,
                          status=W.WAITING, created_at=utcnow(), created_by_id=by_user_id,
                          note=(note or "").strip()[:255] or None)
    db.session.add(entry)
    return entry


def position(entry):
    """1 for the first client waiting in the entry's zone, 2 for the next …; None if not waiting."""
    if entry.status is not W.WAITING:
        return None
    ahead = db.session.execute(db.select(sa.func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.zone_id == entry.zone_id, WaitlistEntry.status == W.WAITING,
        sa.or_(WaitlistEntry.created_at < entry.created_at,
               sa.and_(WaitlistEntry.created_at == entry.created_at,
                       WaitlistEntry.id < entry.id)))).scalar_one()
    return ahead + 1


# --- offers --------------------------------------------------------------------------

def _notify_offer(entry):
    """Tell the client a locker is held for them until the offer's deadline.

    The event writes the waitlist-offer message (app.services.notifications);
    the activity log shows the offer too, so the desk knows whom to expect.
    """
    rental = db.session.get(Rental, entry.offered_rental_id)
    events.record(events.WAITLIST_OFFERED, branch_id=entry.branch_id, locker_id=rental.locker_id,
                  client_id=entry.client_id, rental_id=rental.id, entry_id=entry.id,
                  deadline=entry.offer_expires_at.isoformat(timespec="seconds"))
    audit.record(
        ActivityAction.UPDATE, model="WaitlistEntry", object_id=entry.id, branch_id=entry.branch_id,
        summary=(f"waitlist offer: {entry.client.full_name} ({entry.client.phone}), locker "
                 f"{rental.locker.number} held until "
                 f"{entry.offer_expires_at:%Y-%m-%d %H:%M} UTC"))


def _first_in_line(locker, passed_over):
    """The id of the first waiting entry this locker fits, leaving out `passed_over`."""
    query = (db.select(WaitlistEntry.id).join(Client, WaitlistEntry.client_id == Client.id)
             .where(WaitlistEntry.zone_id == locker.zone_id, WaitlistEntry.status == W.WAITING,
                    sa.or_(WaitlistEntry.size.is_(None), WaitlistEntry.size == locker.size),
                    # Banned or inactive clients keep their place but are passed over.
                    Client.status == ClientStatus.ACTIVE)
             .order_by(WaitlistEntry.created_at, WaitlistEntry.id).limit(1))
    if passed_over:
        query = query.where(WaitlistEntry.id.not_in(passed_over))
    return db.session.execute(query).scalar_one_or_none()


def _free(locker_id):
    locker = db.session.get(Locker, locker_id, populate_existing=True)
    return locker if lockers.is_free(locker) else None


@desk_action
def _reserve_for(entry_id, locker_id, by_user_id):
    """Reserve the locker for the entry's client and mark the entry Offered, together.

    Returns the entry, or raises RentalError (nothing changed) when the rental
    rules refuse this client this locker. Returns None if the entry is no longer
    waiting.
    """
    entry = db.session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None or entry.status is not W.WAITING:
        return None
    hours = settings.get("waitlist_offer_hours")
    entry.status = W.OFFERED
    entry.offer_expires_at = utcnow() + timedelta(hours=hours)
    rental = rentals.reserve(locker_id, entry.client_id, by_user_id=by_user_id, hours=hours,
                             reason="waitlist offer")
    entry.offered_rental_id = rental.id
    entry.offer_expires_at = rental.reserved_until
    _notify_offer(entry)
    return entry


def _offer_locker(locker_id, by_user_id=None):
    """Offer a free locker to the first client in line it may go to; returns that entry or None.

    A client the rental rules refuse for this locker (a gender–zone mismatch,
    another branch) is passed over for it and keeps their place for the next one.
    """
    passed_over = []
    while True:
        locker = _free(locker_id)
        if locker is None:
            return None
        entry_id = _first_in_line(locker, passed_over)
        if entry_id is None:
            return None
        try:
            entry = _reserve_for(entry_id, locker_id, by_user_id)
        except rentals.RentalError:
            entry = None
        if entry is not None:
            return entry
        passed_over.append(entry_id)


def _offer_round(branch_id=None):
    """Offer every free locker somebody waits for; returns the new offers."""
    wanted = (sa.select(WaitlistEntry.id).where(
        WaitlistEntry.zone_id == Locker.zone_id, WaitlistEntry.status == W.WAITING,
        sa.or_(WaitlistEntry.size.is_(None), WaitlistEntry.size == Locker.size))
        .correlate(Locker).exists())
    query = (db.select(Locker.id).where(lockers.free_condition(), wanted)
             .order_by(Locker.branch_id, Locker.zone_id, Locker.number, Locker.id))
    if branch_id is not None:
        query = query.where(Locker.branch_id == branch_id)
    offered = [_offer_locker(locker_id) for locker_id in db.session.execute(query).scalars().all()]
    return [entry for entry in offered if entry is not None]


def offer_free_lockers(branch_id=None, now=None):
    """Job: settle offers, then offer every free locker someone waits for. Returns the new offers.

    Offers taken or past their deadline (at `now`) are settled first, so a
    locker freed by a lapse is offered in the same run.
    """
    accept_offers()
    _lapse_due(now or utcnow(), branch_id)
    return _offer_round(branch_id)


def offer_now(entry_id, *, by_user_id):
    """Staff offer a waiting client the first free locker that fits, now. Returns the entry.

    The desk's decision may put this client before others in line; the offer
    is recorded with who made it.
    """
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None:
        raise WaitlistError(_l("That waitlist entry does not exist."))
    if entry.status is not W.WAITING:
        raise WaitlistError(_l("%(client)s is not waiting any more (%(status)s).",
                               client=entry.client.full_name, status=entry.status.label))
    query = (db.select(Locker.id).where(Locker.zone_id == entry.zone_id, lockers.free_condition())
             .order_by(Locker.number, Locker.id))
    if entry.size is not None:
        query = query.where(Locker.size == entry.size)
    refusal = None
    for locker_id in db.session.execute(query).scalars().all():
        try:
            offered = _reserve_for(entry_id, locker_id, by_user_id)
        except rentals.RentalError as exc:
            refusal = exc.message
            continue
        if offered is None:
            break
        return offered
    if refusal is not None:
        raise WaitlistError(refusal)
    entry = db.session.get(WaitlistEntry, entry_id, populate_existing=True)
    if entry.status is not W.WAITING:
        raise WaitlistError(_l("%(client)s is not waiting any more (%(status)s).",
                               client=entry.client.full_name, status=entry.status.label))
    raise WaitlistError(_l("No locker that fits is free in %(zone)s.", zone=entry.zone.local_name))


def accept_offers():
    """Job: offers whose reservation became a rental (the client took the locker) are Accepted."""
    ids = db.session.execute(db.select(WaitlistEntry.id).join(
        Rental, WaitlistEntry.offered_rental_id == Rental.id).where(
        WaitlistEntry.status == W.OFFERED, Rental.status.in_(TAKEN))
        .order_by(WaitlistEntry.id)).scalars().all()
    return sum(_accept(entry_id) for entry_id in ids)


@desk_action
def _accept(entry_id):
    entry = db.session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None or entry.status is not W.OFFERED:
        return False
    entry.status = W.ACCEPTED
    return True


def _end_offer(entry_id, to_status, *, by_user_id, reason, note=None):
    """Take an entry out of line (`to_status`), cancelling a reservation it still holds.

    Returns the id of the locker its offer held (free again now, unless
    something else took it), or None when it held none. Raises WaitlistError
    when the entry is no longer in line, or the client has taken the locker
    (which is then recorded as an acceptance).
    """
    refusal, locker_id = _settle_offer(entry_id, to_status, by_user_id, reason, note)
    if refusal is not None:
        raise WaitlistError(refusal)
    return locker_id


@desk_action
def _settle_offer(entry_id, to_status, by_user_id, reason, note):
    """(refusal or None, locker id or None); what it changed is saved either way."""
    entry = db.session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
    if entry is None or entry.status not in IN_LINE:
        return _l("This client is no longer in line."), None
    rental = db.session.get(Rental, entry.offered_rental_id) if entry.offered_rental_id else None
    if entry.status is W.OFFERED and rental is not None and rental.status in TAKEN:
        # The client took the locker before this ran: that is an acceptance.
        entry.status = W.ACCEPTED
        return _l("%(client)s has already taken the offered locker.",
                  client=entry.client.full_name), None
    entry.status = to_status
    if note:
        entry.note = _with_note(entry, note)
    if rental is None or rental.status is not RentalStatus.RESERVED:
        return None, rental.locker_id if rental is not None else None
    try:
        # In this transaction: the entry's new status and the cancelled reservation together.
        rentals.release(rental.id, by_user_id=by_user_id, reason=reason)
    except rentals.RentalError:
        pass  # the rental service's own lapse job cancelled it meanwhile: only the entry changes
    return None, rental.locker_id


def _lapse_due(now, branch_id=None):
    """Mark Lapsed the offers past their deadline, or whose reservation was cancelled early.

    Returns (how many lapsed, ids of the lockers their offers held).
    """
    query = (db.select(WaitlistEntry.id)
             .outerjoin(Rental, WaitlistEntry.offered_rental_id == Rental.id)
             .where(WaitlistEntry.status == W.OFFERED,
                    sa.or_(WaitlistEntry.offer_expires_at <= now,
                           Rental.status == RentalStatus.CANCELLED))
             .order_by(WaitlistEntry.offer_expires_at, WaitlistEntry.id))
    if branch_id is not None:
        query = query.where(WaitlistEntry.branch_id == branch_id)
    lapsed, freed = 0, []
    for entry_id in db.session.execute(query).scalars().all():
        try:
            locker_id = _end_offer(entry_id, W.LAPSED, by_user_id=None,
                                   reason="waitlist offer lapsed")
        except WaitlistError:
            continue
        lapsed += 1
        if locker_id is not None:
            freed.append(locker_id)
    return lapsed, freed


def lapse_offers(now=None):
    """Job: offers past their deadline are Lapsed; each locker they held goes to the next in line.

    When the rental service's own lapse job has cancelled the reservation
    already, the entry is only marked Lapsed. Returns how many lapsed.
    """
    # An offer taken just before its deadline is an acceptance, not a lapse.
    accept_offers()
    lapsed, freed = _lapse_due(now or utcnow())
    for locker_id in freed:
        _offer_locker(locker_id)
    return lapsed


def skip(entry_id, *, by_user_id, reason):
    """Staff pass over a client (with a reason); a locker held for them goes to the next in line."""
    reason = (reason or "").strip()
    if not reason:
        raise WaitlistError(_l("Say why this client is skipped."), "reason")
    entry = db.session.get(WaitlistEntry, entry_id) if entry_id else None
    if entry is None:
        raise WaitlistError(_l("That waitlist entry does not exist."))
    freed = _end_offer(entry.id, W.SKIPPED, by_user_id=by_user_id,
                       reason=f"waitlist skip: {reason}"[:255], note=f"skipped: {reason}")
    entry = db.session.get(WaitlistEntry, entry_id)
    next_offer = _offer_locker(freed, by_user_id) if freed is not None else None
    return Skipped(entry=entry, next_offer=next_offer)
