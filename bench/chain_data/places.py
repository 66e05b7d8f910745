"""The chain's places and prices: branches, floors, zones, categories, the price matrix, lockers, keys."""

from dataclasses import dataclass
from datetime import timedelta

from bench.chain_data.common import local_day
from bench.chain_data.names import BRANCHES
from bench.chain_data.names import CATEGORIES
from bench.chain_data.names import FLOORS
from bench.chain_data.names import REPAIRS
from bench.chain_data.names import TAGS
from bench.chain_data.names import ZONES

# Rental terms (app.models.RentalTerm names) and their days, shortest first.
TERMS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "QUARTERLY": 90, "HALF_YEARLY": 182, "YEARLY": 365}
TERM_LABELS = {"DAILY": "Daily", "WEEKLY": "Weekly", "MONTHLY": "Monthly", "QUARTERLY": "Quarterly",
               "HALF_YEARLY": "Half-yearly", "YEARLY": "Yearly"}
# The price matrix in taka, as in the demo (app.services.demo): any locker, VIP zones half
# as much again, Day-use lockers cheaper by the day and week. Chain-wide (no branch), and
# raised by PRICE_RISE_PERCENT every PRICE_PERIOD_DAYS, so old invoices carry old prices.
PRICES_TAKA = {"DAILY": 50, "WEEKLY": 250, "MONTHLY": 800, "QUARTERLY": 2200, "HALF_YEARLY": 4200,
               "YEARLY": 8000}
VIP_PERCENT = 150
DAY_USE_TAKA = {"DAILY": 40, "WEEKLY": 200}
PRICE_PERIOD_DAYS, PRICE_RISE_PERCENT = 730, 8
# The one automatic discount: 10 % off a yearly term.
YEARLY_DISCOUNT_NAME, YEARLY_DISCOUNT_BP = "Yearly member", 1000

# What each locker is doing when the history ends (a LockerStatus name), in shares.
FATES = {"ASSIGNED": 72, "EXPIRED": 6, "RESERVED": 2, "AVAILABLE": 14, "CLEANING": 2,
         "MAINTENANCE": 3, "OUT_OF_SERVICE": 1}
# A branch's lockers stand in banks of one size and category.
BANK = 20
SPARE_KEY_SHARE = 0.3
SIZES, SIZE_WEIGHTS = ["SMALL", "MEDIUM", "LARGE"], [3, 5, 2]


@dataclass(slots=True)
class Locker:
    """What the history needs to know of a locker while it plays; ids, no ORM objects."""

    id: int
    branch: int      # index into BRANCHES
    kind: str        # the zone's ZoneKind name
    category: str
    number: str
    key_id: int      # its main key (spares stay in the office)
    fate: str        # its status when the history ends
    left: int        # rentals still to play on it
    chain: object = None  # the client's run of terms on it now (history.Chain), if any
    last: tuple = None    # the plan of its last rental, once the history gets there


def _shares(total, weights):
    """`total` split in proportion to `weights` (largest remainders), zeros allowed."""
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda n: exact[n] - counts[n], reverse=True)
    for n in by_remainder[:total - sum(counts)]:
        counts[n] += 1
    return counts


