"""Key handover (SPEC K2) and the key-deposit ledger (SPEC P5).

Issuing, returning, losing and replacing keys are desk actions: each function
here commits, or rolls back and raises HandoverError, whose `message` is for
the screen and whose `field` names the form field it is about.

Deposits are money held for the client (a liability), never revenue. The
ledger is DepositEntry: a client's balance is the sum of their lines, no line
is 0, and refunds and fees never take more than is held. "Held on a locker"
is the sum of the client's lines on that locker's keys, so a renewal (a new
rental row) or a re-key (a new key row) keeps what the client paid.

Concurrency: every action locks, in this order, the locker, the rental
holding it (the locker's lock order, app.services.locking), its keys and
then the client, and reads the client's ledger lines with SELECT … FOR
UPDATE. A locking read sees the latest committed rows even under MariaDB's
REPEATABLE READ, so two desks refunding the same deposit are applied one
after the other and the second sees what the first left.

Every action is one desk action (app.services.transactions). One that also
releases the rental or opens/resolves a maintenance ticket calls that
service inside its own transaction: everything is saved together, and a
refusal anywhere undoes everything.
"""

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.i18n import money
from app.models import Client
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import DepositsHeld
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import KeyState
from app.models import LockerStatus
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import TicketPriority
from app.models import TicketStatus
from app.models import User
from app.services import billing
from app.services import events
from app.services import keys as keys_service
from app.services import locking
from app.services import maintenance
from app.services import qr
from app.services import rentals
from app.services.errors import Refusal
from app.services.money import InvalidAmount
from app.services.money import parse_taka as taka_to_poisha
from app.services.money import plain_taka
from app.services.transactions import desk_action

SETTLE_DEPOSIT = "deposit"
SETTLE_CHARGE = "charge"
# Where a locker goes when its client hands the key back and the rental ends.
RETURN_TARGETS = (LockerStatus.CLEANING, LockerStatus.AVAILABLE)
# ৳9,999,999.99: anything larger is a typing slip, not a key deposit or fee.
MAX_AMOUNT_POISHA = 999_999_999
LOST_KEY_FEE_REFERENCE = "lost key fee"



class HandoverError(Refusal):
    """A key or deposit action the rules refuse; nothing was saved."""


@dataclass
class KeyReturned:
    """What return_key() did: the key, the refund, and the rental it ended (if any)."""

    key: Key
    refunded_poisha: int
    released: Rental | None = None
    # Dues paid from the deposit, and what the client still owes on the locker after it.
    settled_poisha: int = 0
    still_owed_poisha: int = 0


@dataclass
class LostKeyReported:
    """What report_lost_key() did: the fee and how it was paid, and the re-key ticket."""

    key: Key
    fee_poisha: int
    settled: str | None
    payment: Payment | None
    ticket: MaintenanceTicket


@dataclass
class Rekeyed:
    """What rekey_locker() did: the new key, the keys it retired, the tickets it resolved."""

    key: Key
    retired: list
    resolved_tickets: list


# --- money as staff type it --------------------------------------------------------------

def parse_taka(text, field):
    """Taka as typed to integer poisha (app.services.money); empty is refused, 0 is typed."""
    try:
        return taka_to_poisha(text, required=True, maximum=MAX_AMOUNT_POISHA)
    except InvalidAmount as exc:
        raise HandoverError(exc.message, field) from exc


def taka_text(poisha):
    """Integer poisha as the plain taka text a form field is prefilled with ("500.00")."""
    return plain_taka(poisha)


def _amount(value, field):
    """A poisha amount from a caller: a whole number from 0 up to the maximum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HandoverError(_l("Enter the amount in taka, for example 500 or 500.50."), field)
    if value < 0:
        raise HandoverError(_l("The amount cannot be negative."), field)
    if value > MAX_AMOUNT_POISHA:
        raise HandoverError(_l("This amount is too large; check it."), field)
    return value


# --- loading and locking -----------------------------------------------------------------

def _check_branch(branch_id, by_user_id):
    """Staff limited to a branch act on that branch only, whatever a form sent."""
    user = db.session.get(User, by_user_id) if by_user_id is not None else None
    if user is not None and user.branch_id is not None and user.branch_id != branch_id:
        raise HandoverError(_l("This locker belongs to another branch."))


def _lock_locker(locker_id, by_user_id):
    """(holding rental or None, locker), locked in the locker's lock order, freshly read."""
    try:
        locked = locking.lock_locker(locker_id)
    except locking.NotFound as exc:
        raise HandoverError(exc.message) from exc
    _check_branch(locked.locker.branch_id, by_user_id)
    return locked.rental, locked.locker


