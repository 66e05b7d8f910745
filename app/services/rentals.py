"""The rental life cycle (SPEC R1–R6): reserve, assign, renew, release, expire, abandon.

Two staff can never hand out the same locker: the locker row is locked while
its status changes (lockers.change_status), and the database itself refuses a
second rental holding a locker (the UNIQUE `rental.holding_locker_id`).
Every rental transition is recorded with who and why (RentalStatusChange).
Functions named after a desk action commit, or roll back and raise RentalError.
"""

from contextlib import contextmanager
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Client
from app.models import ClientStatus
from app.models import Gender
from app.models import Locker
from app.models import LockerStatus
from app.models import LostItem
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalStatusChange
from app.models import RentalTerm
from app.models import User
from app.models import ZoneKind
from app.models import utcnow
from app.services import lockers
from app.services import settings

HOLDING = (RentalStatus.RESERVED, RentalStatus.ACTIVE, RentalStatus.EXPIRED)
# Zones reserved for one gender; anyone else needs a manager's override.
ZONE_GENDERS = {ZoneKind.MEN: Gender.MALE, ZoneKind.WOMEN: Gender.FEMALE}
# The permission that marks a manager for overrides (Managers and Super Admins have it).
OVERRIDE_PERMISSION = "rentals-delete"


class RentalError(ValueError):
    """The rules refuse this; `message` is shown to staff and nothing was saved."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class NeedsOverride(RentalError):
    """Allowed only with a manager's override and a reason (gender–zone mismatch)."""


def _record(rental, to_status, by_user_id, reason=None):
    db.session.add(RentalStatusChange(rental=rental, from_status=rental.status, to_status=to_status,
                                      changed_by_id=by_user_id,
                                      reason=(reason or "").strip()[:255] or None))
    rental.status = to_status
    locker_id = rental.locker.id if rental.locker is not None else rental.locker_id
    rental.holding_locker_id = locker_id if to_status in HOLDING else None
    if to_status not in HOLDING:
        rental.ended_at = utcnow()


def _refusal(exc):
    """A refusal from the locker state machine, as a rental refusal for the desk."""
    return RentalError(exc.message)


@contextmanager
def _desk_action():
    """One desk action: committed at the end, or rolled back whole and refused."""
    try:
        yield
    except lockers.LockerError as exc:
        db.session.rollback()
        raise _refusal(exc) from exc
    except Exception:
        db.session.rollback()
        raise
    _commit_or_raise()


def _commit_or_raise():
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        # The holding constraint: another desk got there first.
        raise RentalError(_l("Someone else has just taken this locker. Nothing was saved.")) from exc
    except Exception:
        db.session.rollback()
        raise


def term_days(term, days=None):
    """Days in a term: the preset's, or `days` for a custom term (1–730)."""
    if term is RentalTerm.CUSTOM:
        if not days or days < 1 or days > 730:
            raise RentalError(_l("A custom term needs a number of days from 1 to 730."))
        return int(days)
    return term.days


