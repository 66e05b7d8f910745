"""Demo data: a believable Dhaka gym and the history of its locker desk.

The gym, its price matrix and its clients are made in bulk; the history is
played, not written. A simulated clock walks from `years` ago to now, and a
demo desk does what a desk does, through the services the screens call:
lockers are made by lockers.bulk_create_lockers (status history and keys
included); they are assigned, renewed and released by app.services.rentals, so
every term has its invoice, priced by the price matrix in force that day with
VAT and numbered in order; money comes in through billing.record_payment; keys
go out and come back with their deposits through app.services.handover;
lockers are cleaned and repaired through lockers.bulk_change_status; and the
expiry job (rentals.expire_due) expires what nobody renewed or returned in
time. Invoices, payments, deposits, key events and status histories therefore
agree with each other exactly as on a real install.

Bulk paths, no rules skipped: the desk's actions of a batch run inside one
outer desk action (each service joins its transaction, app.services.
transactions), committed every BATCH actions and before each run of the
expiry job; clients are inserted in chunks. Only ids are kept in memory, so
200,000 clients and years of history fit in a small process.
"""

import random
from bisect import bisect_right
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from heapq import heappop
from heapq import heappush
from itertools import count
from zoneinfo import ZoneInfo

from flask_security import hash_password

from app.extensions import db
from app.extensions import security
from app.models import ActivityAction
from app.models import Branch
from app.models import Client
from app.models import ClientStatus
from app.models import DepositEntry
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Floor
from app.models import Gender
from app.models import Invoice
from app.models import Key
from app.models import Language
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import LockerStatus
from app.models import Payment
from app.models import PaymentMethod
from app.models import PriceRule
from app.models import Rental
from app.models import RentalTerm
from app.models import Setting
from app.models import User
from app.models import Zone
from app.models import ZoneKind
from app.models import utcnow
from app.services import audit
from app.services import billing
from app.services import client_search
from app.services import clock
from app.services import handover
from app.services import keys
from app.services import lockers
from app.services import message_templates
from app.services import notifications
from app.services import rentals
from app.services import settings
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from app.services.access import ensure_default_roles
from app.services.transactions import desk_action

DEMO_PASSWORD = "Locker-Demo-2026!"
DEMO_STAFF = [
    ("admin@demo.local", "Rafiq Chowdhury", SUPER_ADMIN, False),
    ("manager@demo.local", "Nasrin Akter", MANAGER, False),
    ("desk@demo.local", "Sohel Rana", FRONT_DESK, True),
    ("accounts@demo.local", "Farzana Haque", ACCOUNTANT, False),
]

MALE_NAMES = ["Abdul", "Arif", "Asif", "Imran", "Jahid", "Kamal", "Mahmud", "Masud", "Mizanur",
              "Nazmul", "Rakib", "Rashed", "Rezaul", "Saiful", "Shakil", "Shahriar", "Tanvir",
              "Tariq", "Zahid", "Habib", "Faisal", "Rubel", "Sabbir", "Mehedi", "Anisur"]
FEMALE_NAMES = ["Ayesha", "Farhana", "Fatema", "Jannatul", "Nusrat", "Rumana", "Sadia",
                "Sharmin", "Sumaiya", "Tahmina", "Taslima", "Nabila", "Mitu", "Shirin",
                "Lamia", "Rokeya", "Sabrina", "Tania", "Afroza", "Dilruba"]
SURNAMES = ["Ahmed", "Akter", "Alam", "Begum", "Chowdhury", "Das", "Hasan", "Hossain", "Islam",
            "Karim", "Khan", "Mahmud", "Miah", "Molla", "Rahman", "Roy", "Sarker", "Siddique",
            "Talukder", "Uddin", "Sheikh", "Bhuiyan", "Mondal", "Haque", "Kabir"]
AREAS = ["Dhanmondi", "Gulshan", "Banani", "Mirpur", "Uttara", "Mohammadpur", "Bashundhara",
         "Motijheel", "Badda", "Rampura", "Tejgaon", "Lalmatia"]
MOBILE_PREFIXES = ["013", "014", "015", "016", "017", "018", "019"]
REPAIRS = ["Hinge loose", "Door does not close", "Lock sticks", "Shelf broken", "Number plate missing"]

