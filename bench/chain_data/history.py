"""Ten years of the chain's desks, played forward on one clock and written as they happen.

Every locker has a fixed number of rentals to play and a fate (what it is doing
when the history ends, already written as its status). The lockers take turns
in the order of their next desk action (a heap), so rental, invoice and
payment ids, invoice numbers and activity-log ids all follow time, as on a
real install. Each rental is written once, final: how its term ends is decided
when it starts (renewed, returned, returned late, abandoned), as the demo desk
of app.services.demo decides it, and the next action is queued from there.

Pacing: a locker with `left` rentals to go must leave room for them before the
end (at least MIN_SLOT each); a term that does not fit is shortened, and the
idle time between clients shares out whatever room is left over, so each
locker's history fills the ten years and ends on its fate.

What happens later than the action that causes it (a payment days after the
invoice, a deposit refunded when the key comes back, the activity entries of
both) waits in a second heap and is written when the clock passes it.
"""

import calendar
import string
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from heapq import heapify
from heapq import heappop
from heapq import heappush
from itertools import count
from typing import NamedTuple

from bench.chain_data.activity import SESSIONS_PER_DAY
from bench.chain_data.activity import ActivityLog
from bench.chain_data.common import CLOSES
from bench.chain_data.common import DHAKA
from bench.chain_data.common import OPENS
from bench.chain_data.common import Weighted
from bench.chain_data.common import changes
from bench.chain_data.common import local_day
from bench.chain_data.common import open_at
from bench.chain_data.common import opening
from bench.chain_data.common import percent_of
from bench.chain_data.common import plain
from bench.chain_data.common import seconds
from bench.chain_data.names import CANCEL_REASONS
from bench.chain_data.places import TERMS
from bench.chain_data.places import YEARLY_DISCOUNT_BP
from bench.chain_data.places import YEARLY_DISCOUNT_NAME

TERM_NAMES = list(TERMS)
# Mostly short terms: 200 rentals per locker in ten years leave about 18 days each.
TERM_WEIGHTS = {"DAILY": 40, "WEEKLY": 30, "MONTHLY": 25, "QUARTERLY": 4, "HALF_YEARLY": 0.7,
                "YEARLY": 0.3}
SHORTER = dict(zip(TERM_NAMES[1:], TERM_NAMES[:-1], strict=True))
# How a term ends (app.services.demo's ENDINGS, and a few abandoned).
ENDINGS = Weighted({"renew": 44, "renew late": 6, "return": 36, "return late": 13, "abandon": 1})
# A new client's visit that ends as a reservation nobody took up (it lapses).
LAPSE_SHARE = 0.01

# Pacing (see the module docstring). EXPECTED_SLOT is the mean term plus the usual gaps.
MARGIN = timedelta(days=4)
MIN_SLOT = timedelta(days=2)
FIT_SLACK = timedelta(days=1)
EXPECTED_SLOT = timedelta(days=sum(TERMS[t] * w for t, w in TERM_WEIGHTS.items())
                          / sum(TERM_WEIGHTS.values()) + 0.7)
TERM_DRAW = Weighted(TERM_WEIGHTS)

# The shipped settings (app.services.settings) the desk works by.
GRACE = timedelta(days=3)           # grace_period_days
HOLD = timedelta(hours=24)          # reservation_hold_hours
DEPOSIT = 50_000                    # key_deposit_poisha
VAT_BP = 1500                       # vat_rate_percent 15
INSTALMENTS_FROM_DAYS = 90          # instalments_from_days
LOST_ITEM_DAYS = 30                 # lost_item_holding_days

