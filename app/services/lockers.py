"""Lockers: the status state machine (SPEC L3) and bulk creation (SPEC L2).

Every status change of a locker goes through change_status(), which refuses
illegal transitions and records who, when and why. Reserved, Assigned and
Expired are reached only through the rental flow; staff set the others by hand.
"""

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import Locker
from app.models import LockerSize
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import Rental
from app.models import Zone
from app.services import events
from app.services import keys
from app.services.access import branch_record
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.transactions import desk_action

S = LockerStatus
TRANSITIONS = {
    S.AVAILABLE: {S.RESERVED, S.ASSIGNED, S.MAINTENANCE, S.OUT_OF_SERVICE, S.CLEANING},
    S.RESERVED: {S.ASSIGNED, S.AVAILABLE, S.MAINTENANCE},
    S.ASSIGNED: {S.EXPIRED, S.CLEANING, S.AVAILABLE, S.MAINTENANCE},
    S.EXPIRED: {S.ASSIGNED, S.CLEANING, S.AVAILABLE},
    S.MAINTENANCE: {S.AVAILABLE, S.CLEANING, S.OUT_OF_SERVICE},
    S.OUT_OF_SERVICE: {S.MAINTENANCE, S.AVAILABLE},
    S.CLEANING: {S.AVAILABLE, S.MAINTENANCE},
}
# What staff may choose by hand (a list action, the grid's menu).
MANUAL_TARGETS = (S.AVAILABLE, S.MAINTENANCE, S.OUT_OF_SERVICE, S.CLEANING)
MAX_BULK_CREATE = 1000


class LockerError(Refusal):
    """A locker operation that the rules refuse; `message` is for the screen."""


def is_free(locker):
    """A locker a client can be given now: Available and not waiting for a new key."""
    return locker is not None and locker.status is S.AVAILABLE and not locker.needs_rekey


def free_condition():
    """SQL: the lockers is_free() accepts (the waitlist's and the grid's "free")."""
    return db.and_(Locker.status == S.AVAILABLE, Locker.needs_rekey.is_(False))


def allowed_targets(status):
    """The statuses a locker in `status` may move to next."""
    return TRANSITIONS[status]


def change_status(locker_id, to_status, *, by_user_id, reason=None, manual=False):
    """Move one locker to `to_status` and record it. The caller commits.

    The locker row is locked for the rest of the transaction, so two staff
    changing the same locker at once are applied one after the other.
    """
    locker = db.session.get(Locker, locker_id, with_for_update=True, populate_existing=True)
    if locker is None:
        raise LockerError(_l("That locker does not exist."))
    if manual and to_status not in MANUAL_TARGETS:
        raise LockerError(_l("%(status)s is set by the rental flow, not by hand.",
                             status=to_status.label))
    if to_status not in TRANSITIONS[locker.status]:
        raise LockerError(_l("Locker %(number)s cannot go from %(from_status)s to %(to_status)s.",
                             number=locker.number, from_status=locker.status.label,
                             to_status=to_status.label))
    change = LockerStatusChange(locker=locker, from_status=locker.status, to_status=to_status,
                                reason=(reason or "").strip()[:255] or None,
                                changed_by_id=by_user_id)
    events.record(events.LOCKER_STATUS_CHANGED, branch_id=locker.branch_id, locker_id=locker.id,
                  by_user_id=by_user_id, from_status=locker.status.name, to_status=to_status.name)
    locker.status = to_status
    db.session.add(change)
    return change


@desk_action
def bulk_change_status(locker_ids, to_status, *, by_user_id, reason=None):
    """Change many lockers by hand, all or none; returns how many changed."""
    for locker_id in locker_ids:
        change_status(locker_id, to_status, by_user_id=by_user_id, reason=reason, manual=True)
    return len(locker_ids)