# Zone layout of the demo branch: (floor, zone name, kind, locker prefix, share of lockers).
LAYOUT = [
    ("Ground floor", "Men", ZoneKind.MEN, "M", 0.40),
    ("First floor", "Women", ZoneKind.WOMEN, "W", 0.33),
    ("Second floor", "Family", ZoneKind.FAMILY, "F", 0.17),
    ("Second floor", "VIP", ZoneKind.VIP, "V", 0.10),
]
# The Bengali names of the floors, zones and categories (a Dhaka ground floor is the নিচতলা,
# its first floor the দোতলা); zone names are the glossary's.
NAMES_BN = {"Ground floor": "নিচতলা", "First floor": "দোতলা", "Second floor": "তিনতলা",
            "Men": "পুরুষ", "Women": "মহিলা", "Family": "পারিবারিক", "VIP": "ভিআইপি",
            "Standard": "স্ট্যান্ডার্ড", "Day-use": "দৈনিক", "Premium": "প্রিমিয়াম"}
# The company the invoices and receipts are issued by.
COMPANY = {"company_name": "Dhanmondi Fitness Ltd.",
           "company_address": "House 27, Road 7, Dhanmondi, Dhaka 1205",
           "company_bin": "004512378-0101"}
# Lockers stand in banks of one size and category, made together.
BANK = 20

# The demo's price matrix in taka: any category and zone; VIP zones half as much again;
# Day-use lockers cheaper by the day and week; list prices rise by PRICE_RISE_PERCENT
# from PRICE_RISE_DAYS ago (when the history is longer than that).
PRICES_TAKA = {RentalTerm.DAILY: 50, RentalTerm.WEEKLY: 250, RentalTerm.MONTHLY: 800,
               RentalTerm.QUARTERLY: 2200, RentalTerm.HALF_YEARLY: 4200, RentalTerm.YEARLY: 8000}
VIP_PERCENT = 150
DAY_USE_TAKA = {RentalTerm.DAILY: 40, RentalTerm.WEEKLY: 200}
PRICE_RISE_PERCENT, PRICE_RISE_DAYS = 10, 180
YEARLY_DISCOUNT_BP = 1000  # 10 % off a yearly term

# How the demo's clients behave.
TERMS = [RentalTerm.DAILY, RentalTerm.WEEKLY, RentalTerm.MONTHLY, RentalTerm.QUARTERLY,
         RentalTerm.HALF_YEARLY, RentalTerm.YEARLY]
TERM_WEIGHTS = [1, 1, 8, 6, 3, 2]
# At the end of a term: renew before it ends / after it expired, hand the key back in time / late.
ENDINGS = ["renew", "renew late", "return", "return late"]
ENDING_WEIGHTS = [44, 6, 36, 14]
# A locker stays free this long after cleaning (about one in seven is free on a given day).
GAP_DAYS = [1, 3, 7, 14, 30, 60, 90]
METHODS = [PaymentMethod.CASH, PaymentMethod.BKASH, PaymentMethod.CARD]
METHOD_WEIGHTS = [6, 3, 1]
OPENS, CLOSES = time(7), time(22)     # the desk's hours at the branch
EXPIRY_JOB_MINUTES = 5                # rentals.expire_due runs every 5 minutes (jobs/schedule.py)
# Desk actions per transaction: few enough that a batch's rows stay small in memory.
BATCH = 500
CLIENT_CHUNK = 1000


# --- the gym ----------------------------------------------------------------------------------

def _staff(branch):
    """The four demo staff (the front desk limited to `branch`); returns their emails."""
    ensure_default_roles()
    settings.ensure_defaults()
    # The demo passwords are printed in the README: making them expire would only
    # get in the way of trying the desk.
    settings.put("password_max_age_days", 0)
    for key, value in COMPANY.items():
        settings.put(key, value)
    emails = []
    for email, name, role, limited in DEMO_STAFF:
        if security.datastore.find_user(email=email) is None:
            security.datastore.create_user(
                email=email, full_name=name, password=hash_password(DEMO_PASSWORD),
                roles=[role], locale="bn", branch=branch if limited else None,
            )
        emails.append(email)
    db.session.commit()
    return emails


