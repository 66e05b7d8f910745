"""The rental life cycle (SPEC R1–R6): reserve, assign, renew, release, expire, abandon.

Every function here that changes a rental is a desk action (one transaction,
app.services.transactions) and follows the locker's lock order (the locker
row, then the rental's, app.services.locking), re-checking the state it
found under the locks. Two desks can never hand out the same locker, and a
renewal and a release of the same rental at the same moment run one after
the other: the second is refused with the reason. The database backs this
up with the UNIQUE `rental.holding_locker_id`.

Assigning and renewing always price the term with the price matrix
(app.services.pricing.quote) and issue its invoice in the same transaction,
whichever door they come through: the desk screens, a bulk renewal from the
rentals list, the waitlist, the demo data. Every transition is recorded with
who and why (RentalStatusChange) and as a domain event.
"""

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Client
from app.models import ClientStatus
from app.models import Gender
from app.models import LockerStatus
from app.models import LostItem
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalStatusChange
from app.models import RentalTerm
from app.models import User
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import clock
from app.services import events
from app.services import lockers
from app.services import locking
from app.services import pricing
from app.services import settings
from app.services.errors import Refusal
from app.services.locking import HOLDING
from app.services.transactions import desk_action
from app.services.transactions import refuse_on_constraint

# Zones reserved for one gender; anyone else needs a manager's override.
ZONE_GENDERS = {ZoneKind.MEN: Gender.MALE, ZoneKind.WOMEN: Gender.FEMALE}
# The permission that marks a manager for overrides (Managers and Super Admins have it).
OVERRIDE_PERMISSION = "rentals-delete"
# What a rental's end does to its locker, by how it ended.
EVENT_OF = {RentalStatus.RESERVED: events.RENTAL_RESERVED, RentalStatus.ACTIVE: events.RENTAL_ASSIGNED,
            RentalStatus.EXPIRED: events.RENTAL_EXPIRED, RentalStatus.RELEASED: events.RENTAL_RELEASED,
            RentalStatus.CANCELLED: events.RENTAL_RELEASED,
            RentalStatus.ABANDONED: events.RENTAL_ABANDONED}


class RentalError(Refusal):
    """The rules refuse this; `message` is shown to staff and nothing was saved."""


class NeedsOverride(RentalError):
    """Allowed only with a manager's override and a reason (gender–zone mismatch)."""


# The holding constraint: another desk got there first (constraint name; SQLite names the column).
for _name in ("uq_rental_holding_locker_id", "rental.holding_locker_id"):
    refuse_on_constraint(_name, _l("Someone else has just taken this locker. Nothing was saved."))


def _record(rental, to_status, by_user_id, reason=None, event=None):
    db.session.add(RentalStatusChange(rental=rental, from_status=rental.status, to_status=to_status,
                                      changed_by_id=by_user_id,
                                      reason=(reason or "").strip()[:255] or None))
    rental.status = to_status
    locker_id = rental.locker.id if rental.locker is not None else rental.locker_id
    rental.holding_locker_id = locker_id if to_status in HOLDING else None
    if to_status not in HOLDING:
        rental.ended_at = utcnow()
    db.session.flush()
    events.record(event or EVENT_OF[to_status], branch_id=rental.branch_id, locker_id=locker_id,
                  client_id=rental.client_id, rental_id=rental.id, by_user_id=by_user_id,
                  status=to_status.name)


def _move_locker(locker_id, to_status, by_user_id, reason=None):
    """The locker's part of a rental transition; its refusal becomes the rental's."""
    try:
        lockers.change_status(locker_id, to_status, by_user_id=by_user_id, reason=reason)
    except lockers.LockerError as exc:
        raise RentalError(exc.message) from exc


def _quoted(locker_id, client_id, term, days, coupon_code, expected_total_poisha):
    """The quote the invoice is issued from; refused if it is not what staff were shown."""
    try:
        quote = pricing.quote(locker_id, client_id, term, days=days, coupon_code=coupon_code)
    except pricing.PricingError as exc:
        raise RentalError(exc.message) from exc
    if expected_total_poisha is not None and quote.total_poisha != expected_total_poisha:
        raise RentalError(_l("The price has changed since it was shown. Check the new price and "
                             "confirm again."))
    return quote