def _lock_keys(locker_id):
    """Every key of the locker, locked and freshly read, by tag."""
    return list(db.session.execute(
        db.select(Key).where(Key.locker_id == locker_id).order_by(Key.tag, Key.id)
        .with_for_update().execution_options(populate_existing=True)).scalars())


def _locker_of_key(key_id):
    key = db.session.get(Key, key_id) if key_id not in (None, "") else None
    if key is None:
        raise HandoverError(_l("That key does not exist."), "key")
    return key.locker_id


def _pick_key(keys, key_id):
    for key in keys:
        if key.id == key_id:
            return key
    raise HandoverError(_l("That key does not exist."), "key")


def _lock_client(client_id):
    client = db.session.get(Client, client_id, with_for_update=True, populate_existing=True)
    if client is None:
        raise HandoverError(_l("That client does not exist."))
    return client


def _locked_entries(client_id):
    """The client's ledger lines, locked: nobody else can refund from them until we commit."""
    return list(db.session.execute(
        db.select(DepositEntry).where(DepositEntry.client_id == client_id)
        .order_by(DepositEntry.id).with_for_update()
        .execution_options(populate_existing=True)).scalars())


def _held_on(entries, keys):
    """Of `entries` (one client's lines), the sum on these keys (one locker's)."""
    key_ids = {key.id for key in keys}
    return sum(entry.amount_poisha for entry in entries if entry.key_id in key_ids)


def issued_to(key_id):
    """The id of the client the key was last issued to, or None."""
    return db.session.execute(
        db.select(KeyEvent.client_id).where(KeyEvent.key_id == key_id,
                                            KeyEvent.kind == KeyEventKind.ISSUED)
        .order_by(KeyEvent.at.desc(), KeyEvent.id.desc()).limit(1)).scalar_one_or_none()


def _last_rental(client_id, locker_id):
    """The client's latest rental of the locker (for linking money after it ended)."""
    if client_id is None:
        return None
    return db.session.execute(
        db.select(Rental).where(Rental.client_id == client_id, Rental.locker_id == locker_id)
        .order_by(Rental.starts_at.desc(), Rental.id.desc()).limit(1)).scalar_one_or_none()


def _event(key, kind, by_user_id, client_id=None, note=None):
    db.session.add(KeyEvent(key=key, kind=kind, staff_id=by_user_id, client_id=client_id,
                            note=(note or "").strip()[:255] or None))


def _announce(name, locker, rental, client_id, key, by_user_id, **data):
    """The domain event of a key action (after the key's own KeyEvent row)."""
    events.record(name, branch_id=locker.branch_id, locker_id=locker.id, client_id=client_id,
                  rental_id=rental.id if rental is not None else None, by_user_id=by_user_id,
                  key_id=key.id, tag=key.tag, **data)


def _entry(locker, client_id, rental, key, kind, amount, by_user_id, note=None):
    db.session.add(DepositEntry(branch_id=locker.branch_id, client_id=client_id,
                                rental_id=rental.id if rental is not None else None,
                                key=key, kind=kind, amount_poisha=amount, staff_id=by_user_id,
                                note=(note or "").strip()[:255] or None))
    _add_to_held(locker.branch_id, amount)


def _add_to_held(branch_id, amount):
    """Keep the branch's total held (DepositsHeld) with the line, in the same transaction."""
    table = DepositsHeld.__table__
    add = (table.update().where(table.c.branch_id == branch_id)
           .values(held_poisha=table.c.held_poisha + amount))
    if db.session.execute(add).rowcount:
        return
    try:
        with db.session.begin_nested():
            db.session.execute(table.insert().values(branch_id=branch_id, held_poisha=amount))
    except IntegrityError:
        # Another desk wrote the branch's very first line at the same moment.
        db.session.execute(add)


