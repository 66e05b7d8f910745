"""The chain's clients: who registers when, where, with what details, and who rents next.

Client ids follow registration, so the clients registered by a moment are the
ones already written, and each branch's pools of them (ids in arrays, a few
bytes each) are all the history needs to pick a renter of the right branch and
zone. Details are written once and never kept, except the name: the activity
log quotes it for years.
"""

from array import array
from datetime import timedelta

from bench.chain_data.common import OPEN_SECONDS
from bench.chain_data.common import Weighted
from bench.chain_data.common import changes
from bench.chain_data.common import local_day
from bench.chain_data.common import opening
from bench.chain_data.names import BAN_REASONS
from bench.chain_data.names import BRANCHES
from bench.chain_data.names import EMAIL_DOMAINS
from bench.chain_data.names import FEMALE
from bench.chain_data.names import FEMALE_BN
from bench.chain_data.names import FEMALE_PREFIX
from bench.chain_data.names import MALE
from bench.chain_data.names import MALE_BN
from bench.chain_data.names import MALE_PREFIX
from bench.chain_data.names import MALE_PREFIX_BN
from bench.chain_data.names import ROADS
from bench.chain_data.names import SURNAMES
from bench.chain_data.names import SURNAMES_BN

# Clients 1..5 come to the desk for ten years: (branch index, gender) of each. They are
# picked for a share of their branch's new rentals on top of chance, so each has
# 1,000+ rentals at full scale (about 5 a week over ten years, renewals included).
HEAVY = [(0, "MALE"), (1, "FEMALE"), (2, "MALE"), (3, "FEMALE"), (4, "MALE")]
HEAVY_SHARE = 0.04
# The chain's first members register in the FOUNDING_DAYS before the doors open.
FOUNDERS_SHARE, FOUNDING_DAYS = 0.05, 90

GENDERS = Weighted({"MALE": 58, "FEMALE": 40, "OTHER": 1, None: 1})
STATUSES = Weighted({"ACTIVE": 955, "INACTIVE": 40, "BANNED": 5})
BENGALI_SCRIPT_SHARE, EMAIL_SHARE, NID_SHARE, OLD_NID_SHARE = 0.15, 0.45, 0.40, 0.10
TAG_SHARE = 0.08

# Pools of renters per zone kind: a men's zone takes men, a women's zone women, the rest anyone.
MEN, WOMEN, ANYONE = 0, 1, 2
POOL_OF_KIND = {"MEN": MEN, "WOMEN": WOMEN, "FAMILY": ANYONE, "VIP": ANYONE, "STAFF": ANYONE}

# Unique numbers without a set of those taken: i ↦ (A·i + B) mod M is one-to-one on
# 0..M-1 when A and M are coprime. Mobile numbers are 01[3-9] + 8 digits: 7·10⁸ of them.
PHONES, PHONE_A, PHONE_B = 7 * 10**8, 3**18, 123_456_789
NIDS, NID_A, NID_B = 9 * 10**9, 7**11, 987_654_321           # 10-digit smart-card NIDs
OLD_NIDS, OLD_NID_A, OLD_NID_B = 10**13, 3**25, 4_242_424_242  # 17-digit: birth year + 13


def phone_of(client_id):
    """Client `client_id`'s mobile number as stored (+8801XXXXXXXXX); never another's."""
    n = (PHONE_A * client_id + PHONE_B) % PHONES
    return f"+8801{3 + n // 10**8}{n % 10**8:08d}"