DEPOSIT_SHARE = 0.7        # of non-daily chains: a deposit taken with the key
SETTLE_SHARE = 0.6         # of returns with dues: paid from the deposit first
INSTALMENT_SHARE = 0.25    # of terms of 90 days or more: three monthly instalments
CANCEL_SHARE = 0.003       # of invoices: cancelled at once, never paid
# How the first part of an invoice is paid, and how any later part.
FIRST_METHOD = Weighted({"CASH": 60, "BKASH": 22, "NAGAD": 8, "CARD": 8, "BANK": 2})
LATER_METHOD = Weighted({"CASH": 35, "BKASH": 40, "NAGAD": 12, "CARD": 10, "BANK": 3})
TRX_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(slots=True)
class Chain:
    """One client's run of terms on a locker: the first rental and its renewals."""

    client_id: int
    term: str
    first_id: int = 0
    prev_id: int = 0
    prev_ends: object = None
    deposit: int = 0
    dues: list = field(default_factory=list)  # [invoice id, poisha never paid]


class Invoice(NamedTuple):
    """An invoice about to be written, priced as app.services.pricing.quote prices it."""

    id: int
    number: str
    day: object          # its local issue day, also its due date
    rent: int
    discount: int
    vat: int
    total: int
    lines: list          # [(kind, description, poisha)]
    instalments: list    # [(due day, poisha)]
    cancelled: bool