def _refusal(exc):
    """Another service's refusal, as ours (that service has already rolled back)."""
    return HandoverError(exc.message, getattr(exc, "field", None))


# --- desk actions --------------------------------------------------------------------------

@desk_action
def issue_key(locker_id, key_id, *, deposit_poisha, by_user_id):
    """Hand an In-office key to the client of the locker's active rental, taking a deposit.

    One transaction: the key goes With client, an ISSUED event names the client
    and staff, and a TAKEN ledger line records the deposit when it is not 0.
    """
    rental, locker = _lock_locker(locker_id, by_user_id)
    keys = _lock_keys(locker.id)
    key = _pick_key(keys, key_id)
    deposit = _amount(deposit_poisha, "deposit")
    if locker.needs_rekey:
        raise HandoverError(_l("Locker %(number)s needs a new key or lock first: record it "
                               "under Re-key.", number=locker.number))
    if rental is None or rental.status is not RentalStatus.ACTIVE:
        raise HandoverError(_l("Locker %(number)s has no active rental. Assign it to a "
                               "client first.", number=locker.number))
    for other in keys:
        if other.state is KeyState.WITH_CLIENT:
            raise HandoverError(_l("Key %(tag)s of this locker is already with a client. "
                                   "Take it back first.", tag=other.tag), "key")
    if key.state is not KeyState.IN_OFFICE:
        raise HandoverError(_l("Key %(tag)s is %(state)s and cannot be issued.",
                               tag=key.tag, state=key.state.label), "key")
    client = _lock_client(rental.client_id)
    key.state = KeyState.WITH_CLIENT
    _event(key, KeyEventKind.ISSUED, by_user_id, client.id)
    _announce(events.KEY_ISSUED, locker, rental, client.id, key, by_user_id, deposit_poisha=deposit)
    if deposit:
        _entry(locker, client.id, rental, key, DepositEntryKind.TAKEN, deposit, by_user_id)
    return key


@desk_action
def return_key(key_id, *, refund_poisha, by_user_id, locker_to=LockerStatus.CLEANING,
               settle_dues=False):
    """Take a key back, settle dues from the deposit if asked, refund the rest, end the rental.

    With `settle_dues`, what the client owes on this locker's rentals is paid
    from the deposit held on it first (oldest invoice first, one payment "from
    the key deposit" each); the refund is at most what is held after that. If
    the client still holds the locker, the rental is released (the locker to
    Cleaning or Available) in the same transaction; if the rental already
    ended, the key is just taken back. The result says what is still owed.
    """
    rental, locker = _lock_locker(_locker_of_key(key_id), by_user_id)
    keys = _lock_keys(locker.id)
    key = _pick_key(keys, key_id)
    if key.state is not KeyState.WITH_CLIENT:
        raise HandoverError(_l("Key %(tag)s is not with a client.", tag=key.tag), "key")
    refund = _amount(refund_poisha, "refund")
    if locker_to not in RETURN_TARGETS:
        raise HandoverError(_l("After a rental a locker goes to Cleaning or Available."),
                            "locker_to")
    client_id = issued_to(key.id)
    if rental is not None and rental.client_id != client_id:
        rental = None  # someone else's rental: not ours to end
    held = owed = settled = 0
    if client_id is not None:
        _lock_client(client_id)
        held = _held_on(_locked_entries(client_id), keys)
        owed = billing.owed_on_locker(locker.id, client_id)
    if settle_dues and owed and held:
        settled = min(held, owed)
        _entry(locker, client_id, rental or _last_rental(client_id, locker.id), key,
               DepositEntryKind.APPLIED_TO_DUES, -settled, by_user_id)
        billing.settle_from_deposit(locker.id, client_id, settled, by_user_id=by_user_id)
        held -= settled
        owed -= settled
    if refund > held:
        raise HandoverError(_l("Only %(held)s of deposit is held for this client on this "
                               "locker; refund at most that.", held=money(held)), "refund")
    key.state = KeyState.IN_OFFICE
    _event(key, KeyEventKind.RETURNED, by_user_id, client_id)
    _announce(events.KEY_RETURNED, locker, rental, client_id, key, by_user_id, refund_poisha=refund,
              settled_poisha=settled)
    if refund:
        _entry(locker, client_id, rental or _last_rental(client_id, locker.id), key,
               DepositEntryKind.REFUNDED, -refund, by_user_id)
    if rental is None:
        return KeyReturned(key, refund, settled_poisha=settled, still_owed_poisha=owed)
    try:
        # Part of this transaction: a refused release undoes the return as well.
        released = rentals.release(rental.id, by_user_id=by_user_id, locker_to=locker_to,
                                   reason="key returned")
    except rentals.RentalError as exc:
        raise _refusal(exc) from exc
    return KeyReturned(key, refund, released, settled_poisha=settled, still_owed_poisha=owed)