class Clients:
    """Registers clients as the clock reaches them; picks renters from those registered."""

    def __init__(self, rng, writer, total, branch_ids, tag_ids, start, now, search_keys):
        self.rng, self.w, self.total = rng, writer, total
        self.branch_ids, self.tag_ids, self.search_keys = branch_ids, tag_ids, search_keys
        self.founders = min(total, max(len(HEAVY) + 2 * len(BRANCHES), round(total * FOUNDERS_SHARE)))
        # Registrations fall in the desks' hours: positions count open seconds from `origin`.
        first = local_day(start) - timedelta(days=FOUNDING_DAYS)
        self.origin = opening(first)
        self.founding_span = FOUNDING_DAYS * OPEN_SECONDS
        self.span = (local_day(now) - first).days * OPEN_SECONDS + 10 * 3600  # to 17:00, last day
        self.names = [""] * (total + 1)
        self.status = bytearray(total + 1)
        self.pools = [(array("i"), array("i"), array("i")) for _ in BRANCHES]
        self.next_id = 1
        self.next_at = self._registered_at(1)

    def _registered_at(self, client_id):
        """When client `client_id` registers; later ids later, always while a desk is open."""
        if client_id > self.total:
            return None
        jitter = self.rng.random()
        if client_id <= self.founders:
            position = (client_id - 1 + jitter) * self.founding_span / self.founders
        else:
            rest = (self.span - self.founding_span) / max(1, self.total - self.founders)
            position = self.founding_span + (client_id - self.founders - 1 + jitter) * rest
        day, within = divmod(int(position), OPEN_SECONDS)
        return self.origin + timedelta(days=day, seconds=within)

    def register_until(self, moment, sink):
        """Write every client registered by `moment`; yields (at, branch index, id, summary, changes)."""
        while self.next_at is not None and self.next_at <= moment:
            yield self._register(self.next_id, self.next_at, sink)
            self.next_id += 1
            self.next_at = self._registered_at(self.next_id)

    def _branch_and_gender(self, client_id):
        if client_id <= len(HEAVY):
            return HEAVY[client_id - 1]
        founder = client_id - len(HEAVY) - 1
        if founder < 2 * len(BRANCHES):  # every branch opens with a man and a woman registered
            return founder // 2, ("MALE", "FEMALE")[founder % 2]
        return (self.rng.randrange(len(BRANCHES)),
                GENDERS.draw(self.rng))

    def _name(self, gender):
        """(full name, Latin first name, Latin surname, Bengali script?)."""
        rng = self.rng
        female = gender == "FEMALE"
        if rng.random() < BENGALI_SCRIPT_SHARE:
            first, first_latin = rng.choice(FEMALE_BN if female else MALE_BN)
            last, last_latin = rng.choice(SURNAMES_BN)
            prefix = MALE_PREFIX_BN + " " if not female and rng.random() < 0.25 else ""
            return f"{prefix}{first} {last}", first_latin, last_latin, True
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(SURNAMES)
        middle = rng.choice(SURNAMES) + " " if rng.random() < 0.15 else ""
        prefix = ""
        if rng.random() < (0.10 if female else 0.25):
            prefix = (FEMALE_PREFIX if female else MALE_PREFIX) + " "
        return f"{prefix}{first} {middle}{last}", first, last, False

    def _register(self, client_id, at, sink):
        rng, w = self.rng, self.w
        branch, gender = self._branch_and_gender(client_id)
        heavy = client_id <= len(HEAVY)
        name, first, last, bengali = self._name(gender)
        phone = phone_of(client_id)
        email = None
        if heavy or rng.random() < EMAIL_SHARE:
            email = f"{first}.{last}{client_id}@{rng.choice(EMAIL_DOMAINS)}".lower()
        born = (at - timedelta(days=rng.randrange(18 * 365, 60 * 365))).date()
        nid = None
        if rng.random() < NID_SHARE:
            if rng.random() < OLD_NID_SHARE:
                nid = f"{born.year}{(OLD_NID_A * client_id + OLD_NID_B) % OLD_NIDS:013d}"
            else:
                nid = str(10**9 + (NID_A * client_id + NID_B) % NIDS)
        area, _code, city = BRANCHES[branch]
        address = (f"House {rng.randrange(1, 120)}, {rng.choice(ROADS)} {rng.randrange(1, 30)}, "
                   f"{area}, {city}") if rng.random() < 0.8 else None
        contact = contact_phone = None
        if rng.random() < 0.3:
            contact = f"{rng.choice(MALE + FEMALE)} {last}"
            contact_phone = phone_of(rng.randrange(10**6, PHONES))
        status = "ACTIVE" if heavy else STATUSES.draw(rng)
        language = "BENGALI" if bengali or rng.random() < 0.6 else "ENGLISH"
        stamp = w.stamp(at)
        sink.add("client", (
            client_id, self.branch_ids[branch], name, phone, email, nid, address, gender,
            w.day(born if rng.random() < 0.85 else None), contact, contact_phone, language,
            bool(email) and rng.random() < 0.9, rng.random() < 0.92, rng.random() < 0.3, status,
            rng.choice(BAN_REASONS) if status == "BANNED" else None, stamp, stamp, stamp))
        for key in self.search_keys(name, phone, email, nid):
            sink.add("client_search_key", (key, client_id))
        if rng.random() < TAG_SHARE:
            sink.add("client_tag", (client_id, rng.choice(self.tag_ids)))

        self.names[client_id] = name
        self.status[client_id] = STATUSES.names.index(status)
        pools = self.pools[branch]
        if gender == "MALE":
            pools[MEN].append(client_id)
        elif gender == "FEMALE":
            pools[WOMEN].append(client_id)
        pools[ANYONE].append(client_id)
        return (at, branch, client_id, f"{name} ({phone})",
                changes({"branch_id": self.branch_ids[branch], "email": email, "full_name": name,
                         "phone": phone, "registered_at": at.isoformat(),
                         "status": status.lower()}))

    def pick(self, branch, kind, *, active=False):
        """A client of `branch` registered by now who may use a zone of `kind` (ACTIVE if `active`)."""
        rng = self.rng
        pool_kind = POOL_OF_KIND[kind]
        if branch < len(HEAVY) and rng.random() < HEAVY_SHARE:
            heavy_gender = HEAVY[branch][1]
            if pool_kind == ANYONE or (pool_kind == MEN) == (heavy_gender == "MALE"):
                return branch + 1
        pool = self.pools[branch][pool_kind]
        for _ in range(20):
            client_id = pool[int(rng.random() * len(pool))]
            if not active or self.status[client_id] == 0:
                return client_id
        return client_id


# The columns each table's rows above are written in.
COLUMNS = {
    "client": ("id", "branch_id", "full_name", "phone", "email", "nid", "address", "gender",
               "date_of_birth", "emergency_contact_name", "emergency_contact_phone",
               "preferred_language", "opt_in_email", "opt_in_sms", "opt_in_whatsapp", "status",
               "ban_reason", "registered_at", "created_at", "updated_at"),
    "client_search_key": ("key", "client_id"),
    "client_tag": ("client_id", "tag_id"),
}