def locker_numbers(prefix, first, last, width=None):
    """["M-001", …, "M-050"] for prefix "M-", 1…50, zero-padded to `width` digits.

    Without a width, numbers get at least three digits, as gyms label them.
    """
    if first < 0 or last < first:
        raise LockerError(_l("The range must run from a smaller to a larger number."))
    if last - first + 1 > MAX_BULK_CREATE:
        raise LockerError(_l("At most %(count)d lockers can be created at once.",
                             count=MAX_BULK_CREATE))
    width = width or max(3, len(str(last)))
    return [f"{prefix.strip().upper()}{n:0{width}d}" for n in range(first, last + 1)]


def add_lockers(specs, *, by_user_id, with_keys=True, reason=None):
    """New Available lockers, each with its history's first row, its first key and its event.

    The one way a locker comes to exist (the generic form, a bulk range, an
    import). `specs` are dicts of zone (a Zone), number, size, category_id and
    notes whose numbers the caller has checked. Part of the caller's transaction.
    """
    created = [Locker(zone=spec["zone"], number=spec["number"], size=spec["size"],
                      category_id=spec.get("category_id"), notes=spec.get("notes"),
                      status=S.AVAILABLE) for spec in specs]
    db.session.add_all(created)
    db.session.flush()
    extra = []
    for locker in created:
        events.record(events.LOCKER_ADDED, branch_id=locker.branch_id, locker_id=locker.id,
                      by_user_id=by_user_id, number=locker.number)
        extra.append(LockerStatusChange(locker=locker, to_status=S.AVAILABLE,
                                        changed_by_id=by_user_id, reason=(reason or "")[:255] or None))
        if with_keys:
            key = Key(locker=locker, tag=keys.key_tag_for(locker.zone.branch, locker.number))
            extra += [key, KeyEvent(key=key, kind=KeyEventKind.ADDED, staff_id=by_user_id)]
    db.session.add_all(extra)
    return created


def _add_lockers(zone, numbers, *, size, category_id, notes, by_user_id, with_keys, reason):
    """New lockers `numbers` in one zone; refuses numbers or key tags already taken."""
    taken = sorted(db.session.execute(
        db.select(Locker.number).where(Locker.branch_id == zone.branch_id,
                                       Locker.number.in_(numbers))).scalars())
    if taken:
        shown = ", ".join(taken[:10]) + (" …" if len(taken) > 10 else "")
        raise LockerError(_l("These locker numbers already exist in this branch: %(numbers)s. "
                             "Nothing was created.", numbers=shown), "number")
    if with_keys:
        keys.check_tags_free([keys.key_tag_for(zone.branch, number) for number in numbers])
    return add_lockers([{"zone": zone, "number": number, "size": size, "category_id": category_id,
                         "notes": notes} for number in numbers],
                       by_user_id=by_user_id, with_keys=with_keys, reason=reason)


def _zone(zone_id, by_user_id):
    return branch_record(Zone, zone_id, by_user_id, refusal=LockerError,
                         missing=_l("Choose a zone."),
                         elsewhere=_l("This zone belongs to another branch."), field="zone")


def _number(text):
    number = str(text or "").strip().upper()
    if not number:
        raise LockerError(_l("Enter the locker number."), "number")
    if len(number) > 20:
        raise LockerError(_l("A locker number has at most 20 characters."), "number")
    return number


def _check_number_free(branch_id, number, except_locker_id=None):
    query = db.select(Locker.id).where(Locker.branch_id == branch_id, Locker.number == number)
    if except_locker_id is not None:
        query = query.where(Locker.id != except_locker_id)
    if db.session.execute(query.limit(1)).first() is not None:
        raise LockerError(_l("Locker %(number)s already exists in this branch.", number=number),
                          "number")