def _user_id(email):
    """The id of the staff member with `email`."""
    return db.session.execute(db.select(User.id).where(User.email == email)).scalar_one()


def _branch():
    """The demo branch, its locker categories and its floors' zones: (branch, categories, zones)."""
    branch = Branch(name="Dhanmondi Fitness", code="DHN", address="House 27, Road 7, Dhanmondi, Dhaka",
                    phone="+8801711000000", timezone="Asia/Dhaka")
    categories = {name: LockerCategory(name=name, name_bn=NAMES_BN[name])
                  for name in ("Standard", "Day-use", "Premium")}
    db.session.add_all([branch, *categories.values()])
    floors, zones = {}, []
    for floor_name, zone_name, kind, prefix, share in LAYOUT:
        floor = floors.get(floor_name)
        if floor is None:
            floor = floors[floor_name] = Floor(branch=branch, name=floor_name,
                                               name_bn=NAMES_BN[floor_name], level=len(floors))
        zones.append((Zone(floor=floor, name=zone_name, name_bn=NAMES_BN[zone_name], kind=kind),
                      prefix, share))
        db.session.add(zones[-1][0])
    db.session.commit()
    return branch, categories, zones


def _taka_rule(term, taka, start, until=None, **scope):
    """One cell of the price matrix, priced in whole taka."""
    return PriceRule(term=term, price_poisha=int(taka) * 100, effective_from=start,
                     effective_to=until, **scope)


def _price_matrix(branch, categories, first_day, today):
    """The matrix the quotes of the history are priced by, and a yearly discount."""
    rise_on = today - timedelta(days=PRICE_RISE_DAYS)
    rules = []
    for term, taka in PRICES_TAKA.items():
        if rise_on > first_day:
            rules.append(_taka_rule(term, taka, first_day, rise_on - timedelta(days=1),
                                    branch=branch))
            risen = round(taka * (100 + PRICE_RISE_PERCENT) / 1000) * 10
            rules.append(_taka_rule(term, risen, rise_on, branch=branch))
        else:
            rules.append(_taka_rule(term, taka, first_day, branch=branch))
        rules.append(_taka_rule(term, taka * VIP_PERCENT // 100, first_day, branch=branch,
                                zone_kind=ZoneKind.VIP))
    for term, taka in DAY_USE_TAKA.items():
        rules.append(_taka_rule(term, taka, first_day, branch=branch,
                                category=categories["Day-use"]))
    db.session.add_all(rules)
    db.session.add(DiscountRule(name="Yearly member", kind=DiscountKind.TERM,
                                term=RentalTerm.YEARLY, percent_bp=YEARLY_DISCOUNT_BP))
    db.session.commit()


def _zone_counts(total):
    """How many of `total` lockers each zone of LAYOUT gets (the last takes the rest)."""
    counts = []
    for n, (_floor, _zone, _kind, _prefix, share) in enumerate(LAYOUT):
        last = n == len(LAYOUT) - 1
        counts.append(max(1, total - sum(counts)) if last else max(1, round(total * share)))
    return counts


@dataclass(slots=True)
class _Locker:
    """What the simulated desk remembers of one locker: ids and amounts, no ORM objects."""

    index: int
    id: int
    kind: ZoneKind
    key_id: int
    rental_id: int | None = None
    client_id: int | None = None
    term: RentalTerm | None = None
    deposit: int = 0                           # held for the current client on this locker
    owing: list = field(default_factory=list)  # invoices of the current client not yet settled


