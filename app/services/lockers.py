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
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.models import Zone

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


class LockerError(ValueError):
    """A locker operation that the rules refuse; `message` is for the screen."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


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
    locker.status = to_status
    db.session.add(change)
    return change


def bulk_change_status(locker_ids, to_status, *, by_user_id, reason=None):
    """Change many lockers by hand, all or none; returns how many changed."""
    try:
        for locker_id in locker_ids:
            change_status(locker_id, to_status, by_user_id=by_user_id, reason=reason, manual=True)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
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


def key_tag_for(branch, number):
    """The printed tag of a locker's first key, unique across branches: "K-DHN-M-001"."""
    return f"K-{branch.code}-{number}"


def bulk_create_lockers(zone_id, prefix, first, last, *, size, by_user_id, category_id=None,
                        width=None, with_keys=True):
    """Create lockers M-001…M-050 in a zone, each with a key tag; refuses any overlap."""
    zone = db.session.get(Zone, zone_id)
    if zone is None:
        raise LockerError(_l("Choose a zone."))
    numbers = locker_numbers(prefix, first, last, width)
    taken = sorted(db.session.execute(
        db.select(Locker.number).where(Locker.branch_id == zone.branch_id,
                                       Locker.number.in_(numbers))).scalars())
    if taken:
        shown = ", ".join(taken[:10]) + (" …" if len(taken) > 10 else "")
        raise LockerError(_l("These locker numbers already exist in this branch: %(numbers)s. "
                             "Nothing was created.", numbers=shown))
    try:
        lockers = [Locker(zone=zone, number=number, size=size, category_id=category_id)
                   for number in numbers]
        db.session.add_all(lockers)
        db.session.flush()
        for locker in lockers:
            db.session.add(LockerStatusChange(locker=locker, to_status=S.AVAILABLE,
                                              changed_by_id=by_user_id,
                                              reason=f"bulk {numbers[0]}–{numbers[-1]}"))
            if with_keys:
                key = Key(locker=locker, tag=key_tag_for(zone.branch, locker.number))
                db.session.add_all([key, KeyEvent(key=key, kind=KeyEventKind.ADDED,
                                                  staff_id=by_user_id)])
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return lockers