def add_months(day, months):
    """`day` so many months later, on the month's last day if it is shorter (as billing does)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


class History:
    """Plays the history and writes it to a Sink."""

    def __init__(self, rng, ids, writer, sink, places, clients, staff, start, now, scale):
        self.rng, self.ids, self.w, self.sink = rng, ids, writer, sink
        self.places, self.clients, self.staff = places, clients, staff
        self.start, self.now = start, now
        self.sessions = SESSIONS_PER_DAY * scale
        self.log = ActivityLog(ids, writer, sink, staff, places.branch_ids)
        self.pending, self.order = [], count()
        self.next_day = local_day(start) - timedelta(days=1)
        self.invoice_seq = {}
        self.branch_ids = places.branch_ids

    # --- the clock ---------------------------------------------------------------------------

    def play(self):
        """Play every locker's rentals in time order, then everything up to the end."""
        turns = [(open_at(self.rng, self.start + timedelta(seconds=self.rng.randrange(40 * 86400))),
                  locker.id, locker) for locker in self.places.lockers]
        heapify(turns)
        while turns:
            when, _id, locker = heappop(turns)
            self._advance(when)
            following = self._act(locker, when)
            if following is not None:
                heappush(turns, (following, locker.id, locker))
        self._advance(self.now)
        if self.pending:
            raise RuntimeError(f"{len(self.pending)} events after the end of the history")
        for year, last in sorted(self.invoice_seq.items()):
            self.sink.add("invoice_counter", (f"INV-{year}", last + 1))

    def _advance(self, moment):
        """Bring registrations, desk sessions and waiting events up to `moment`.

        After this, everything written is at or before `moment` and everything
        waiting is after it, so what happens at `moment` may be written at once.
        """
        for at, branch, client_id, summary, values in self.clients.register_until(moment, self.sink):
            self._later(at, self.log.desk, (branch, "CREATE", "Client", client_id, summary, values))
        while opening(self.next_day + timedelta(days=1)) <= moment:
            self.next_day += timedelta(days=1)
            self.log.sessions(self.rng, self.next_day, self.sessions, self.now, self._later)
        pending = self.pending
        while pending and pending[0][0] <= moment:
            at, _order, write, payload = heappop(pending)
            write(at, payload)

    def _later(self, at, write, payload):
        """Have `write(at, payload)` called when the clock passes `at`."""
        heappush(self.pending, (at, next(self.order), write, payload))

    def _latest(self, left):
        """The latest a locker's next action may come with `left` rentals still to play after it."""
        return self.now - MARGIN - (left - 1) * MIN_SLOT

    # --- a locker's turn -----------------------------------------------------------------------

    def _act(self, locker, at):
        """The locker's next rental, made at `at`; returns when its next action comes (or None)."""
        if locker.left == 1:
            if locker.last is None:  # the last rental is planned now and made when its time comes
                locker.last = self._plan_last(locker, at)
                return locker.last[0]
            locker.left = 0
            self._last(locker, *locker.last)
            return None
        locker.left -= 1
        latest = self._latest(locker.left)
        chain = locker.chain
        if chain is None:
            client_id = self.clients.pick(locker.branch, locker.kind)
            if self.rng.random() < LAPSE_SHARE:
                return self._lapsed(locker, client_id, at, latest)
            chain = locker.chain = Chain(client_id, self._term(latest - at - FIT_SLACK))
            starts = at
        else:
            starts = max(chain.prev_ends, at)
        days = TERMS[chain.term]
        ends = starts + timedelta(days=days)
        ending, ended, following = self._ending(locker, ends, days, latest)
        rental_id = self._rental(locker, chain, at, starts, ends,
                                 "ABANDONED" if ending == "abandon" else "RELEASED", ended)
        if not ending.startswith("renew"):
            self._end_chain(locker, chain, rental_id, ended, ending, ends)
        return following

    def _term(self, room):
        """A client's term, shortened until it fits in `room`."""
        term = TERM_DRAW.draw(self.rng)
        room_days = room.total_seconds() / 86400
        while TERMS[term] > room_days and term != "DAILY":
            term = SHORTER[term]
        return term

    def _ending(self, locker, ends, days, latest):
        """How the term ends: (ending, when the rental stops holding, when the locker acts next)."""
        rng = self.rng
        ending = ENDINGS.draw(rng)
        # A renewal needs room for one more term, and the last rental is always a new client's.
        if ending.startswith("renew") and (
                locker.left < 2
                or ends + timedelta(days=days + 4) > self._latest(locker.left - 1)):
            ending = "return"
        if ending in ("return late", "abandon") and ends + GRACE + timedelta(days=1) > latest:
            ending = "return"
        lead = seconds(rng, timedelta(minutes=10), min(timedelta(days=2), timedelta(days=days) / 2))
        if ending == "renew" or ending == "return":
            ended = open_at(rng, ends - lead)
        elif ending == "renew late":
            ended = open_at(rng, ends + seconds(rng, timedelta(minutes=30), timedelta(days=2)))
        elif ending == "return late":
            ended = open_at(rng, ends + seconds(rng, timedelta(minutes=30), timedelta(hours=60)))
        else:  # the abandon job runs hourly once the grace period is over
            ended = ends + GRACE + seconds(rng, timedelta(0), timedelta(hours=1))
        if ending.startswith("renew"):
            return ending, ended, ended
        free = ended + seconds(rng, timedelta(hours=1), timedelta(hours=6))  # cleaning
        spare = ((self.now - MARGIN - free) - locker.left * EXPECTED_SLOT) / locker.left
        if spare > timedelta(0):
            free += timedelta(seconds=int(rng.expovariate(1 / spare.total_seconds())))
        return ending, ended, min(open_at(rng, free), latest)

    def _plan_last(self, locker, at):
        """(made at, term, ends, handed back) of the last rental, so the locker ends on its fate."""
        rng, now, fate = self.rng, self.now, locker.fate
        if fate == "RESERVED":  # held for a client in the last hours
            return max(at, now - seconds(rng, timedelta(minutes=10), timedelta(hours=3))), None, None, None
        if fate == "ASSIGNED":  # started within its term before the end: still running
            term = self._term(timedelta(days=366))
            days = timedelta(days=TERMS[term])
            starts = self._open_between(max(at, now - days + timedelta(minutes=1)), now)
            return starts, term, starts + days, None
        if fate == "EXPIRED":  # ran out in the grace period before the end; key not back yet
            term = self._term(now - at - timedelta(hours=1))
            days = timedelta(days=TERMS[term])
            starts = self._open_between(max(at, now - GRACE + timedelta(hours=12) - days),
                                        now - timedelta(minutes=10) - days)
            return starts, term, starts + days, None
        if fate == "CLEANING":  # handed back in the last hours; the locker is being cleaned
            ended = now - seconds(rng, timedelta(minutes=5), timedelta(hours=5))
            term = self._term(ended - at - timedelta(days=1))
            days = timedelta(days=TERMS[term])
            ends = ended + seconds(rng, timedelta(minutes=10), min(timedelta(days=1), days / 2))
            return ends - days, term, ends, ended
        # handed back a while ago: Available, or in repair since
        term = self._term(now - at - timedelta(days=1, hours=12))
        days = timedelta(days=TERMS[term])
        starts = self._open_between(at, now - timedelta(days=1) - days)
        ends = starts + days
        return starts, term, ends, open_at(rng, ends - seconds(rng, timedelta(minutes=10), days / 2))

    def _last(self, locker, made, term, ends, ended):
        """Make the planned last rental (at `made`), for an Active client."""
        client_id = self.clients.pick(locker.branch, locker.kind, active=True)
        if term is None:
            self._reservation(locker, client_id, made, "RESERVED", None)
            return
        chain = locker.chain = Chain(client_id, term)
        if ended is None:
            status = "ACTIVE" if ends > self.now else "EXPIRED"
            self._rental(locker, chain, made, made, ends, status, None)
            return
        rental_id = self._rental(locker, chain, made, made, ends, "RELEASED", ended)
        self._end_chain(locker, chain, rental_id, ended, "return", ends)

    def _open_between(self, low, high):
        """A moment from `low` to `high` while the desks are open (or `low` if there is none)."""
        if high <= low:
            return low
        for _ in range(20):
            moment = low + (high - low) * self.rng.random()
            if OPENS <= (moment + DHAKA).hour < CLOSES:
                return moment.replace(microsecond=0)
        return low

    # --- what each turn writes -------------------------------------------------------------------

    def _lapsed(self, locker, client_id, at, latest):
        """A reservation nobody took up: cancelled when its hold ran out."""
        lapsed = at + HOLD + seconds(self.rng, timedelta(0), timedelta(minutes=5))
        rental_id = self._reservation(locker, client_id, at, "CANCELLED", lapsed)
        self._later(lapsed, self._log_rental_end, (locker, client_id, rental_id, "reserved",
                                                   "cancelled"))
        free = lapsed + seconds(self.rng, timedelta(minutes=10), timedelta(days=2))
        return min(open_at(self.rng, free), latest)

    def _reservation(self, locker, client_id, at, status, ended):
        """Write a reservation (no invoice: nothing is owed until it becomes a rental)."""
        rental_id = self.ids.next("rental")
        stamp, desk = self.w.stamp(at), self.staff.desks[locker.branch][0]
        self.sink.add("rental", (
            rental_id, self.branch_ids[locker.branch], locker.id, client_id, "DAILY", 0, stamp,
            stamp, status, 0, desk, locker.id if status == "RESERVED" else None,
            self.w.stamp(at + HOLD), None, self.w.stamp(ended), stamp, self.w.stamp(ended or at)))
        self.log.desk(at, (locker.branch, "CREATE", "Rental", rental_id,
                            self._rental_summary(rental_id, locker, client_id),
                            changes({"client_id": client_id, "days": 0, "locker_id": locker.id,
                                     "reserved_until": plain(at + HOLD), "status": "reserved",
                                     "term": "daily"})))
        return rental_id

    def _rental(self, locker, chain, at, starts, ends, status, ended):
        """Write a rental made at `at` with its invoice and planned payments; returns its id."""
        w, branch_id = self.w, self.branch_ids[locker.branch]
        rental_id = self.ids.next("rental")
        invoice = self._invoice(locker, chain, rental_id, at)
        renewed_from = chain.prev_id or None
        holding = locker.id if status in ("ACTIVE", "EXPIRED") else None
        self.sink.add("rental", (
            rental_id, branch_id, locker.id, chain.client_id, chain.term, TERMS[chain.term],
            w.stamp(starts), w.stamp(ends), status, invoice.total, self.staff.desks[locker.branch][0],
            holding, None, renewed_from, w.stamp(ended), w.stamp(at), w.stamp(ended or at)))
        self.log.desk(at, (locker.branch, "CREATE", "Rental", rental_id,
                            self._rental_summary(rental_id, locker, chain.client_id),
                            changes({"client_id": chain.client_id, "days": TERMS[chain.term],
                                     "ends_at": plain(ends), "locker_id": locker.id,
                                     "price_poisha": invoice.total, "renewed_from_id": renewed_from,
                                     "starts_at": plain(starts), "status": "active",
                                     "term": chain.term.lower()})))
        self._write_invoice(locker, chain, rental_id, at, invoice)
        if not chain.first_id:
            chain.first_id = rental_id
            if chain.term != "DAILY" and self.rng.random() < DEPOSIT_SHARE:
                taken = at + seconds(self.rng, timedelta(minutes=4), timedelta(minutes=10))
                if taken < self.now:
                    chain.deposit = DEPOSIT
                    self._later(taken, self._write_deposit,
                                (locker, chain.client_id, rental_id, "TAKEN", DEPOSIT, None))
        chain.prev_id, chain.prev_ends = rental_id, ends
        return rental_id

    def _invoice(self, locker, chain, rental_id, at):
        """The invoice of the rental made at `at`: the term's rent, the yearly discount, VAT."""
        rng = self.rng
        day = local_day(at)
        seq = self.invoice_seq[day.year] = self.invoice_seq.get(day.year, 0) + 1
        rent, description = self.places.rent(locker, chain.term, day)
        lines = [("rent", description, rent)]
        discount = percent_of(rent, YEARLY_DISCOUNT_BP) if chain.term == "YEARLY" else 0
        if discount:
            lines.append(("discount", f"Discount {YEARLY_DISCOUNT_NAME} "
                                      f"({YEARLY_DISCOUNT_BP // 100}%)", -discount))
        vat = percent_of(rent - discount, VAT_BP)
        lines.append(("vat", f"VAT {VAT_BP // 100}%", vat))
        total = rent - discount + vat
        instalments = []
        if TERMS[chain.term] >= INSTALMENTS_FROM_DAYS and rng.random() < INSTALMENT_SHARE:
            share = total // 3  # billing.split_instalments: the last takes the remainder
            instalments = [(add_months(day, n), amount)
                           for n, amount in enumerate((share, share, total - 2 * share))]
        return Invoice(self.ids.next("invoice"), f"INV-{day.year}-{seq:06d}", day, rent, discount,
                       vat, total, lines, instalments, rng.random() < CANCEL_SHARE)

    def _write_invoice(self, locker, chain, rental_id, at, invoice):
        """Write the invoice, its lines and instalments, and queue its payments."""
        w, rng = self.w, self.rng
        branch_id, desk = self.branch_ids[locker.branch], self.staff.desks[locker.branch][0]
        cancelled_at = (at + seconds(rng, timedelta(minutes=5), timedelta(hours=2))
                        if invoice.cancelled else None)
        self.sink.add("invoice", (
            invoice.id, invoice.number, branch_id, chain.client_id, rental_id, w.stamp(at),
            w.day(invoice.day), invoice.rent, invoice.discount, invoice.vat, invoice.total,
            w.stamp(cancelled_at), rng.choice(CANCEL_REASONS) if invoice.cancelled else None, desk,
            w.stamp(at), w.stamp(cancelled_at or at)))
        for position, (kind, description, amount) in enumerate(invoice.lines, start=1):
            self.sink.add("invoice_line", (self.ids.next("invoice_line"), invoice.id, position, kind,
                                           description, amount))
        for due, amount in invoice.instalments:
            self.sink.add("instalment", (self.ids.next("instalment"), invoice.id, w.day(due), amount))
        self.log.desk(at, (locker.branch, "CREATE", "Invoice", invoice.id, invoice.number,
                            changes({"client_id": chain.client_id, "due_on": invoice.day.isoformat(),
                                     "number": invoice.number, "rental_id": rental_id,
                                     "total_poisha": invoice.total})))
        if not invoice.cancelled:
            self._plan_payments(locker, chain, rental_id, at, invoice.id, invoice.total,
                                invoice.instalments)

    def _plan_payments(self, locker, chain, rental_id, at, invoice_id, total, instalments):
        """Queue how the client pays: at once, in parts, by instalment, or (a few) never."""
        rng = self.rng
        soon = at + seconds(rng, timedelta(minutes=1), timedelta(minutes=5))
        owed = False
        if instalments:
            parts = [(soon, instalments[0][1])]
            for due, amount in instalments[1:]:
                late = timedelta(days=rng.randrange(1, 10)) if rng.random() < 0.2 else timedelta(0)
                parts.append((open_at(rng, opening(due) + late
                                      + seconds(rng, timedelta(0), timedelta(hours=14))), amount))
        else:
            half, third = total // 200 * 100, total // 300 * 100
            chance = rng.random()
            if chance < 0.09 or not third:
                parts = [(soon, total)]
            elif chance < 0.79:  # part in cash now, the rest now by another method or days later
                later = (soon + seconds(rng, timedelta(minutes=2), timedelta(minutes=8))
                         if rng.random() < 0.5 else
                         open_at(rng, at + seconds(rng, timedelta(days=1), timedelta(days=10))))
                parts = [(soon, half), (later, total - half)]
            elif chance < 0.97:
                second = open_at(rng, at + seconds(rng, timedelta(days=1), timedelta(days=7)))
                third_at = open_at(rng, second + seconds(rng, timedelta(days=2), timedelta(days=14)))
                parts = [(soon, third), (second, third), (third_at, total - 2 * third)]
            else:  # dues: nothing, or half, is ever paid
                parts = [(soon, half)] if rng.random() < 0.5 else []
                owed = True
        paid = 0
        for n, (when, amount) in enumerate(parts):
            if when >= self.now:
                break  # still owed when the history ends
            method = (LATER_METHOD if n else FIRST_METHOD).draw(rng)
            self._later(when, self._write_payment,
                        (locker, chain.client_id, rental_id, invoice_id, amount, method))
            paid += amount
        if owed and paid < total:
            chain.dues.append([invoice_id, total - paid])

    def _end_chain(self, locker, chain, rental_id, ended, ending, ends):
        """The key comes back (or never does): dues from the deposit, the refund, the log."""
        rng, client_id = self.rng, chain.client_id
        if ending == "abandon":
            self._later(ended, self._write_lost_item, (locker, client_id, rental_id))
            if chain.deposit:  # the key never came back: the lost-key fee takes the deposit
                self._later(ended + timedelta(hours=1), self._write_deposit,
                            (locker, client_id, rental_id, "FEE_DEDUCTED", -chain.deposit,
                             "Key not returned (abandoned rental)"))
        elif chain.deposit:
            settled = 0
            if chain.dues and rng.random() < SETTLE_SHARE:
                for due in chain.dues:
                    take = min(due[1], chain.deposit - settled)
                    if take <= 0:
                        break
                    self._later(ended, self._write_payment,
                                (locker, client_id, rental_id, due[0], take, "DEPOSIT"))
                    due[1] -= take
                    settled += take
                self._later(ended, self._write_deposit,
                            (locker, client_id, rental_id, "APPLIED_TO_DUES", -settled, None))
            if chain.deposit > settled:
                self._later(ended, self._write_deposit, (locker, client_id, rental_id, "REFUNDED",
                                                         settled - chain.deposit, None))
        before = "active" if ended <= ends else "expired"
        after = "abandoned" if ending == "abandon" else "released"
        self._later(ended, self._log_rental_end, (locker, client_id, rental_id, before, after))
        locker.chain = None

    # --- writers of what was queued ------------------------------------------------------------

    def _write_payment(self, at, payload):
        locker, client_id, rental_id, invoice_id, amount, method = payload
        payment_id = self.ids.next("payment")
        branch_id, stamp = self.branch_ids[locker.branch], self.w.stamp(at)
        self.sink.add("payment", (payment_id, branch_id, client_id, rental_id, invoice_id, amount,
                                  method, "PAID", self._reference(method), stamp,
                                  self.staff.desks[locker.branch][0], stamp, stamp))
        self.log.desk(at, (locker.branch, "CREATE", "Payment", payment_id, f"#{payment_id}",
                            changes({"amount_poisha": amount, "invoice_id": invoice_id,
                                     "method": method.lower(), "status": "paid"})))

    def _reference(self, method):
        """What the desk types as the payment's reference (bKash/Nagad TrxID, card approval…)."""
        if method in ("BKASH", "NAGAD"):
            return "".join(self.rng.choices(TRX_ALPHABET, k=10))
        if method == "CARD":
            return f"{self.rng.randrange(10**6):06d}"
        if method == "BANK":
            return f"BEFTN{self.rng.randrange(10**10):010d}"
        return None

    def _write_deposit(self, at, payload):
        locker, client_id, rental_id, kind, amount, note = payload
        self.sink.add("deposit_entry", (
            self.ids.next("deposit_entry"), self.branch_ids[locker.branch], client_id, rental_id,
            locker.key_id, kind, amount, self.w.stamp(at), self.staff.desks[locker.branch][0], note))

    def _write_lost_item(self, at, payload):
        locker, client_id, rental_id = payload
        day = local_day(at)
        disposed = day + timedelta(days=LOST_ITEM_DAYS) if at + timedelta(
            days=LOST_ITEM_DAYS + 1) < self.now else None
        self.sink.add("lost_item", (
            self.ids.next("lost_item"), self.branch_ids[locker.branch], locker.id, rental_id,
            client_id, f"Contents of locker {locker.number} (abandoned rental)",
            self.w.day(day), "Store room", "DISPOSED" if disposed else "HELD", self.w.day(disposed),
            self.staff.desks[locker.branch][0], self.w.stamp(at),
            self.w.stamp(opening(disposed) if disposed else at)))

    def _log_rental_end(self, at, payload):
        locker, client_id, rental_id, before, after = payload
        self.log.desk(at, (locker.branch, "UPDATE", "Rental", rental_id,
                            self._rental_summary(rental_id, locker, client_id),
                            changes({"ended_at": [None, plain(at)],
                                     "holding_locker_id": [locker.id, None],
                                     "status": [before, after]})))

    def _rental_summary(self, rental_id, locker, client_id):
        return f"#{rental_id} {locker.number} · {self.clients.names[client_id]}"