@desk_action
def report_lost_key(key_id, *, fee_poisha, settle, by_user_id, note=None):
    """Log a lost key: mark it compromised, take the fee, block the locker until re-keyed.

    The fee is taken from the deposit the client holds on this locker (refused
    if that is smaller: charge it instead) or charged now as a cash payment.
    The client keeps the rental; a High maintenance ticket asks for the re-key.
    A key lost in the office has no client and no fee.
    """
    rental, locker = _lock_locker(_locker_of_key(key_id), by_user_id)
    keys = _lock_keys(locker.id)
    key = _pick_key(keys, key_id)
    if key.state not in (KeyState.WITH_CLIENT, KeyState.IN_OFFICE):
        raise HandoverError(_l("Key %(tag)s is already marked %(state)s.", tag=key.tag,
                               state=key.state.label), "key")
    fee = _amount(fee_poisha, "fee")
    client_id = issued_to(key.id) if key.state is KeyState.WITH_CLIENT else None
    if client_id is None and fee:
        raise HandoverError(_l("A key lost in the office has no client to pay a fee; set the "
                               "fee to 0."), "fee")
    if fee and settle not in (SETTLE_DEPOSIT, SETTLE_CHARGE):
        raise HandoverError(_l("Choose how the fee is paid."), "settle")
    if rental is not None and rental.client_id != client_id:
        rental = None
    rental = rental or _last_rental(client_id, locker.id)
    payment = None
    entries = []
    if client_id is not None:
        _lock_client(client_id)
        entries = _locked_entries(client_id)
    if fee and settle == SETTLE_DEPOSIT:
        held = _held_on(entries, keys)
        if held < fee:
            raise HandoverError(_l("Only %(held)s of deposit is held, less than the fee of "
                                   "%(fee)s. Charge the fee instead.", held=money(held),
                                   fee=money(fee)), "settle")
        _entry(locker, client_id, rental, key, DepositEntryKind.FEE_DEDUCTED, -fee, by_user_id)
    elif fee:
        payment = Payment(branch_id=locker.branch_id, client_id=client_id,
                          rental_id=rental.id if rental is not None else None,
                          amount_poisha=fee, method=PaymentMethod.CASH,
                          status=PaymentStatus.PAID, reference=LOST_KEY_FEE_REFERENCE,
                          received_by_id=by_user_id)
        db.session.add(payment)
    key.state = KeyState.COMPROMISED
    _event(key, KeyEventKind.LOST, by_user_id, client_id, note)
    _announce(events.KEY_LOST, locker, rental, client_id, key, by_user_id, fee_poisha=fee)
    _event(key, KeyEventKind.COMPROMISED, by_user_id, client_id)
    locker.needs_rekey = True
    db.session.flush()
    try:
        opened = maintenance.open_ticket(
            locker.id, _("Re-key locker %(number)s: key %(tag)s was reported lost.",
                         number=locker.number, tag=key.tag),
            priority=TicketPriority.HIGH, by_user_id=by_user_id, client_id=client_id,
            take_out_of_use=False)
    except maintenance.MaintenanceError as exc:
        raise _refusal(exc) from exc
    return LostKeyReported(key, fee, (settle if fee else None), payment, opened.ticket)


