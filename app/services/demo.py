"""Demo data: a believable Dhaka gym with a year of locker rentals."""

import random
from datetime import timedelta

from flask_security import hash_password

from app.extensions import db
from app.extensions import security
from app.models import ActivityAction
from app.models import Branch
from app.models import Client
from app.models import ClientStatus
from app.models import Floor
from app.models import Gender
from app.models import Key
from app.models import KeyState
from app.models import Language
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import LockerStatus
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import Zone
from app.models import ZoneKind
from app.models import utcnow
from app.services import audit
from app.services import settings
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from app.services.access import ensure_default_roles

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

# Zone layout of the demo branch: (floor, zone name, kind, locker prefix, share of lockers).
LAYOUT = [
    ("Ground floor", "Men", ZoneKind.MEN, "M", 0.40),
    ("First floor", "Women", ZoneKind.WOMEN, "W", 0.33),
    ("Second floor", "Family", ZoneKind.FAMILY, "F", 0.17),
    ("Second floor", "VIP", ZoneKind.VIP, "V", 0.10),
]
TERM_TAKA = {RentalTerm.DAILY: 50, RentalTerm.WEEKLY: 250, RentalTerm.MONTHLY: 800,
             RentalTerm.QUARTERLY: 2200, RentalTerm.HALF_YEARLY: 4200, RentalTerm.YEARLY: 8000}
SIZE_FACTOR = {LockerSize.SMALL: 0.8, LockerSize.MEDIUM: 1.0, LockerSize.LARGE: 1.3}


def demo_price_poisha(term, size, zone_kind):
    """Demo list price of a term in poisha (VIP lockers cost half as much again)."""
    taka = TERM_TAKA[term] * SIZE_FACTOR[size] * (1.5 if zone_kind is ZoneKind.VIP else 1)
    return int(round(taka)) * 100


def _staff(branch):
    ensure_default_roles()
    settings.ensure_defaults()
    emails = []
    for email, name, role, limited in DEMO_STAFF:
        if security.datastore.find_user(email=email) is None:
            security.datastore.create_user(
                email=email, full_name=name, password=hash_password(DEMO_PASSWORD),
                roles=[role], locale="bn", branch=branch if limited else None,
            )
        emails.append(email)
    return emails


def _phones(rng, count):
    numbers = set()
    while len(numbers) < count:
        numbers.add(f"+880{rng.choice(MOBILE_PREFIXES)[1:]}{rng.randrange(10**8):08d}")
    return sorted(numbers, key=lambda _: rng.random())


def _branch_and_lockers(rng, total):
    branch = Branch(name="Dhanmondi Fitness", code="DHN", address="House 27, Road 7, Dhanmondi, Dhaka",
                    phone="+8801711000000", timezone="Asia/Dhaka")
    categories = [LockerCategory(name=name) for name in ("Standard", "Day-use", "Premium")]
    db.session.add_all([branch, *categories])
    floors = {}
    lockers = []
    for level, (floor_name, zone_name, kind, prefix, share) in enumerate(LAYOUT):
        floor = floors.get(floor_name)
        if floor is None:
            floor = floors[floor_name] = Floor(branch=branch, name=floor_name, level=len(floors))
        zone = Zone(floor=floor, name=zone_name, kind=kind)
        count = max(1, round(total * share)) if level < len(LAYOUT) - 1 else max(1, total - len(lockers))
        for n in range(1, count + 1):
            size = rng.choices(list(LockerSize), weights=[3, 5, 2])[0]
            category = categories[2] if kind is ZoneKind.VIP else rng.choices(categories[:2], [9, 1])[0]
            lockers.append(Locker(zone=zone, number=f"{prefix}-{n:03d}", size=size, category=category))
    db.session.add_all(lockers)
    db.session.flush()
    return branch, lockers


def _clients(rng, branch, count):
    clients = []
    for phone in _phones(rng, count):
        gender = rng.choices([Gender.MALE, Gender.FEMALE], weights=[6, 4])[0]
        first = rng.choice(MALE_NAMES if gender is Gender.MALE else FEMALE_NAMES)
        last = rng.choice(SURNAMES)
        registered = utcnow() - timedelta(days=rng.randrange(30, 900))
        clients.append(Client(
            branch=branch, full_name=f"{first} {last}", phone=phone, gender=gender,
            email=f"{first}.{last}{rng.randrange(100, 999)}@example.com".lower(),
            address=f"{rng.randrange(1, 120)}/{rng.choice('ABCD')}, {rng.choice(AREAS)}, Dhaka",
            date_of_birth=(registered - timedelta(days=rng.randrange(18 * 365, 60 * 365))).date(),
            preferred_language=rng.choices([Language.BENGALI, Language.ENGLISH], [7, 3])[0],
            registered_at=registered,
            status=rng.choices([ClientStatus.ACTIVE, ClientStatus.INACTIVE], [19, 1])[0],
        ))
    db.session.add_all(clients)
    db.session.flush()
    return clients