@desk_action
def _lockers(rng, branch, categories, zones, total, by_user_id):
    """Every locker, bank by bank through lockers.bulk_create_lockers, and some spare keys."""
    for (zone, prefix, _share), number in zip(zones, _zone_counts(total), strict=True):
        width = max(3, len(str(number)))
        for first in range(1, number + 1, BANK):
            size = rng.choices(list(LockerSize), weights=[3, 5, 2])[0]
            category = categories["Premium"] if zone.kind is ZoneKind.VIP else rng.choices(
                [categories["Standard"], categories["Day-use"]], [9, 1])[0]
            lockers.bulk_create_lockers(zone.id, f"{prefix}-", first, min(number, first + BANK - 1),
                                        size=size, by_user_id=by_user_id, category_id=category.id,
                                        width=width)
    rows = db.session.execute(
        db.select(Locker.id, Zone.kind, Key.id, Key.tag).join(Zone, Locker.zone_id == Zone.id)
        .join(Key, Key.locker_id == Locker.id)
        .where(Locker.branch_id == branch.id, Key.is_spare.is_(False))
        .order_by(Locker.id)).all()
    for locker_id, _kind, _key_id, tag in rows:
        if rng.random() < 0.2:
            keys.add_key({"locker_id": locker_id, "tag": f"{tag}-S", "is_spare": True},
                         by_user_id=by_user_id)
    return [_Locker(index, locker_id, kind, key_id)
            for index, (locker_id, kind, key_id, _tag) in enumerate(rows)]


# --- clients -----------------------------------------------------------------------------------

def _phones(rng, count):
    """`count` different Bangladeshi mobile numbers as stored (+8801…), in random order."""
    numbers = set()
    while len(numbers) < count:
        numbers.add(f"+880{rng.choice(MOBILE_PREFIXES)[1:]}{rng.randrange(10**8):08d}")
    return sorted(numbers, key=lambda _: rng.random())


class _Pool:
    """Active clients who may rent in a zone, in order of registration."""

    def __init__(self):
        self.ids, self.since = [], []

    def pick(self, rng, at, busy):
        """A client registered by `at`, preferably one holding no locker; None if nobody yet."""
        registered = bisect_right(self.since, at)
        if not registered:
            return None
        for _ in range(8):
            client_id = self.ids[rng.randrange(registered)]
            if client_id not in busy:
                break
        return client_id


def _clients(rng, branch, count, first_day, now):
    """Insert `count` clients in chunks; returns the pools the desk picks renters from."""
    earliest = datetime.combine(first_day - timedelta(days=365), OPENS)
    span = (now - timedelta(days=1) - earliest).total_seconds()
    registered = sorted(earliest + timedelta(seconds=int(span * rng.random())) for _ in range(count))
    phones = _phones(rng, count)
    table = Client.__table__
    for start in range(0, count, CLIENT_CHUNK):
        rows = []
        for at, phone in zip(registered[start:start + CLIENT_CHUNK],
                             phones[start:start + CLIENT_CHUNK], strict=True):
            gender = rng.choices([Gender.MALE, Gender.FEMALE], weights=[6, 4])[0]
            first = rng.choice(MALE_NAMES if gender is Gender.MALE else FEMALE_NAMES)
            last = rng.choice(SURNAMES)
            rows.append({
                "branch_id": branch.id, "full_name": f"{first} {last}", "phone": phone,
                "gender": gender,
                "email": f"{first}.{last}{rng.randrange(100, 999)}@example.com".lower(),
                "address": f"{rng.randrange(1, 120)}/{rng.choice('ABCD')}, {rng.choice(AREAS)}, Dhaka",
                "date_of_birth": (at - timedelta(days=rng.randrange(18 * 365, 60 * 365))).date(),
                "preferred_language": rng.choices([Language.BENGALI, Language.ENGLISH], [7, 3])[0],
                "registered_at": at, "created_at": at, "updated_at": at,
                "status": rng.choices([ClientStatus.ACTIVE, ClientStatus.INACTIVE], [19, 1])[0],
            })
        db.session.execute(table.insert(), rows)
    db.session.commit()
    client_search.write_missing_keys()
    pools = {Gender.MALE: _Pool(), Gender.FEMALE: _Pool(), None: _Pool()}
    found = db.session.execute(
        db.select(Client.id, Client.gender, Client.registered_at)
        .where(Client.branch_id == branch.id, Client.status == ClientStatus.ACTIVE)
        .order_by(Client.registered_at, Client.id).execution_options(yield_per=10_000))
    for client_id, gender, at in found:
        for pool in (pools[gender], pools[None]):
            pool.ids.append(client_id)
            pool.since.append(at)
    db.session.commit()
    return {ZoneKind.MEN: pools[Gender.MALE], ZoneKind.WOMEN: pools[Gender.FEMALE],
            ZoneKind.FAMILY: pools[None], ZoneKind.VIP: pools[None], ZoneKind.STAFF: pools[None]}