class Places:
    """Writes the places and the price matrix; keeps the lockers and the prices for the history."""

    def __init__(self, rng, ids, writer, start, now):
        self.rng, self.ids, self.w = rng, ids, writer
        self.opened = start - timedelta(days=1)  # everything is set up the day before opening
        self.first_day = local_day(self.opened)
        self.last_period = (local_day(now) - self.first_day).days // PRICE_PERIOD_DAYS
        self.lockers = []
        self.branch_ids, self.category_ids, self.tag_ids = [], {}, []
        self.prices = {}

    def write(self, sink, lockers, rentals_per_locker):
        """Write every place, price and locker (with its keys); `lockers` over all branches."""
        at = self.w.stamp(self.opened)
        zones = self._branches(sink, at)
        self._categories_and_tags(sink, at)
        self._price_matrix(sink, at)
        per_branch = _shares(lockers, [1] * len(BRANCHES))
        for branch, count in enumerate(per_branch):
            self._lockers(sink, at, branch, zones[branch], count, rentals_per_locker)

    def _branches(self, sink, at):
        """Branches with their floors and zones; returns each branch's [(zone id, ZONES row)]."""
        zones = []
        for n, (area, code, city) in enumerate(BRANCHES):
            branch_id = self.ids.next("branch")
            self.branch_ids.append(branch_id)
            sink.add("branch", (branch_id, f"{area} Fitness", code, f"{n + 1} {area} Road, {city}",
                                f"+88017110{n + 1:05d}", "Asia/Dhaka", True, at, at))
            floor_ids = []
            for level, (name, name_bn) in enumerate(FLOORS):
                floor_ids.append(self.ids.next("floor"))
                sink.add("floor", (floor_ids[-1], branch_id, name, name_bn, level, at, at))
            mine = []
            for zone in ZONES:
                name, name_bn, floor, kind = zone[:4]
                zone_id = self.ids.next("zone")
                sink.add("zone", (zone_id, branch_id, floor_ids[floor], name, name_bn, kind, at, at))
                mine.append((zone_id, zone))
            zones.append(mine)
        return zones

    def _categories_and_tags(self, sink, at):
        for name, name_bn in CATEGORIES:
            self.category_ids[name] = self.ids.next("locker_category")
            sink.add("locker_category", (self.category_ids[name], name, name_bn, at, at))
        for name, name_bn in TAGS:
            self.tag_ids.append(self.ids.next("tag"))
            sink.add("tag", (self.tag_ids[-1], name, name_bn, at, at))

    def _price_matrix(self, sink, at):
        """The rules of every period, and the prices the invoices of each period are issued at."""
        for period in range(self.last_period + 1):
            start = self.first_day + timedelta(days=period * PRICE_PERIOD_DAYS)
            last = period == self.last_period
            until = None if last else start + timedelta(days=PRICE_PERIOD_DAYS - 1)
            rise = (100 + PRICE_RISE_PERCENT) ** period / 100 ** period
            since = f"from {start:%d/%m/%Y}"
            for term, taka in PRICES_TAKA.items():
                self._rule(sink, at, period, "base", term, taka * rise, start, until,
                           None, None, f"any category, any zone, {since}")
                self._rule(sink, at, period, "vip", term, taka * rise * VIP_PERCENT / 100, start,
                           until, None, "VIP", f"any category, VIP, {since}")
            for term, taka in DAY_USE_TAKA.items():
                self._rule(sink, at, period, "day-use", term, taka * rise, start, until,
                           self.category_ids["Day-use"], None, f"Day-use, any zone, {since}")
        sink.add("discount_rule", (self.ids.next("discount_rule"), YEARLY_DISCOUNT_NAME, "TERM",
                                   "YEARLY", None, YEARLY_DISCOUNT_BP, 0, False, True, at, at))

    def _rule(self, sink, at, period, key, term, taka, start, until, category_id, zone_kind, source):
        poisha = round(taka / 10) * 1000  # list prices are whole tens of taka
        self.prices[period, key, term] = (poisha, f"(price matrix: {source})")
        sink.add("price_rule", (self.ids.next("price_rule"), None, category_id, zone_kind, term,
                                poisha, self.w.day(start), self.w.day(until), at, at))

    def _lockers(self, sink, at, branch, zones, count, rentals_per_locker):
        rng = self.rng
        code = BRANCHES[branch][1]
        for (zone_id, zone), number in zip(zones, _shares(count, [z[5] for z in ZONES]), strict=True):
            kind, prefix = zone[3], zone[4]
            width = max(3, len(str(number)))
            for n in range(1, number + 1):
                if (n - 1) % BANK == 0:
                    size = rng.choices(SIZES, SIZE_WEIGHTS)[0]
                    category = "Premium" if kind == "VIP" else rng.choices(["Standard", "Day-use"],
                                                                           [9, 1])[0]
                fate = rng.choices(list(FATES), list(FATES.values()))[0]
                locker = Locker(self.ids.next("locker"), branch, kind, category,
                                f"{prefix}-{n:0{width}d}", 0, fate, rentals_per_locker)
                notes = rng.choice(REPAIRS) if fate in ("MAINTENANCE", "OUT_OF_SERVICE") else None
                sink.add("locker", (locker.id, self.branch_ids[branch], zone_id,
                                    self.category_ids[category], locker.number, size, fate, notes,
                                    False, at, at))
                locker.key_id = self.ids.next("key")
                held = "WITH_CLIENT" if fate in ("ASSIGNED", "EXPIRED") else "IN_OFFICE"
                tag = f"{code}-{locker.number}"
                sink.add("key", (locker.key_id, locker.id, tag, False, held, None, at, at))
                if rng.random() < SPARE_KEY_SHARE:
                    sink.add("key", (self.ids.next("key"), locker.id, f"{tag}-S", True, "IN_OFFICE",
                                     None, at, at))
                self.lockers.append(locker)

    def rent(self, locker, term, day):
        """The rent in poisha of `term` on `locker` issued on local `day`, and its explanation."""
        period = min((day - self.first_day).days // PRICE_PERIOD_DAYS, self.last_period)
        if locker.kind == "VIP":
            key = "vip"
        elif locker.category == "Day-use" and term in DAY_USE_TAKA:
            key = "day-use"
        else:
            key = "base"
        poisha, source = self.prices[period, key, term]
        return poisha, f"Rent of locker {locker.number}, {TERM_LABELS[term]} {source}"


# The columns each table's rows above are written in.
COLUMNS = {
    "branch": ("id", "name", "code", "address", "phone", "timezone", "is_active", "created_at",
               "updated_at"),
    "floor": ("id", "branch_id", "name", "name_bn", "level", "created_at", "updated_at"),
    "zone": ("id", "branch_id", "floor_id", "name", "name_bn", "kind", "created_at", "updated_at"),
    "locker_category": ("id", "name", "name_bn", "created_at", "updated_at"),
    "tag": ("id", "name", "name_bn", "created_at", "updated_at"),
    "price_rule": ("id", "branch_id", "category_id", "zone_kind", "term", "price_poisha",
                   "effective_from", "effective_to", "created_at", "updated_at"),
    "discount_rule": ("id", "name", "kind", "term", "tag_id", "percent_bp", "position", "stackable",
                      "active", "created_at", "updated_at"),
    "locker": ("id", "branch_id", "zone_id", "category_id", "number", "size", "status", "notes",
               "needs_rekey", "created_at", "updated_at"),
    "key": ("id", "locker_id", "tag", "is_spare", "state", "notes", "created_at", "updated_at"),
}