def _rekey_tickets(locker_id, tags):
    """The locker's unresolved tickets opened for these (lost) key tags, oldest first.

    Tickets have no link to a key, so the tag in the description (written by
    report_lost_key in any language) identifies them.
    """
    if not tags:
        return []
    patterns = [re.compile(rf"(?<![\w-]){re.escape(tag)}(?![\w-])", re.IGNORECASE) for tag in tags]
    candidates = db.session.execute(
        db.select(MaintenanceTicket).where(MaintenanceTicket.locker_id == locker_id,
                                           MaintenanceTicket.status != TicketStatus.RESOLVED)
        .order_by(MaintenanceTicket.opened_at, MaintenanceTicket.id)).scalars()
    return [ticket for ticket in candidates
            if any(pattern.search(ticket.description or "") for pattern in patterns)]


@desk_action
def rekey_locker(locker_id, tag, *, by_user_id, new_lock=False, note=None):
    """Record the locker's new key (re-keyed cylinder or a new lock) and lift the re-key block.

    Every old key stops opening the locker: Lost and Compromised keys stay so,
    In-office ones become Compromised, and each gets one RETIRED event. The new
    key (a unique tag) is added, `needs_rekey` cleared, and the open re-key
    tickets of the lost keys are resolved. Refused while a key is with a client.
    """
    holder, locker = _lock_locker(locker_id, by_user_id)
    keys = _lock_keys(locker.id)
    tag = keys_service.clean_tag(tag)
    for old in keys:
        if old.state is KeyState.WITH_CLIENT:
            raise HandoverError(_l("Key %(tag)s is with a client. Take it back before "
                                   "re-keying the locker.", tag=old.tag))
    keys_service.check_tag_free(tag)
    how = "new lock" if new_lock else "re-keyed"
    retired_already = set(db.session.execute(
        db.select(KeyEvent.key_id).where(KeyEvent.key_id.in_([k.id for k in keys] or [0]),
                                         KeyEvent.kind == KeyEventKind.RETIRED)).scalars())
    retired = []
    for old in keys:
        if old.state is KeyState.IN_OFFICE:
            old.state = KeyState.COMPROMISED
            _event(old, KeyEventKind.COMPROMISED, by_user_id, note=how)
        if old.id not in retired_already:
            _event(old, KeyEventKind.RETIRED, by_user_id, note=how)
            retired.append(old)
    new_key = Key(locker=locker, tag=tag, is_spare=False, state=KeyState.IN_OFFICE)
    db.session.add(new_key)
    _event(new_key, KeyEventKind.ADDED, by_user_id, note=" · ".join(
        part for part in (how, (note or "").strip()) if part))
    locker.needs_rekey = False
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise HandoverError(_l("Key tag %(tag)s is already in use.", tag=tag), "tag") from exc
    _announce(events.KEY_REKEYED, locker, holder, None, new_key, by_user_id, new_lock=new_lock)
    tickets = _rekey_tickets(locker.id, [k.tag for k in keys
                                         if k.state in (KeyState.LOST, KeyState.COMPROMISED)])
    resolution = (_("New lock fitted; new key %(tag)s.", tag=tag) if new_lock
                  else _("Locker re-keyed; new key %(tag)s.", tag=tag))[:255]
    for ticket in tickets:
        try:
            maintenance.resolve_ticket(ticket.id, by_user_id=by_user_id,
                                       resolution=resolution)
        except maintenance.MaintenanceError as exc:
            raise _refusal(exc) from exc
    return Rekeyed(new_key, retired, tickets)


@desk_action
def refund_deposit(locker_id, client_id, amount_poisha, *, by_user_id):
    """Refund a deposit still held on a locker when there is no key to take back.

    For example the key was lost and the fee charged as a payment, then the
    rental ended: the deposit would otherwise stay held for ever. A key still
    with the client is returned with return_key() instead.
    """
    _rental, locker = _lock_locker(locker_id, by_user_id)
    keys = _lock_keys(locker.id)
    amount = _amount(amount_poisha, "amount")
    if not amount:
        raise HandoverError(_l("Enter the amount to refund."), "amount")
    client = _lock_client(client_id)
    for key in keys:
        if key.state is KeyState.WITH_CLIENT and issued_to(key.id) == client.id:
            raise HandoverError(_l("Key %(tag)s is still with this client: take it back "
                                   "with Return key.", tag=key.tag))
    entries = _locked_entries(client.id)
    held = _held_on(entries, keys)
    if amount > held:
        raise HandoverError(_l("Only %(held)s of deposit is held for this client on this "
                               "locker; refund at most that.", held=money(held)), "amount")
    key_ids = {key.id for key in keys}
    taken = [entry for entry in entries
             if entry.key_id in key_ids and entry.kind is DepositEntryKind.TAKEN]
    last = taken[-1]
    rental = db.session.get(Rental, last.rental_id) if last.rental_id else None
    _entry(locker, client.id, rental, last.key, DepositEntryKind.REFUNDED, -amount,
           by_user_id)
    _announce(events.DEPOSIT_REFUNDED, locker, rental, client.id, last.key, by_user_id,
              refund_poisha=amount)
    return amount