def _history(rng, lockers, clients, years):
    """Back-to-back rentals on each locker over `years`, with their payments."""
    now = utcnow()
    by_gender = {g: [c for c in clients if c.gender is g] for g in Gender}
    rentals, payments = [], []
    terms = [RentalTerm.DAILY, RentalTerm.WEEKLY, RentalTerm.MONTHLY, RentalTerm.QUARTERLY,
             RentalTerm.HALF_YEARLY, RentalTerm.YEARLY]
    for locker in lockers:
        kind = locker.zone.kind
        pool = (by_gender[Gender.MALE] if kind is ZoneKind.MEN
                else by_gender[Gender.FEMALE] if kind is ZoneKind.WOMEN else clients)
        cursor = now - timedelta(days=365 * years - rng.randrange(0, 40))
        current = None
        while cursor < now:
            term = rng.choices(terms, weights=[2, 3, 10, 4, 2, 1])[0]
            client = rng.choice(pool)
            ends = cursor + timedelta(days=term.days)
            rental = Rental(branch_id=locker.branch_id, locker=locker, client=client, term=term,
                            days=term.days, starts_at=cursor, ends_at=ends,
                            price_poisha=demo_price_poisha(term, locker.size, kind),
                            status=RentalStatus.RELEASED)
            rentals.append(rental)
            if rng.random() < 0.93:
                payments.append(Payment(
                    branch_id=locker.branch_id, client=client, rental=rental,
                    amount_poisha=rental.price_poisha, paid_at=cursor + timedelta(minutes=5),
                    method=rng.choices(list(PaymentMethod)[:3], weights=[6, 3, 1])[0],
                    status=PaymentStatus.PAID,
                ))
            current = rental
            cursor = ends + timedelta(days=rng.choice([0, 0, 1, 2, 5, 14]))
        if current is not None and current.ends_at > now:
            current.status = RentalStatus.ACTIVE
            current.holding_locker_id = locker.id
            locker.status = LockerStatus.ASSIGNED
        elif current is not None and now - current.ends_at < timedelta(days=5):
            current.status = RentalStatus.EXPIRED
            current.holding_locker_id = locker.id
            locker.status = LockerStatus.EXPIRED
        else:
            locker.status = rng.choices(
                [LockerStatus.AVAILABLE, LockerStatus.MAINTENANCE, LockerStatus.CLEANING,
                 LockerStatus.OUT_OF_SERVICE], weights=[40, 2, 2, 1])[0]
    db.session.add_all(rentals + payments)
    return rentals, payments


def _keys(rng, lockers):
    keys = []
    for locker in lockers:
        state = KeyState.WITH_CLIENT if locker.status is LockerStatus.ASSIGNED else KeyState.IN_OFFICE
        keys.append(Key(locker=locker, tag=f"K-{locker.number}", state=state))
        if rng.random() < 0.2:
            keys.append(Key(locker=locker, tag=f"K-{locker.number}-S", is_spare=True))
    db.session.add_all(keys)


def load_demo_data(*, lockers=300, clients=800, years=1, seed=2026):
    """Fill the database with one demo branch; returns counts for the CLI to print."""
    rng = random.Random(seed)
    summary = f"demo data: {lockers} lockers, {clients} clients, {years} year(s)"
    with audit.summarised(ActivityAction.CREATE, model="DemoData", summary=summary):
        branch, locker_rows = _branch_and_lockers(rng, lockers)
        client_rows = _clients(rng, branch, clients)
        rentals, payments = _history(rng, locker_rows, client_rows, years)
        _keys(rng, locker_rows)
        emails = _staff(branch)
        db.session.flush()
    db.session.commit()
    return {"lockers": len(locker_rows), "clients": len(client_rows), "rentals": len(rentals),
            "payments": len(payments), "password": DEMO_PASSWORD, "emails": ", ".join(emails)}