# --- the desk's history ------------------------------------------------------------------------

class _Desk:
    """The demo desk: a queue of what happens when, played through the services.

    Besides ids it remembers what it paid and took itself (balances of the
    invoices not yet settled, the deposit on each locker), so it never has to
    ask the database what it already knows.
    """

    def __init__(self, rng, sim_clock, lockers_, pools, timezone, staff, until):
        self.rng, self.clock, self.lockers, self.pools = rng, sim_clock, lockers_, pools
        self.timezone = ZoneInfo(timezone)
        self.desk_id, self.manager_id = staff
        self.until = until
        self.queue, self.order = [], count()
        self.expiry_runs = set()
        self.busy = {}   # client id -> lockers held
        self.owed = {}   # invoice id -> balance, for invoices not settled yet
        self.kept = []
        self.deposit = settings.get("key_deposit_poisha")

    # scheduling

    def at(self, when, action, locker=None, arg=None):
        """Queue `action` (a method's name, or "expire") on `locker` at `when` (naive UTC)."""
        index = -1 if locker is None else locker.index
        heappush(self.queue, (when, next(self.order), action, index, arg))

    def open_at(self, when):
        """`when`, or the moment the desk opens next if it is closed then."""
        local = when.replace(tzinfo=UTC).astimezone(self.timezone)
        if OPENS <= local.time() < CLOSES:
            return when
        day = local.date() if local.time() < OPENS else local.date() + timedelta(days=1)
        opens = datetime.combine(day, OPENS, tzinfo=self.timezone)
        opens += timedelta(minutes=self.rng.randrange(0, 90))
        return opens.astimezone(UTC).replace(tzinfo=None)

    def minutes(self, low, high):
        """A random while: from `low` to `high` minutes."""
        return timedelta(minutes=self.rng.randrange(low, high))

    def next_up(self):
        """The action at the head of the queue if it happens before now, else None."""
        return self.queue[0][2] if self.queue and self.queue[0][0] < self.until else None

    # playing

    def play(self, first_day):
        """Open every locker on a day of the first weeks, then play the queue up to now."""
        first = datetime.combine(first_day, OPENS, tzinfo=self.timezone)
        for locker in self.lockers:
            start = first + timedelta(days=self.rng.randrange(0, 40), minutes=self.rng.randrange(0, 840))
            self.at(self.open_at(start.astimezone(UTC).replace(tzinfo=None)), "assign", locker)
        while (action := self.next_up()) is not None:
            if action == "expire":
                when = heappop(self.queue)[0]
                self.expiry_runs.discard(when)
                self.clock.at = when
                rentals.expire_due()  # the job: its own transaction per rental
            else:
                _desk_batch(self)
        self.kept = []

    def keep_warm(self):
        """Load, once per batch, the rows every desk action reads, and hold on to them.

        The session keeps an object only while something refers to it. Held
        here, the services' reads of a setting, the branch, a zone or the
        staff member are answered from the session, not with a SELECT each.
        """
        self.kept = [row for model in (Setting, Branch, Zone, User)
                     for row in db.session.execute(db.select(model)).scalars()]

    def step(self):
        """Do the next queued action, at its time."""
        when, _order, action, index, arg = heappop(self.queue)
        self.clock.at = when
        getattr(self, action)(self.lockers[index] if index >= 0 else None, arg)

    # what happens at the desk

    def assign(self, locker, _arg):
        """A client takes the free locker for a term; the invoice, payment and key follow."""
        now = self.clock.at
        client_id = self.pools[locker.kind].pick(self.rng, now, self.busy)
        if client_id is None:  # nobody has registered yet who may use this zone
            self.at(self.open_at(now + timedelta(days=7)), "assign", locker)
            return
        term = self.rng.choices(TERMS, TERM_WEIGHTS)[0]
        instalments = self._instalments(term)
        rental = rentals.assign(locker.id, client_id, term, by_user_id=self.desk_id,
                                instalments=instalments)
        locker.rental_id, locker.client_id, locker.term = rental.id, client_id, term
        self.busy[client_id] = self.busy.get(client_id, 0) + 1
        self._bill(locker, rental, instalments)
        self.at(now + self.minutes(4, 9), "issue_key", locker)
        self._plan_end(locker, rental)

    def issue_key(self, locker, _arg):
        """The client gets the locker's key and leaves the deposit."""
        handover.issue_key(locker.id, locker.key_id, deposit_poisha=self.deposit,
                           by_user_id=self.desk_id)
        locker.deposit = self.deposit

    def pay(self, _locker, arg):
        """Take what the client brings (`amount`, or the whole balance), never more than is owed."""
        invoice_id, amount = arg
        owed = self.owed.get(invoice_id, 0)
        amount = owed if amount is None else min(amount, owed)
        if amount <= 0:
            return
        method = self.rng.choices(METHODS, METHOD_WEIGHTS)[0]
        reference = None
        if method is PaymentMethod.BKASH:
            reference = "".join(self.rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10))
        billing.record_payment(invoice_id, amount, method, by_user_id=self.desk_id,
                               reference=reference)
        if amount == owed:
            del self.owed[invoice_id]
        else:
            self.owed[invoice_id] = owed - amount

    def end(self, locker, ending):
        """The term is up (or about to be): the client renews or hands the key back."""
        if ending.startswith("renew"):
            instalments = self._instalments(locker.term)
            renewal = rentals.renew(locker.rental_id, by_user_id=self.desk_id,
                                    instalments=instalments)
            locker.rental_id = renewal.id
            self._bill(locker, renewal, instalments)
            self._plan_end(locker, renewal)
            return
        if self.rng.random() < 0.7:
            for invoice_id in locker.owing:
                self.pay(locker, (invoice_id, None))
        handover.return_key(locker.key_id, refund_poisha=locker.deposit, by_user_id=self.desk_id,
                            locker_to=LockerStatus.CLEANING)
        held = self.busy.pop(locker.client_id) - 1
        if held:
            self.busy[locker.client_id] = held
        locker.rental_id = locker.client_id = locker.term = None
        locker.deposit = 0
        locker.owing = []
        self.at(self.open_at(self.clock.at + self.minutes(60, 360)), "cleaned", locker)

    def cleaned(self, locker, _arg):
        """The locker is clean again; now and then it needs a repair before the next client."""
        lockers.bulk_change_status([locker.id], LockerStatus.AVAILABLE, by_user_id=self.desk_id)
        chance = self.rng.random()
        if chance < 0.03:
            self._out_of_use(locker, LockerStatus.MAINTENANCE, self.rng.choice(REPAIRS), 1, 10)
        elif chance < 0.035:
            self._out_of_use(locker, LockerStatus.OUT_OF_SERVICE, self.rng.choice(REPAIRS), 20, 60)
        else:
            self._free(locker)

    def repaired(self, locker, _arg):
        """The locker is back in use after a repair."""
        lockers.bulk_change_status([locker.id], LockerStatus.AVAILABLE, by_user_id=self.manager_id)
        self._free(locker)

    # helpers

    def _instalments(self, term):
        """3 for some long terms (paid monthly), else None."""
        return 3 if term.days and term.days >= 180 and self.rng.random() < 0.25 else None

    def _bill(self, locker, rental, instalments):
        """How the client pays the new term's invoice: at once, half now, in instalments, or not yet."""
        invoice = billing.invoice_of(rental.id)
        self.kept += [rental, invoice]
        self.owed[invoice.id] = invoice.total_poisha
        paid_at = self.clock.at + self.minutes(1, 4)
        if instalments:
            locker.owing.append(invoice.id)
            for n, instalment in enumerate(invoice.instalments):
                when = paid_at if n == 0 else self.open_at(datetime.combine(
                    instalment.due_on, OPENS, tzinfo=self.timezone).astimezone(UTC)
                    .replace(tzinfo=None) + self.minutes(0, 600))
                self.at(when, "pay", locker, (invoice.id, instalment.amount_poisha))
            return
        chance = self.rng.random()
        if chance < 0.88:
            self.at(paid_at, "pay", locker, (invoice.id, None))
        elif chance < 0.95:
            locker.owing.append(invoice.id)
            half = invoice.total_poisha // 200 * 100
            self.at(paid_at, "pay", locker, (invoice.id, half))
            later = self.open_at(self.clock.at + timedelta(days=self.rng.randrange(1, 10)))
            self.at(later, "pay", locker, (invoice.id, None))
        else:
            locker.owing.append(invoice.id)

    def _plan_end(self, locker, rental):
        """Decide now how this term ends, and queue it (and the expiry job if it will be late)."""
        ending = self.rng.choices(ENDINGS, ENDING_WEIGHTS)[0]
        length = rental.ends_at - rental.starts_at
        if ending.endswith("late"):
            when = rental.ends_at + self.minutes(30, 60 * 60)
        else:
            lead = min(timedelta(days=2), length / 2)
            when = rental.ends_at - timedelta(seconds=self.rng.randrange(600, int(lead.total_seconds())))
        when = self.open_at(when)
        if when > rental.ends_at:
            self._expiry_job_after(rental.ends_at)
        self.at(when, "end", locker, ending)

    def _expiry_job_after(self, ends_at):
        """Queue the run of the expiry job (every EXPIRY_JOB_MINUTES) that first sees `ends_at`."""
        step = EXPIRY_JOB_MINUTES * 60
        seconds = (ends_at - datetime(2000, 1, 1)).total_seconds()
        when = datetime(2000, 1, 1) + timedelta(seconds=(seconds // step + 1) * step)
        if when not in self.expiry_runs:
            self.expiry_runs.add(when)
            self.at(when, "expire")

    def _out_of_use(self, locker, status, reason, low_days, high_days):
        """A manager takes the locker out of use for a few days."""
        lockers.bulk_change_status([locker.id], status, by_user_id=self.manager_id, reason=reason)
        back = self.clock.at + timedelta(days=self.rng.randrange(low_days, high_days))
        self.at(self.open_at(back), "repaired", locker)

    def _free(self, locker):
        """The locker waits for its next client."""
        gap = timedelta(days=self.rng.choice(GAP_DAYS))
        self.at(self.open_at(self.clock.at + gap + self.minutes(10, 240)), "assign", locker)


@desk_action
def _desk_batch(desk):
    """Up to BATCH of the desk's next actions as one transaction; stops before the expiry job.

    The loader is the only writer, so the desk action never has a deadlock to
    retry; if it did, the actions already taken off the queue would be lost and
    the next refusal would stop the load (a refusal here is a bug of the demo).
    """
    desk.keep_warm()
    for _ in range(BATCH):
        action = desk.next_up()
        if action is None or action == "expire":
            return
        desk.step()


def _count(model):
    """Rows of `model`."""
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def load_demo_data(*, lockers=300, clients=800, years=1, seed=2026):
    """Fill the database with one demo branch and its history; returns counts for the CLI to print."""
    rng = random.Random(seed)
    now = utcnow()
    summary = f"demo data: {lockers} lockers, {clients} clients, {years} year(s)"
    # A made-up history tells no made-up client anything.
    with audit.summarised(ActivityAction.CREATE, model="DemoData", summary=summary), \
            clock.simulated() as sim_clock, notifications.silenced():
        start = now - timedelta(days=365 * years)
        sim_clock.at = start - timedelta(days=1)  # the gym is set up the day before it opens
        branch, categories, zones = _branch()
        first_day = clock.local_day(start, branch.timezone)
        _price_matrix(branch, categories, first_day, clock.local_day(now, branch.timezone))
        emails = _staff(branch)
        message_templates.install_defaults()
        desk_id, manager_id, admin_id = (_user_id(email) for email in
                                         ("desk@demo.local", "manager@demo.local",
                                          "admin@demo.local"))
        locker_rows = _lockers(rng, branch, categories, zones, lockers, admin_id)
        pools = _clients(rng, branch, clients, first_day, now)
        desk = _Desk(rng, sim_clock, locker_rows, pools, branch.timezone, (desk_id, manager_id), now)
        desk.play(first_day)
        sim_clock.at = None
        rentals.expire_due()  # what ended while the history was being played
    db.session.commit()
    return {"lockers": len(locker_rows), "clients": clients, "rentals": _count(Rental),
            "invoices": _count(Invoice), "payments": _count(Payment),
            "deposit_entries": _count(DepositEntry), "password": DEMO_PASSWORD,
            "emails": ", ".join(emails)}