# --- the ledger ----------------------------------------------------------------------------

def _sum(stmt):
    return int(db.session.execute(stmt).scalar_one() or 0)


def deposit_balance(client_id):
    """What the gym holds for the client: the sum of their ledger lines, in poisha."""
    return _sum(db.select(db.func.coalesce(db.func.sum(DepositEntry.amount_poisha), 0))
                .where(DepositEntry.client_id == client_id))


def held_on_locker(client_id, locker_id):
    """What the client holds on this locker's keys (across renewals and re-keys), in poisha."""
    return _sum(db.select(db.func.coalesce(db.func.sum(DepositEntry.amount_poisha), 0))
                .join(Key, DepositEntry.key_id == Key.id)
                .where(DepositEntry.client_id == client_id, Key.locker_id == locker_id))


def deposits_total(branch_id=None):
    """All deposits held (a liability), in poisha: the sum of every ledger line, kept per branch."""
    stmt = db.select(db.func.coalesce(db.func.sum(DepositsHeld.held_poisha), 0))
    if branch_id is not None:
        stmt = stmt.where(DepositsHeld.branch_id == branch_id)
    return _sum(stmt)


def fees_from_deposits(branch_id=None, since=None):
    """Lost-key fees kept from deposits (revenue once deducted), in positive poisha.

    `since` is a naive UTC datetime; None counts every fee.
    """
    stmt = db.select(db.func.coalesce(db.func.sum(DepositEntry.amount_poisha), 0)).where(
        DepositEntry.kind == DepositEntryKind.FEE_DEDUCTED)
    if branch_id is not None:
        stmt = stmt.where(DepositEntry.branch_id == branch_id)
    if since is not None:
        stmt = stmt.where(DepositEntry.at >= since)
    return -_sum(stmt)


def _balances(stmt):
    """[(client, poisha)] from a (client_id, total) statement, by client name."""
    sums = stmt.subquery()
    rows = db.session.execute(
        db.select(Client, sums.c.total).join(sums, sums.c.client_id == Client.id)
        .order_by(Client.full_name, Client.id)).all()
    return [(client, int(total)) for client, total in rows]


def client_balances(branch_id=None):
    """[(client, poisha held)] of every client with a deposit held, by name."""
    total = db.func.sum(DepositEntry.amount_poisha)
    stmt = db.select(DepositEntry.client_id, total.label("total"))
    if branch_id is not None:
        stmt = stmt.where(DepositEntry.branch_id == branch_id)
    return _balances(stmt.group_by(DepositEntry.client_id).having(total != 0))


def held_on_locker_by_client(locker_id):
    """[(client, poisha held)] of the clients holding a deposit on this locker's keys."""
    total = db.func.sum(DepositEntry.amount_poisha)
    stmt = (db.select(DepositEntry.client_id, total.label("total"))
            .join(Key, DepositEntry.key_id == Key.id).where(Key.locker_id == locker_id)
            .group_by(DepositEntry.client_id).having(total != 0))
    return _balances(stmt)


def clients_with_deposit_condition():
    """A condition on DepositEntry: lines of clients whose balance is not 0."""
    holders = (db.select(DepositEntry.client_id).group_by(DepositEntry.client_id)
               .having(db.func.sum(DepositEntry.amount_poisha) != 0))
    return DepositEntry.client_id.in_(holders)


# --- labels --------------------------------------------------------------------------------

def key_label_svg(tag):
    """An inline SVG QR code whose content is exactly the key tag (what a scanner types)."""
    return qr.svg(tag, css_class="key-qr", label=tag)