def gender_mismatch(locker, client):
    """A translated warning when the client does not fit the locker's zone, else None."""
    kind = locker.zone.kind
    if kind is ZoneKind.STAFF:
        return _l("Locker %(number)s is in a staff zone.", number=locker.number)
    wanted = ZONE_GENDERS.get(kind)
    if wanted is not None and client.gender is not wanted:
        return _l("Locker %(number)s is in the %(zone)s zone and %(client)s is not.",
                  number=locker.number, zone=kind.label, client=client.full_name)
    return None


def _check_client(client):
    if client is None:
        raise RentalError(_l("That client does not exist."))
    if client.status is ClientStatus.BANNED:
        raise RentalError(_l("%(client)s is banned and cannot rent a locker.",
                             client=client.full_name))
    if client.status is not ClientStatus.ACTIVE:
        raise RentalError(_l("%(client)s is inactive. Reactivate the client first.",
                             client=client.full_name))


def _check_locker(locker, client, by_user_id, override_reason):
    if locker is None:
        raise RentalError(_l("That locker does not exist."))
    if locker.branch_id != client.branch_id:
        raise RentalError(_l("The client and the locker belong to different branches."))
    if locker.needs_rekey:
        raise RentalError(_l("Locker %(number)s needs a new key or lock before it can be rented.",
                             number=locker.number))
    if locker.status in (LockerStatus.MAINTENANCE, LockerStatus.OUT_OF_SERVICE,
                         LockerStatus.CLEANING):
        raise RentalError(_l("Locker %(number)s is in %(status)s and cannot be rented.",
                             number=locker.number, status=locker.status.label))
    warning = gender_mismatch(locker, client)
    if warning is None:
        return None
    if not (override_reason or "").strip():
        raise NeedsOverride(warning)
    user = db.session.get(User, by_user_id) if by_user_id else None
    if user is None or not user.has_permission(OVERRIDE_PERMISSION):
        raise RentalError(_l("Only a manager can override this: %(warning)s", warning=warning))
    return f"override: {override_reason.strip()}"


def _client_shared(client_id):
    """The client, read under a shared lock: anonymising them (privacy) waits for this
    rental, or this rental sees them anonymised and inactive, never half of each."""
    return db.session.get(Client, client_id, with_for_update={"read": True},
                          populate_existing=True)


@desk_action
def reserve(locker_id, client_id, *, by_user_id, hours=None, override_reason=None, reason=None):
    """Hold an Available locker for a client until a deadline (SPEC R1)."""
    client = _client_shared(client_id)
    _check_client(client)
    locker = locking.lock_locker(locker_id).locker
    note = _check_locker(locker, client, by_user_id, override_reason)
    if locker.status is not LockerStatus.AVAILABLE:
        raise RentalError(_l("Locker %(number)s is %(status)s, not available.",
                             number=locker.number, status=locker.status.label))
    hours = hours or settings.get("reservation_hold_hours")
    now = utcnow()
    _move_locker(locker.id, LockerStatus.RESERVED, by_user_id, note or reason)
    rental = Rental(branch_id=locker.branch_id, locker=locker, client=client,
                    term=RentalTerm.DAILY, days=0, starts_at=now, ends_at=now,
                    reserved_until=now + timedelta(hours=int(hours)), status=None,
                    price_poisha=0, created_by_id=by_user_id)
    db.session.add(rental)
    _record(rental, RentalStatus.RESERVED, by_user_id, note or reason)
    return rental