def price_for(locker, term, days=None):
    """The price in poisha of renting `locker` for a term, from the settings' price table.

    Until the pricing matrix exists, prices are taka per locker category and term;
    a custom term is priced pro rata from the daily price.
    """
    table = settings.get("rental_prices_taka")
    row = table.get(locker.category.name if locker.category else "*") or table["*"]
    if term is RentalTerm.CUSTOM:
        taka = Decimal(str(row.get("DAILY", table["*"]["DAILY"]))) * term_days(term, days)
    else:
        taka = Decimal(str(row.get(term.name, table["*"][term.name])))
    return int((taka * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


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


def _reservation_for(locker, client):
    return db.session.execute(db.select(Rental).where(
        Rental.holding_locker_id == locker.id, Rental.status == RentalStatus.RESERVED,
        Rental.client_id == client.id)).scalar_one_or_none()


def reserve(locker_id, client_id, *, by_user_id, hours=None, override_reason=None, reason=None):
    """Hold an Available locker for a client until a deadline (SPEC R1)."""
    with _desk_action():
        client = db.session.get(Client, client_id)
        _check_client(client)
        locker = db.session.get(Locker, locker_id, with_for_update=True, populate_existing=True)
        note = _check_locker(locker, client, by_user_id, override_reason)
        if locker.status is not LockerStatus.AVAILABLE:
            raise RentalError(_l("Locker %(number)s is %(status)s, not available.",
                                 number=locker.number, status=locker.status.label))
        hours = hours or settings.get("reservation_hold_hours")
        now = utcnow()
        lockers.change_status(locker.id, LockerStatus.RESERVED, by_user_id=by_user_id,
                              reason=note or reason)
        rental = Rental(branch_id=locker.branch_id, locker=locker, client=client,
                        term=RentalTerm.DAILY, days=0, starts_at=now, ends_at=now,
                        reserved_until=now + timedelta(hours=int(hours)),
                        status=RentalStatus.RESERVED, holding_locker_id=locker.id,
                        price_poisha=0, created_by_id=by_user_id)
        db.session.add(rental)
        db.session.add(RentalStatusChange(rental=rental, to_status=RentalStatus.RESERVED,
                                          changed_by_id=by_user_id, reason=note or reason))
    return rental


def assign(locker_id, client_id, term, *, by_user_id, days=None, override_reason=None,
           price_poisha=None, reason=None, then=None):
    """Give a locker to a client for a term (SPEC R2); a reservation of theirs becomes it.

    `then(rental)` runs inside the same transaction (the invoice is issued there),
    so a refusal from it leaves nothing assigned.
    """
    with _desk_action():
        client = db.session.get(Client, client_id)
        _check_client(client)
        locker = db.session.get(Locker, locker_id, with_for_update=True, populate_existing=True)
        note = _check_locker(locker, client, by_user_id, override_reason)
        length = term_days(term, days)
        reservation = _reservation_for(locker, client) if locker.status is LockerStatus.RESERVED \
            else None
        if locker.status is not LockerStatus.AVAILABLE and reservation is None:
            raise RentalError(_l("Locker %(number)s is %(status)s, not available.",
                                 number=locker.number, status=locker.status.label))
        now = utcnow()
        lockers.change_status(locker.id, LockerStatus.ASSIGNED, by_user_id=by_user_id,
                              reason=note or reason)
        rental = reservation or Rental(branch_id=locker.branch_id, locker=locker, client=client,
                                       status=None, created_by_id=by_user_id)
        rental.term, rental.days = term, length
        rental.starts_at, rental.ends_at = now, now + timedelta(days=length)
        rental.price_poisha = price_for(locker, term, days) if price_poisha is None else price_poisha
        rental.reserved_until = None
        db.session.add(rental)
        _record(rental, RentalStatus.ACTIVE, by_user_id, note or reason)
        if then is not None:
            db.session.flush()
            then(rental)
    return rental


def renew(rental_id, *, by_user_id, reason=None, price_poisha=None, then=None):
    """One more term, same length, starting when the current one ends (SPEC R3).

    `then(renewal)` runs inside the same transaction, like assign's.
    """
    with _desk_action():
        current = db.session.get(Rental, rental_id, with_for_update=True, populate_existing=True)
        if current is None or current.status not in (RentalStatus.ACTIVE, RentalStatus.EXPIRED):
            raise RentalError(_l("Only an active or expired rental can be renewed."))
        _check_client(current.client)
        locker = current.locker
        if current.status is RentalStatus.EXPIRED:
            lockers.change_status(locker.id, LockerStatus.ASSIGNED, by_user_id=by_user_id,
                                  reason="renewed")
        starts = max(current.ends_at, utcnow()) if current.status is RentalStatus.EXPIRED \
            else current.ends_at
        # The old term stops holding the locker before the new one starts to.
        _record(current, RentalStatus.RELEASED, by_user_id, reason or "renewed")
        db.session.flush()
        renewal = Rental(branch_id=current.branch_id, locker=locker, client=current.client,
                         term=current.term, days=current.days, starts_at=starts,
                         ends_at=starts + timedelta(days=current.days), status=None,
                         price_poisha=price_for(locker, current.term, current.days)
                         if price_poisha is None else price_poisha,
                         renewed_from=current, created_by_id=by_user_id)
        db.session.add(renewal)
        _record(renewal, RentalStatus.ACTIVE, by_user_id, reason or "renewal")
        if then is not None:
            db.session.flush()
            then(renewal)
    return renewal


def bulk_renew(rental_ids, *, by_user_id):
    """Renew many rentals; each succeeds or fails on its own. Returns (renewed, refusals)."""
    renewed, refusals = [], []
    for rental_id in rental_ids:
        try:
            renewed.append(renew(rental_id, by_user_id=by_user_id))
        except RentalError as exc:
            refusals.append((rental_id, exc.message))
    return renewed, refusals


def release(rental_id, *, by_user_id, locker_to=LockerStatus.CLEANING, reason=None):
    """End a rental now; the locker goes to Cleaning (or straight to Available)."""
    if locker_to not in (LockerStatus.CLEANING, LockerStatus.AVAILABLE):
        raise RentalError(_l("After a rental a locker goes to Cleaning or Available."))
    with _desk_action():
        rental = db.session.get(Rental, rental_id, with_for_update=True, populate_existing=True)
        if rental is None or rental.status not in HOLDING:
            raise RentalError(_l("This rental does not hold a locker any more."))
        ending = RentalStatus.CANCELLED if rental.status is RentalStatus.RESERVED \
            else RentalStatus.RELEASED
        target = LockerStatus.AVAILABLE if ending is RentalStatus.CANCELLED else locker_to
        lockers.change_status(rental.locker_id, target, by_user_id=by_user_id, reason=reason)
        _record(rental, ending, by_user_id, reason)
    return rental


def _sweep(due, still_due, locker_to, rental_to, reason, after=None):
    """Move every rental matching `due` on, one committed transaction each.

    Each rental is re-read under a row lock and checked again (`still_due`),
    so a desk that renewed or released it meanwhile wins over the job.
    """
    ids = db.session.execute(db.select(Rental.id).where(*due)).scalars().all()
    for rental_id in ids:
        rental = db.session.get(Rental, rental_id, with_for_update=True, populate_existing=True)
        if still_due(rental):
            lockers.change_status(rental.locker_id, locker_to, by_user_id=None, reason=reason)
            _record(rental, rental_to, None, reason)
            if after is not None:
                after(rental)
        db.session.commit()
    return len(ids)


def expire_due(now=None):
    """Job: active rentals past their end become Expired, and so do their lockers."""
    return _sweep((Rental.status == RentalStatus.ACTIVE, Rental.ends_at <= (now or utcnow())),
                  lambda r: r.status is RentalStatus.ACTIVE,
                  LockerStatus.EXPIRED, RentalStatus.EXPIRED, "term ended")


def lapse_reservations(now=None):
    """Job: reservations past their deadline end; the locker is free again (SPEC R1)."""
    return _sweep((Rental.status == RentalStatus.RESERVED,
                   Rental.reserved_until <= (now or utcnow())),
                  lambda r: r.status is RentalStatus.RESERVED,
                  LockerStatus.AVAILABLE, RentalStatus.CANCELLED, "reservation lapsed")


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
            client_id=rental.client_id, cleaned_out_on=now.date(),
            description=_("Contents of locker %(number)s (abandoned rental)",
                          number=rental.locker.number)))

    return _sweep((Rental.status == RentalStatus.EXPIRED, Rental.ends_at <= now - grace),
                  lambda r: r.status is RentalStatus.EXPIRED,
                  LockerStatus.CLEANING, RentalStatus.ABANDONED, "grace period over",
                  after=open_lost_item)