@desk_action
def create_locker(data, *, by_user_id):
    """One new locker, exactly as a bulk creation of one makes it: Available, with its key.

    `data`: zone_id, number, size, category_id, notes.
    """
    zone = _zone(data.get("zone_id"), by_user_id)
    number = _number(data.get("number"))
    _check_number_free(zone.branch_id, number)
    size = data.get("size") or LockerSize.MEDIUM
    return _add_lockers(zone, [number], size=size,
                        category_id=data.get("category_id"),
                        notes=(data.get("notes") or "").strip()[:255] or None,
                        by_user_id=by_user_id, with_keys=True, reason="created")[0]


@desk_action
def update_locker(locker_id, data, *, by_user_id):
    """Correct a locker's number, zone, size, category or notes (its status has its own door).

    A locker stays in its branch: its number is unique there and its key tags
    and history belong to it.
    """
    locker = db.session.get(Locker, locker_id, with_for_update=True, populate_existing=True)
    if locker is None:
        raise LockerError(_l("That locker does not exist."))
    if not may_act_on_branch(by_user_id, locker.branch_id):
        raise LockerError(_l("This locker belongs to another branch."))
    zone = _zone(data.get("zone_id", locker.zone_id), by_user_id)
    if zone.branch_id != locker.branch_id:
        raise LockerError(_l("A locker cannot move to another branch; create it there instead."),
                          "zone")
    number = _number(data.get("number", locker.number))
    _check_number_free(locker.branch_id, number, except_locker_id=locker.id)
    locker.zone, locker.number = zone, number
    locker.size = data.get("size") or locker.size
    locker.category_id = data.get("category_id")
    locker.notes = (data.get("notes") or "").strip()[:255] or None
    events.record(events.LOCKER_UPDATED, branch_id=locker.branch_id, locker_id=locker.id,
                  by_user_id=by_user_id)
    return locker


@desk_action
def delete_locker(locker_id, *, by_user_id):
    """Remove a locker created by mistake; one that was ever used keeps its history.

    A locker that was rented, reserved, serviced or had a key handed out is
    refused: put it Out of service instead.
    """
    locker = db.session.get(Locker, locker_id, with_for_update=True, populate_existing=True)
    if locker is None:
        raise LockerError(_l("That locker does not exist."))
    if not may_act_on_branch(by_user_id, locker.branch_id):
        raise LockerError(_l("This locker belongs to another branch."))
    used = any(db.session.execute(query.limit(1)).first() is not None for query in (
        db.select(Rental.id).where(Rental.locker_id == locker.id),
        db.select(MaintenanceTicket.id).where(MaintenanceTicket.locker_id == locker.id),
        db.select(LostItem.id).where(LostItem.locker_id == locker.id),
        db.select(KeyEvent.id).join(Key).where(Key.locker_id == locker.id,
                                               KeyEvent.kind != KeyEventKind.ADDED),
    ))
    if used or locker.status is not S.AVAILABLE:
        raise LockerError(_l("Locker %(number)s has a history; put it Out of service instead of "
                             "deleting it.", number=locker.number))
    key_ids = [key.id for key in locker.keys]
    if key_ids:
        db.session.execute(db.delete(KeyEvent).where(KeyEvent.key_id.in_(key_ids)))
    for key in list(locker.keys):
        db.session.delete(key)
    db.session.execute(db.delete(LockerStatusChange).where(LockerStatusChange.locker_id == locker.id))
    events.record(events.LOCKER_REMOVED, branch_id=locker.branch_id, locker_id=locker.id,
                  by_user_id=by_user_id, number=locker.number)
    db.session.delete(locker)


@desk_action
def bulk_create_lockers(zone_id, prefix, first, last, *, size, by_user_id, category_id=None,
                        width=None, with_keys=True):
    """Create lockers M-001…M-050 in a zone, each with a key tag; refuses any overlap."""
    zone = _zone(zone_id, by_user_id)
    numbers = locker_numbers(prefix, first, last, width)
    return _add_lockers(zone, numbers, size=size, category_id=category_id, notes=None,
                        by_user_id=by_user_id, with_keys=with_keys,
                        reason=f"bulk {numbers[0]}–{numbers[-1]}")