@desk_action
def assign(locker_id, client_id, term, *, by_user_id, days=None, override_reason=None,
           coupon_code=None, instalments=None, expected_total_poisha=None, reason=None,
           pay_now=None):
    """Give a locker to a client for a term and invoice it (SPEC R2, P1).

    A reservation of theirs on the locker becomes the rental. The term is
    priced by the price matrix with discounts, the coupon and VAT; the invoice
    (in `instalments` if asked) is issued in the same transaction, so a refused
    coupon leaves nothing assigned. With `expected_total_poisha` (what the
    screen showed), a price that changed meanwhile is refused rather than charged.
    With `pay_now` (a payment method), the whole invoice is paid in the same
    transaction: the desk's "assign and take cash".
    """
    client = _client_shared(client_id)
    _check_client(client)
    locked = locking.lock_locker(locker_id)
    locker = locked.locker
    note = _check_locker(locker, client, by_user_id, override_reason)
    if not isinstance(term, RentalTerm):
        term = RentalTerm[str(term)]
    reservation = locked.rental if (
        locked.rental is not None and locked.rental.status is RentalStatus.RESERVED
        and locked.rental.client_id == client.id) else None
    if locker.status is not LockerStatus.AVAILABLE and reservation is None:
        raise RentalError(_l("Locker %(number)s is %(status)s, not available.",
                             number=locker.number, status=locker.status.label))
    quote = _quoted(locker.id, client.id, term, days, coupon_code, expected_total_poisha)
    now = utcnow()
    _move_locker(locker.id, LockerStatus.ASSIGNED, by_user_id, note or reason)
    rental = reservation or Rental(branch_id=locker.branch_id, locker=locker, client=client,
                                   status=None, created_by_id=by_user_id)
    rental.term, rental.days = term, quote.days
    rental.starts_at, rental.ends_at = now, now + timedelta(days=quote.days)
    rental.price_poisha = quote.total_poisha
    rental.reserved_until = None
    db.session.add(rental)
    _record(rental, RentalStatus.ACTIVE, by_user_id, note or reason)
    _invoice(rental, quote, by_user_id, instalments, pay_now)
    return rental


def renewal_quote(rental_id, *, coupon_code=None):
    """What renewing the rental would cost now: the same term, priced today."""
    rental = db.session.get(Rental, rental_id)
    if rental is None:
        raise RentalError(_l("That rental does not exist."))
    try:
        return pricing.quote(rental.locker_id, rental.client_id, rental.term,
                             days=rental.days if rental.term is RentalTerm.CUSTOM else None,
                             coupon_code=coupon_code)
    except pricing.PricingError as exc:
        raise RentalError(exc.message) from exc


@desk_action
def renew(rental_id, *, by_user_id, reason=None, coupon_code=None, instalments=None,
          expected_total_poisha=None, pay_now=None):
    """One more term, same length, starting when the current one ends, invoiced (SPEC R3).

    Priced and invoiced (and with `pay_now`, paid) exactly as assign() does, in
    the same transaction.
    """
    locked = locking.lock_rental(rental_id)
    current, locker = locked.rental, locked.locker
    if current is None or current.status not in (RentalStatus.ACTIVE, RentalStatus.EXPIRED):
        raise RentalError(_l("Only an active or expired rental can be renewed."))
    _check_client(current.client)
    quote = _quoted(locker.id, current.client_id, current.term,
                    current.days if current.term is RentalTerm.CUSTOM else None, coupon_code,
                    expected_total_poisha)
    if current.status is RentalStatus.EXPIRED:
        _move_locker(locker.id, LockerStatus.ASSIGNED, by_user_id, "renewed")
    starts = max(current.ends_at, utcnow()) if current.status is RentalStatus.EXPIRED \
        else current.ends_at
    # The old term stops holding the locker before the new one starts to.
    _record(current, RentalStatus.RELEASED, by_user_id, reason or "renewed",
            event=events.RENTAL_RENEWED)
    renewal = Rental(branch_id=current.branch_id, locker=locker, client=current.client,
                     term=current.term, days=quote.days, starts_at=starts,
                     ends_at=starts + timedelta(days=quote.days), status=None,
                     price_poisha=quote.total_poisha, renewed_from=current,
                     created_by_id=by_user_id)
    db.session.add(renewal)
    _record(renewal, RentalStatus.ACTIVE, by_user_id, reason or "renewal",
            event=events.RENTAL_RENEWED)
    _invoice(renewal, quote, by_user_id, instalments, pay_now)
    return renewal


def _invoice(rental, quote, by_user_id, instalments, pay_now=None):
    try:
        invoice = billing.add_invoice(rental, quote, by_user_id=by_user_id,
                                      instalments=instalments)
        if pay_now is not None and invoice.total_poisha > 0:
            billing.record_payment(invoice.id, invoice.total_poisha, pay_now,
                                   by_user_id=by_user_id)
    except billing.BillingError as exc:
        raise RentalError(exc.message, exc.field) from exc


