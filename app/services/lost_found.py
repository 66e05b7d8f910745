"""Lost & found (SPEC L7): things cleaned out of lockers, kept, then claimed or disposed of.

An item is recorded against the locker it came from; the rental it came from
(and so its client) is found automatically. It stays Held until the client
claims it or, once the holding period (setting lost_item_holding_days) has
passed, it is disposed of. Every function here that is a desk action commits,
or rolls back and raises LostFoundError with a translated `message` and the
form `field` it is about.
"""

from datetime import date
from datetime import datetime
from datetime import timedelta

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import Locker
from app.models import LostItem
from app.models import LostItemStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import User
from app.services import clock
from app.services import settings
from app.services import uploads
from app.services.access import can
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.transactions import desk_action

HOLDING_DAYS_SETTING = "lost_item_holding_days"
DEFAULT_HOLDING_DAYS = 30
UPLOAD_FOLDER = "lost_found"
# A reservation that was cancelled or never taken up held nothing, so items
# cannot have come from it.
_NEVER_OCCUPIED = (RentalStatus.RESERVED, RentalStatus.CANCELLED)


class LostFoundError(Refusal):
    """A lost & found operation the rules refuse; `message` for the screen, `field` the form field."""


def holding_days():
    """Days an item is kept before it may be disposed of (default 30)."""
    if HOLDING_DAYS_SETTING not in settings.SETTINGS:
        return DEFAULT_HOLDING_DAYS
    try:
        return max(0, int(settings.get(HOLDING_DAYS_SETTING)))
    except (TypeError, ValueError):
        return DEFAULT_HOLDING_DAYS


def kept_until(item, days=None):
    """The last day of the item's holding period; it may be disposed of after it."""
    return item.cleaned_out_on + timedelta(days=holding_days() if days is None else days)


def may_dispose_early(user):
    """True if `user` may dispose of an item before its holding period is over.

    lost_found has no delete permission (items are never deleted, only marked
    disposed), so the authority of a Manager or Super Admin is read from
    lockers-delete, which only those two roles hold by default.
    """
    return user is not None and can(user, "lockers", "delete")


# --- loading with the branch check ---------------------------------------------------

def _acting_user(by_user_id):
    return db.session.get(User, by_user_id) if by_user_id is not None else None


def _check_branch(branch_id, by_user_id, field):
    """Staff limited to a branch act on that branch only, whatever a form sent."""
    if not may_act_on_branch(by_user_id, branch_id):
        raise LostFoundError(_l("This locker belongs to another branch."), field)


def _item_for(item_id, by_user_id):
    item = db.session.get(LostItem, item_id, with_for_update=True, populate_existing=True)
    if item is None:
        raise LostFoundError(_l("That item does not exist."))
    _check_branch(item.branch_id, by_user_id, None)
    return item


def _client_id(client_id, branch_id):
    if client_id in (None, ""):
        return None
    client = db.session.get(Client, int(client_id))
    if client is None or client.branch_id != branch_id:
        raise LostFoundError(_l("The client must be registered at this locker's branch."),
                             "client")
    return client.id


def _text(value, *, limit, field, required_message=None):
    value = (value or "").strip()
    if required_message is not None and not value:
        raise LostFoundError(required_message, field)
    if len(value) > limit:
        raise LostFoundError(_l("Keep this to %(count)d characters.", count=limit), field)
    return value or None


def _a_date(value, field, default):
    if value in (None, ""):
        return default
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise LostFoundError(_l("Enter a date."), field)


def _require_held(item, refusal):
    """Raise `refusal` unless the item is still Held."""
    if item.status is not LostItemStatus.HELD:
        raise LostFoundError(refusal)


# --- desk actions ----------------------------------------------------------------------

def rental_for(locker_id, cleaned_out_on):
    """The most recent rental of the locker that started on or before `cleaned_out_on`.

    The date is the branch's local date, so "on" means before the branch's
    next midnight.
    """
    locker = db.session.get(Locker, locker_id)
    if locker is None:
        return None
    before = clock.day_start_utc(cleaned_out_on + timedelta(days=1), locker.branch.timezone)
    stmt = (db.select(Rental)
            .where(Rental.locker_id == locker_id, Rental.starts_at < before,
                   Rental.status.not_in(_NEVER_OCCUPIED))
            .order_by(Rental.starts_at.desc(), Rental.id.desc())
            .limit(1))
    return db.session.execute(stmt).scalar_one_or_none()


@desk_action
def record_item(locker_id, description, *, by_user_id, cleaned_out_on=None, storage_place=None,
                client_id=None, photo=None):
    """Record an item cleaned out of a locker  returns the LostItem.

    The rental it came from is linked automatically, and with it the client,
    unless staff name another client (`client_id`).
    """
    stored = None
    try:
        locker = db.session.get(Locker, int(locker_id)) if locker_id not in (None, "") else None
        if locker is None:
            raise LostFoundError(_l("Choose the locker the item came from."), "locker")
        _check_branch(locker.branch_id, by_user_id, "locker")
        today = clock.today(locker.branch.timezone)
        cleaned_out_on = _a_date(cleaned_out_on, "cleaned_out_on", today)
        if cleaned_out_on > today:
            raise LostFoundError(_l("The cleaned-out date cannot be in the future."),
                                 "cleaned_out_on")
        item = LostItem(
            branch_id=locker.branch_id, locker=locker, status=LostItemStatus.HELD,
            cleaned_out_on=cleaned_out_on, handled_by_id=by_user_id,
            description=_text(description, limit=255, field="description",
                              required_message=_l("Describe the item.")),
            storage_place=_text(storage_place, limit=120, field="storage_place"),
        )
        rental = rental_for(locker.id, cleaned_out_on)
        item.rental_id = rental.id if rental else None
        chosen = _client_id(client_id, locker.branch_id)
        item.client_id = chosen if chosen is not None else (rental.client_id if rental else None)
        stored = item.photo_path = uploads.store_photo(photo, UPLOAD_FOLDER)
        db.session.add(item)
    except Exception:
        uploads.discard(stored)
        raise
    return item