# The columns each table's rows above are written in.
COLUMNS = {
    "rental": ("id", "branch_id", "locker_id", "client_id", "term", "days", "starts_at", "ends_at",
               "status", "price_poisha", "created_by_id", "holding_locker_id", "reserved_until",
               "renewed_from_id", "ended_at", "created_at", "updated_at"),
    "invoice": ("id", "number", "branch_id", "client_id", "rental_id", "issued_at", "due_on",
                "subtotal_poisha", "discount_poisha", "vat_poisha", "total_poisha", "cancelled_at",
                "cancel_reason", "issued_by_id", "created_at", "updated_at"),
    "invoice_line": ("id", "invoice_id", "position", "kind", "description", "amount_poisha"),
    "instalment": ("id", "invoice_id", "due_on", "amount_poisha"),
    "payment": ("id", "branch_id", "client_id", "rental_id", "invoice_id", "amount_poisha", "method",
                "status", "reference", "paid_at", "received_by_id", "created_at", "updated_at"),
    "deposit_entry": ("id", "branch_id", "client_id", "rental_id", "key_id", "kind", "amount_poisha",
                      "at", "staff_id", "note"),
    "lost_item": ("id", "branch_id", "locker_id", "rental_id", "client_id", "description",
                  "cleaned_out_on", "storage_place", "status", "disposed_on", "handled_by_id",
                  "created_at", "updated_at"),
    "activity_log": ("id", "at", "user_id", "user_email", "action", "model", "object_id", "summary",
                     "changes", "ip", "user_agent", "branch_id"),
    "invoice_counter": ("series", "next_number"),
}