def bulk_renew(rental_ids, *, by_user_id):
    """Renew many rentals, each exactly as the renew screen does (priced, invoiced).

    Each renewal is its own transaction: one refused does not stop the others.
    Returns [(rental id, the renewal or None, the refusal message or None)] in order.
    """
    results = []
    for rental_id in rental_ids:
        try:
            results.append((rental_id, renew(rental_id, by_user_id=by_user_id), None))
        except Refusal as exc:
            results.append((rental_id, None, exc.message))
    return results


@desk_action
def release(rental_id, *, by_user_id, locker_to=LockerStatus.CLEANING, reason=None):
    """End a rental now; the locker goes to Cleaning (or straight to Available)."""
    if locker_to not in (LockerStatus.CLEANING, LockerStatus.AVAILABLE):
        raise RentalError(_l("After a rental a locker goes to Cleaning or Available."))
    rental = locking.lock_rental(rental_id).rental
    if rental is None or rental.status not in HOLDING:
        raise RentalError(_l("This rental does not hold a locker any more."))
    ending = RentalStatus.CANCELLED if rental.status is RentalStatus.RESERVED \
        else RentalStatus.RELEASED
    target = LockerStatus.AVAILABLE if ending is RentalStatus.CANCELLED else locker_to
    _move_locker(rental.locker_id, target, by_user_id, reason)
    _record(rental, ending, by_user_id, reason)
    return rental


@desk_action
def _move_on(rental_id, still_due, locker_to, rental_to, reason, after, event=None):
    """One rental of a sweep, under the locks; False if a desk changed it meanwhile."""
    rental = locking.lock_rental(rental_id).rental
    if rental is None or not still_due(rental):
        return False
    _move_locker(rental.locker_id, locker_to, None, reason)
    _record(rental, rental_to, None, reason, event=event)
    if after is not None:
        after(rental)
    return True


def _sweep(due, still_due, locker_to, rental_to, reason, after=None, event=None):
    """Move every rental matching `due` on, one desk action each; returns how many moved.

    Each rental is re-read under the locks and checked again (`still_due`), so
    a desk that renewed or released it meanwhile wins over the job. A rental the
    rules refuse (its locker was put out of use by hand) is left for staff.
    """
    ids = db.session.execute(db.select(Rental.id).where(*due).order_by(Rental.id)).scalars().all()
    db.session.rollback()
    moved = 0
    for rental_id in ids:
        try:
            moved += _move_on(rental_id, still_due, locker_to, rental_to, reason, after, event)
        except Refusal:
            continue
    return moved


def expire_due(now=None):
    """Job: active rentals past their end become Expired, and so do their lockers."""
    now = now or utcnow()
    return _sweep((Rental.status == RentalStatus.ACTIVE, Rental.ends_at <= now),
                  lambda r: r.status is RentalStatus.ACTIVE and r.ends_at <= now,
                  LockerStatus.EXPIRED, RentalStatus.EXPIRED, "term ended")


def lapse_reservations(now=None):
    """Job: reservations past their deadline end; the locker is free again (SPEC R1)."""
    now = now or utcnow()
    return _sweep((Rental.status == RentalStatus.RESERVED, Rental.reserved_until <= now),
                  lambda r: r.status is RentalStatus.RESERVED and r.reserved_until <= now,
                  LockerStatus.AVAILABLE, RentalStatus.CANCELLED, "reservation lapsed",
                  event=events.RENTAL_LAPSED)


def abandon_overdue(now=None):
    """Job: expired rentals past the grace period are abandoned (SPEC R5).

    The locker goes to Cleaning and a lost-and-found record is opened for what
    staff find inside.
    """
    now = now or utcnow()
    grace = timedelta(days=settings.get("grace_period_days"))

    def open_lost_item(rental):
        db.session.add(LostItem(
            branch_id=rental.branch_id, locker_id=rental.locker_id, rental=rental,
            client_id=rental.client_id,
            cleaned_out_on=clock.local_day(now, rental.branch.timezone),
            description=_("Contents of locker %(number)s (abandoned rental)",
                          number=rental.locker.number)))

    return _sweep((Rental.status == RentalStatus.EXPIRED, Rental.ends_at <= now - grace),
                  lambda r: r.status is RentalStatus.EXPIRED and r.ends_at <= now - grace,
                  LockerStatus.CLEANING, RentalStatus.ABANDONED, "grace period over",
                  after=open_lost_item)