@desk_action
def update_item(item_id, *, by_user_id, description, storage_place=None, client_id=None,
                photo=None):
    """Correct a held item's description, storage place, client or photo."""
    stored = None
    try:
        item = _item_for(item_id, by_user_id)
        _require_held(item, _l("Only a held item can be changed; %(item)s is %(status)s.",
                               item=item.description, status=item.status.label))
        item.description = _text(description, limit=255, field="description",
                                 required_message=_l("Describe the item."))
        item.storage_place = _text(storage_place, limit=120, field="storage_place")
        item.client_id = _client_id(client_id, item.branch_id)
        stored = uploads.store_photo(photo, UPLOAD_FOLDER)
        if stored:
            item.photo_path = stored
    except Exception:
        uploads.discard(stored)
        raise
    return item


def _day_since_cleaned_out(item, value, field, out_of_range):
    """The date typed in `field` (today at the branch if empty), from cleaning-out to today."""
    today = clock.branch_today(item.branch_id)
    day = _a_date(value, field, today)
    if day > today or day < item.cleaned_out_on:
        raise LostFoundError(out_of_range, field)
    return day


@desk_action
def claim_item(item_id, *, by_user_id, claimed_on=None, client_id=None):
    """The client collects a held item; commits.

    `client_id` names who claimed it when it is not (or not only) the client
    already linked; a claim always names a client.
    """
    item = _item_for(item_id, by_user_id)
    _require_held(item, _l("Only a held item can be claimed; %(item)s is %(status)s.",
                           item=item.description, status=item.status.label))
    claimed_on = _day_since_cleaned_out(item, claimed_on, "claimed_on", _l(
        "The claim date must be between the cleaned-out date and today."))
    claimant = _client_id(client_id, item.branch_id) or item.client_id
    if claimant is None:
        raise LostFoundError(_l("Choose the client who claimed the item."), "client")
    item.client_id = claimant
    item.status = LostItemStatus.CLAIMED
    item.claimed_on = claimed_on
    item.handled_by_id = by_user_id
    return item


def _dispose(item, *, user, disposed_on, days):
    _require_held(item, _l("Only a held item can be disposed of; %(item)s is %(status)s.",
                           item=item.description, status=item.status.label))
    disposed_on = _day_since_cleaned_out(item, disposed_on, "disposed_on", _l(
        "The disposal date must be between the cleaned-out date and today."))
    if disposed_on <= kept_until(item, days) and not may_dispose_early(user):
        raise LostFoundError(_l("%(item)s is kept until %(date)s; only a manager may dispose of "
                                "it earlier.", item=item.description,
                                date=format_date(kept_until(item, days))))
    item.status = LostItemStatus.DISPOSED
    item.disposed_on = disposed_on
    item.handled_by_id = user.id if user is not None else None


def dispose_item(item_id, *, by_user_id, disposed_on=None):
    """Dispose of one held item whose holding period is over (earlier: managers only); commits."""
    return dispose_items([item_id], by_user_id=by_user_id, disposed_on=disposed_on)[0]


@desk_action
def dispose_items(item_ids, *, by_user_id, disposed_on=None):
    """Dispose of several items, all or none; commits and returns them."""
    user = _acting_user(by_user_id)
    days = holding_days()
    items = []
    for item_id in item_ids:
        item = _item_for(item_id, by_user_id)
        _dispose(item, user=user, disposed_on=disposed_on, days=days)
        items.append(item)
    return items


# --- lists -----------------------------------------------------------------------------

def due_for_disposal_condition(branch_id=None):
    """SQL condition: held longer than the holding period, by each branch's own today."""
    days = holding_days()
    stmt = db.select(Branch.id, Branch.timezone)
    if branch_id is not None:
        stmt = stmt.where(Branch.id == branch_id)
    per_branch = [
        db.and_(LostItem.branch_id == bid,
                LostItem.cleaned_out_on < clock.today(tz) - timedelta(days=days))
        for bid, tz in db.session.execute(stmt).all()
    ]
    if not per_branch:
        return db.false()
    return db.and_(LostItem.status == LostItemStatus.HELD, db.or_(*per_branch))


def due_for_disposal(branch_id=None):
    """Held items past their holding period, longest held first."""
    stmt = (db.select(LostItem).where(due_for_disposal_condition(branch_id))
            .order_by(LostItem.cleaned_out_on, LostItem.id))
    return list(db.session.execute(stmt).scalars())


def items_for_client(client_id):
    """Every item linked to a client, newest first (the client profile's lost & found)."""
    stmt = (db.select(LostItem).where(LostItem.client_id == client_id)
            .order_by(LostItem.cleaned_out_on.desc(), LostItem.id.desc()))
    return list(db.session.execute(stmt).scalars())
