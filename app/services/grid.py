"""The live locker grid (SPEC L4): tiles, filters, the side panel and the change feed.

A tile is a small dict that says everything the grid shows of one locker:
{"id", "n" (number), "s" (status name), "z" (zone id), "c" (client initials),
"r" (holding rental id), "m" (marks), "a" (menu actions this user may take)}.
It carries no HTML and no client name, so one changed tile stays far below
2 KB on the wire, and a screen across the room shows initials, not names.

Live updates: every desk action that changes what a tile or the side panel
shows (a rental, key, payment, deposit or status change of a locker, the
renting client's name) records a domain event naming the locker
(app.services.events). After the commit the grid hears the events, bumps a
per-branch version counter in Redis and records the touched locker ids with
that version in a per-branch sorted set. Open grids ask
`changes_since(branch, version)` twice a second and receive only the tiles
that changed, whichever app process made the change; a rolled-back action
announces nothing. Redis is optional: when it is down, publishing is skipped
with a warning, the events wait for the sweeper, and pages fall back to
re-reading the whole tile set from the database every few seconds.
"""

import logging
import time
import unicodedata
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask import has_app_context
from flask_babel import gettext as _
from redis.exceptions import RedisError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.extensions import rq
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerSize
from app.models import LockerStatus
from app.models import LockerStatusChange
from app.models import Rental
from app.models import RentalStatus
from app.models import Zone
from app.models import utcnow
from app.models.base import local_name
from app.services import billing
from app.services import clock
from app.services import events
from app.services import settings
from app.services.access import can
from app.services.lockers import allowed_targets

log = logging.getLogger(__name__)

# Rentals that may be renewed (and whose key is out with the client).
RUNNING = (RentalStatus.ACTIVE, RentalStatus.EXPIRED)

# Marks on a tile, besides its status.
SOON, OVERDUE, DUES, REKEY = "soon", "overdue", "dues", "rekey"

# Menu actions, in menu order, and the permission each needs. The target screens
# check the permission (and the rules) again on the server.
ASSIGN, RESERVE, RENEW, RELEASE, KEY, MAINTENANCE, CLEANING_DONE = (
    "assign", "reserve", "renew", "release", "key", "maintenance", "cleaning_done")
ACTIONS = (ASSIGN, RESERVE, RENEW, RELEASE, KEY, MAINTENANCE, CLEANING_DONE)
ACTION_PERMISSIONS = {
    ASSIGN: ("rentals", "create"),
    RESERVE: ("rentals", "create"),
    RENEW: ("rentals", "edit"),
    RELEASE: ("rentals", "edit"),
    KEY: ("keys", "edit"),
    MAINTENANCE: ("lockers", "edit"),
    CLEANING_DONE: ("lockers", "edit"),
}

# --- the change feed in Redis ----------------------------------------------------
KEY_PREFIX = "locker_grid"
# Lockers remembered per branch; a grid further behind than this re-reads everything.
HISTORY_SIZE = 2000
HISTORY_TTL_SECONDS = 24 * 3600
# More changed lockers than this in one poll: re-reading the whole grid is cheaper.
MAX_CHANGED = 300
# After Redis failed, this process leaves it alone for a moment instead of
# making every commit wait for a connection timeout.
RETRY_AFTER_SECONDS = 2.0

# KEYS: version counter, sorted set (locker id -> version of its last change), floor
# (grids that have seen less than this version must re-read everything).
# ARGV: history size, ttl, "1" to raise the floor to the new version, locker ids.
_PUBLISH_SCRIPT = """
local version = redis.call('INCR', KEYS[1])
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[2], version, ARGV[i])
end
local keep = tonumber(ARGV[1])
local count = redis.call('ZCARD', KEYS[2])
local floor = tonumber(redis.call('GET', KEYS[3]) or '0')
if count > keep then
  local cut = redis.call('ZRANGE', KEYS[2], count - keep - 1, count - keep - 1, 'WITHSCORES')
  local trimmed = tonumber(cut[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', trimmed)
  if trimmed > floor then floor = trimmed end
end
if ARGV[3] == '1' then floor = version end
redis.call('SET', KEYS[3], floor, 'EX', tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return version
"""


class FeedUnavailable(Exception):
    """Redis cannot be reached; the grid falls back to reading the database."""


@dataclass(frozen=True)
class Feed:
    """What changed in a branch after a version: the new version and the locker ids."""

    version: int
    locker_ids: tuple = ()
    reload: bool = False


# --- filters ------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    """Which lockers a grid shows: always one branch, optionally narrowed."""

    branch_id: int | None
    floor_id: int | None = None
    zone_id: int | None = None
    size: LockerSize | None = None
    status: LockerStatus | None = None

    def as_args(self):
        """The filters as query-string arguments (for links and the page's polling)."""
        args = {"branch": self.branch_id, "floor": self.floor_id, "zone": self.zone_id,
                "size": self.size.name if self.size else None,
                "status": self.status.name if self.status else None}
        return {name: value for name, value in args.items() if value is not None}


@dataclass
class FilterChoice:
    """The filters asked for, what the form offers, and what was wrong with the request."""

    filters: Filters
    branches: list = field(default_factory=list)
    floors: list = field(default_factory=list)   # [(floor id, name, [(zone id, name), …]), …]
    errors: dict = field(default_factory=dict)   # field name -> translated message


def _int_arg(args, name):
    raw = (args.get(name) or "").strip()
    if not raw:
        return None, False
    # Ids are 32-bit INTEGERs: PostgreSQL refuses to compare them with a larger number.
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**31 - 1:
        return None, True
    return int(raw), False


def _enum_arg(args, name, enum_cls):
    raw = (args.get(name) or "").strip()
    if not raw:
        return None, False
    try:
        return enum_cls[raw], False
    except KeyError:
        return None, True


def _read_filters(args, limited_branch_id):
    """Filters from the query string, and the names of the fields that could not be read.

    A user limited to a branch always gets that branch; a `branch` in the URL is ignored.
    """
    bad = set()
    values = {"branch": None}
    for name in ("floor", "zone") if limited_branch_id is not None else ("branch", "floor", "zone"):
        values[name], wrong = _int_arg(args, name)
        if wrong:
            bad.add(name)
    values["size"], wrong = _enum_arg(args, "size", LockerSize)
    if wrong:
        bad.add("size")
    values["status"], wrong = _enum_arg(args, "status", LockerStatus)
    if wrong:
        bad.add("status")
    branch_id = limited_branch_id if limited_branch_id is not None else values["branch"]
    filters = Filters(branch_id, values["floor"], values["zone"], values["size"], values["status"])
    return filters, bad


def _error_messages(bad):
    messages = {
        "branch": _("Choose a branch from the list."),
        "floor": _("Choose a floor of this branch."),
        "zone": _("Choose a zone of this branch."),
        "size": _("Choose a size from the list."),
        "status": _("Choose a status from the list."),
    }
    return {name: messages[name] for name in sorted(bad)}


def _default_branch_id():
    return db.session.execute(
        sa.select(Branch.id).where(Branch.is_active.is_(True)).order_by(Branch.name).limit(1)
    ).scalar()


def quick_filters(args, *, limited_branch_id):
    """(Filters, errors) for the JSON endpoints polled by the page: no lookups unless needed.

    A floor or zone of another branch needs no check here: every tile query is
    limited to the branch (the user's own, when they have one), so it simply
    matches nothing.
    """
    filters, bad = _read_filters(args, limited_branch_id)
    if filters.branch_id is None and "branch" not in bad:
        filters = Filters(_default_branch_id(), filters.floor_id, filters.zone_id, filters.size,
                          filters.status)
    return filters, _error_messages(bad)


def choose_filters(args, *, limited_branch_id):
    """Filters for the grid page, checked against what the branch really has.

    A value that is not one of the choices is dropped and reported, and the
    grid shows what the other filters ask for.
    """
    filters, bad = _read_filters(args, limited_branch_id)
    if limited_branch_id is not None:
        branches = db.session.execute(
            sa.select(Branch.id, Branch.name).where(Branch.id == limited_branch_id)).all()
    else:
        branches = db.session.execute(
            sa.select(Branch.id, Branch.name).where(Branch.is_active.is_(True))
            .order_by(Branch.name)).all()
        if filters.branch_id is not None and filters.branch_id not in {b.id for b in branches}:
            bad.add("branch")
    branch_id = filters.branch_id if "branch" not in bad else None
    if branch_id is None and branches:
        branch_id = branches[0].id
    floors = filter_options(branch_id) if branch_id is not None else []
    floor_ids = {floor_id for floor_id, _name, _zones in floors}
    zone_ids = {zone_id for _f, _n, zones in floors for zone_id, _z in zones}
    floor_id = filters.floor_id if filters.floor_id in floor_ids else None
    zone_id = filters.zone_id if filters.zone_id in zone_ids else None
    if filters.floor_id is not None and floor_id is None:
        bad.add("floor")
    if filters.zone_id is not None and zone_id is None:
        bad.add("zone")
    chosen = Filters(branch_id, floor_id, zone_id, filters.size, filters.status)
    return FilterChoice(chosen, list(branches), floors, _error_messages(bad))


def filter_options(branch_id):
    """Floors of a branch with their zones, in building order: [(id, name, [(id, name)])]."""
    rows = db.session.execute(
        sa.select(Floor.id, Floor.name, Floor.name_bn, Zone.id.label("zone_id"),
                  Zone.name.label("zone_name"), Zone.name_bn.label("zone_name_bn"))
        .join(Zone, Zone.floor_id == Floor.id)
        .where(Floor.branch_id == branch_id)
        .order_by(Floor.level, Floor.name, Floor.id, Zone.name, Zone.id)).all()
    floors = []
    for row in rows:
        if not floors or floors[-1][0] != row.id:
            floors.append((row.id, local_name(row.name, row.name_bn), []))
        floors[-1][2].append((row.zone_id, local_name(row.zone_name, row.zone_name_bn)))
    return floors


def _conditions(filters):
    conditions = [Locker.branch_id == filters.branch_id]
    if filters.floor_id is not None:
        conditions.append(Zone.floor_id == filters.floor_id)
    if filters.zone_id is not None:
        conditions.append(Locker.zone_id == filters.zone_id)
    if filters.size is not None:
        conditions.append(Locker.size == filters.size)
    if filters.status is not None:
        conditions.append(Locker.status == filters.status)
    return conditions


# --- tiles ----------------------------------------------------------------------------

def abilities_of(user):
    """The permissions behind the grid's menu that `user` has, as "module-action" strings."""
    return frozenset(f"{module}-{action}" for module, action in set(ACTION_PERMISSIONS.values())
                     if can(user, module, action))


# Zero-width joiner and non-joiner: they shape a conjunct (র‍্য) and belong to it.
_JOINERS = ("\u200c", "\u200d")


def first_letter(word):
    """The first written letter of `word`, whole: "শ্রীমতী" -> "শ্রী", "ক্ষমা" -> "ক্ষ", "Émile" -> "É".

    A letter is a base character with its combining marks (vowel signs,
    chandrabindu, accents) and, in Bengali and the other Indic scripts, every
    consonant joined to it by a virama (্): the conjunct a reader sees as one
    letter. Python has no grapheme clusters, and Unicode before 15.1 ends a
    cluster at the virama anyway, so the rule is written out here.
    """
    letter = word[:1]
    for char in word[1:]:
        after_virama = unicodedata.combining(letter[-1]) == 9 or (
            letter[-1] in _JOINERS and unicodedata.combining(letter[-2]) == 9)
        if (unicodedata.category(char).startswith("M") or char in _JOINERS
                or (after_virama and unicodedata.category(char) == "Lo")):
            letter += char
        else:
            break
    return letter


def initials(full_name):
    """"Karim Uddin" -> "KU", "শ্রী ঋত্বিক" -> "শ্রীঋ": first and last word, each letter whole."""
    words = (full_name or "").split()
    if not words:
        return ""
    chosen = (words[0], words[-1]) if len(words) > 1 else (words[0],)
    return "".join(first_letter(word).upper() for word in chosen)


def actions_for(status, rental_status, *, needs_rekey, key_out, abilities):
    """Menu actions for a locker in `status` (held by a rental in `rental_status`, or None)."""
    rentable = not needs_rekey
    wanted = {
        ASSIGN: rentable and status in (LockerStatus.AVAILABLE, LockerStatus.RESERVED),
        RESERVE: rentable and status is LockerStatus.AVAILABLE,
        RENEW: rental_status in RUNNING,
        RELEASE: rental_status is not None,
        KEY: rental_status in RUNNING or key_out or needs_rekey,
        MAINTENANCE: LockerStatus.MAINTENANCE in allowed_targets(status),
        CLEANING_DONE: status is LockerStatus.CLEANING,
    }
    return [action for action in ACTIONS
            if wanted[action] and "-".join(ACTION_PERMISSIONS[action]) in abilities]


def marks_for(rental_status, ends_at, reserved_until, owed_poisha, *, needs_rekey, now,
              soon_until):
    """Marks of a tile: expiring soon, overdue (past its end, still held), dues, needs re-key.

    The first four describe the rental holding the locker (`owed_poisha`: what its
    client owes on this locker, billing's one definition); `rental_status` is None
    when nobody holds it.
    """
    marks = []
    if rental_status is RentalStatus.RESERVED:
        if reserved_until is not None and reserved_until < now:
            marks.append(OVERDUE)
    elif rental_status is not None:
        if ends_at < now:
            marks.append(OVERDUE)
        elif ends_at <= soon_until:
            marks.append(SOON)
        if owed_poisha > 0:
            marks.append(DUES)
    if needs_rekey:
        marks.append(REKEY)
    return marks


def _owed_poisha():
    """What the client holding the locker owes on it, in the enclosing query (Locker, Rental)."""
    return billing.owed_on_locker_sql(Locker.id, Rental.client_id)


def _soon_until(now):
    """The end of the gym's day N days from today: "expiring soon" counts days as the home card
    and the rentals list do (branch days, not 24-hour periods from now)."""
    last_day = clock.to_local(now).date() + timedelta(days=int(settings.get("expiring_soon_days")))
    return clock.day_start_utc(last_day + timedelta(days=1))


def tiles(filters, *, abilities, locker_ids=None):
    """(groups, tiles) of the lockers matching `filters` (and `locker_ids` when given).

    Two statements whatever the number of lockers: the expiring-soon setting, and
    one query for the lockers with their zone and floor, the rental holding each
    (client name, what they owe on it) and whether a key of it is out with a client.
    Groups are the zones in building order: {"f", "fn", "z", "zn"}.
    """
    if filters.branch_id is None:
        return [], []
    conditions = _conditions(filters)
    if locker_ids is not None:
        conditions.append(Locker.id.in_(list(locker_ids)))
    key_out = (sa.exists().where(Key.locker_id == Locker.id, Key.state == KeyState.WITH_CLIENT)
               .correlate(Locker))
    now = utcnow()
    soon_until = _soon_until(now)
    # Read row by row (Core, not buffered): a row is dropped as soon as its tile is
    # made, so two thousand rows never pile up for Python's garbage collector.
    rows = db.session.connection().execute(
        sa.select(Locker.id, Locker.number, Locker.status, Locker.needs_rekey, Locker.zone_id,
                  Zone.name.label("zone_name"), Zone.name_bn.label("zone_name_bn"),
                  Floor.id.label("floor_id"), Floor.name.label("floor_name"),
                  Floor.name_bn.label("floor_name_bn"), Rental.id.label("rental_id"),
                  Rental.status.label("rental_status"), Rental.ends_at, Rental.reserved_until,
                  _owed_poisha().label("owed_poisha"), Client.full_name,
                  key_out.label("key_out"))
        .join(Zone, Locker.zone_id == Zone.id).join(Floor, Zone.floor_id == Floor.id)
        .outerjoin(Rental, Rental.holding_locker_id == Locker.id)
        .outerjoin(Client, Client.id == Rental.client_id)
        .where(*conditions)
        .order_by(Floor.level, Floor.name, Floor.id, Zone.name, Zone.id, Locker.number, Locker.id))
    # Menus and marks come in few combinations: each is made once and shared by its tiles.
    menus, shared_marks, names = {}, {}, {}
    groups, result = [], []
    for row in rows:
        if not groups or groups[-1]["z"] != row.zone_id:
            groups.append({"f": row.floor_id, "fn": local_name(row.floor_name, row.floor_name_bn),
                           "z": row.zone_id, "zn": local_name(row.zone_name, row.zone_name_bn)})
        tile = {"id": row.id, "n": row.number, "s": row.status.name, "z": row.zone_id}
        if row.rental_id is not None:
            tile["r"] = row.rental_id
            name = names.get(row.full_name)
            if name is None:
                name = names[row.full_name] = initials(row.full_name)
            if name:
                tile["c"] = name
        marks = marks_for(row.rental_status, row.ends_at, row.reserved_until,
                          row.owed_poisha or 0, needs_rekey=row.needs_rekey, now=now,
                          soon_until=soon_until)
        if marks:
            tile["m"] = shared_marks.setdefault(tuple(marks), marks)
        facts = (row.status, row.rental_status, row.needs_rekey, bool(row.key_out))
        actions = menus.get(facts)
        if actions is None:
            actions = menus[facts] = actions_for(row.status, row.rental_status,
                                                 needs_rekey=row.needs_rekey,
                                                 key_out=facts[3], abilities=abilities)
        if actions:
            tile["a"] = actions
        result.append(tile)
    return groups, result


# --- the side panel ---------------------------------------------------------------------

@dataclass
class Panel:
    """Everything the side panel shows about one locker."""

    locker: Locker
    tile: dict
    rental: Rental | None
    dues_poisha: int  # what the holder owes on this locker (billing's one definition)
    keys: list
    history: list

    @property
    def client(self):
        """The client holding the locker, or None."""
        return self.rental.client if self.rental is not None else None


def panel(locker_id, *, branch_id=None, abilities=frozenset()):
    """The side panel of a locker, or None if it does not exist (or is of another branch).

    `branch_id` limits the lookup to one branch (a user limited to a branch).
    """
    query = (sa.select(Locker).options(joinedload(Locker.zone).joinedload(Zone.floor))
             .where(Locker.id == locker_id))
    if branch_id is not None:
        query = query.where(Locker.branch_id == branch_id)
    locker = db.session.execute(query).scalar_one_or_none()
    if locker is None:
        return None
    found = db.session.execute(
        sa.select(Rental, billing.owed_on_locker_sql(Rental.locker_id, Rental.client_id))
        .options(joinedload(Rental.client))
        .where(Rental.holding_locker_id == locker.id)).first()
    rental, owed = (found[0], max(0, int(found[1] or 0))) if found is not None else (None, 0)
    keys = db.session.execute(
        sa.select(Key).where(Key.locker_id == locker.id).order_by(Key.is_spare, Key.tag)
    ).scalars().all()
    history = db.session.execute(
        sa.select(LockerStatusChange).options(joinedload(LockerStatusChange.changed_by))
        .where(LockerStatusChange.locker_id == locker.id)
        .order_by(LockerStatusChange.changed_at.desc(), LockerStatusChange.id.desc()).limit(10)
    ).scalars().all()
    now = utcnow()
    held = (rental.status, rental.ends_at, rental.reserved_until, owed) \
        if rental is not None else (None, None, None, 0)
    key_out = any(key.state is KeyState.WITH_CLIENT for key in keys)
    tile = {"id": locker.id, "n": locker.number, "s": locker.status.name, "z": locker.zone_id,
            "m": marks_for(*held, needs_rekey=locker.needs_rekey, now=now,
                           soon_until=_soon_until(now)),
            "a": actions_for(locker.status, rental.status if rental is not None else None,
                             needs_rekey=locker.needs_rekey, key_out=key_out,
                             abilities=abilities)}
    if rental is not None:
        tile["r"] = rental.id
    return Panel(locker, tile, rental, owed, keys, history)


# --- the change feed ----------------------------------------------------------------------

def _warn(message, *args):
    """Log on the app's logger when there is an app (Flask's convention), else on ours."""
    (current_app.logger if has_app_context() else log).warning(message, *args)


def _feed_keys(branch_id):
    prefix = f"{KEY_PREFIX}:{branch_id}"
    return f"{prefix}:version", f"{prefix}:changed", f"{prefix}:floor"


def _state():
    """This process's view of Redis for the current app (breaker and unsent resets)."""
    return current_app.extensions.setdefault(
        "locker_grid", {"down_until": 0.0, "lost_branches": set()})


def _redis():
    state = _state()
    if time.monotonic() < state["down_until"]:
        raise FeedUnavailable("redis was down a moment ago")
    return rq.connection


def _redis_failed(exc):
    _state()["down_until"] = time.monotonic() + RETRY_AFTER_SECONDS
    return FeedUnavailable(str(exc))


def _run_publish(connection, branch_id, locker_ids, *, reset):
    script = connection.register_script(_PUBLISH_SCRIPT)
    return script(keys=list(_feed_keys(branch_id)),
                  args=[HISTORY_SIZE, HISTORY_TTL_SECONDS, "1" if reset else "0",
                        *sorted(locker_ids)])


def _send_resets(connection):
    """Make grids of branches whose changes this process failed to publish re-read everything."""
    lost = _state()["lost_branches"]
    while lost:
        branch_id = next(iter(lost))
        _run_publish(connection, branch_id, (), reset=True)
        lost.discard(branch_id)


def publish(touched):
    """Announce changed lockers, {branch_id: {locker ids}}, to every open grid; False if not.

    Never raises: without Redis the change is saved all the same, a warning is
    logged, and the branches are remembered so that their grids re-read
    everything once Redis answers again.
    """
    touched = {branch_id: ids for branch_id, ids in touched.items() if branch_id is not None}
    if not touched:
        return True
    state = _state()
    try:
        connection = _redis()
        _send_resets(connection)
        for branch_id, locker_ids in touched.items():
            _run_publish(connection, branch_id, locker_ids, reset=False)
        return True
    except (RedisError, OSError, FeedUnavailable) as exc:
        if not isinstance(exc, FeedUnavailable):
            _redis_failed(exc)
        state["lost_branches"].update(touched)
        _warn("Locker grid: changes of lockers %s not announced, Redis is unavailable (%s). "
              "Open grids re-read the database instead.",
              sorted(i for ids in touched.values() for i in ids)[:20], exc)
        return False


def current_version(branch_id):
    """The branch's feed version, or None when Redis is unavailable."""
    try:
        connection = _redis()
        _send_resets(connection)
        return int(connection.get(_feed_keys(branch_id)[0]) or 0)
    except FeedUnavailable:
        return None
    except (RedisError, OSError) as exc:
        _redis_failed(exc)
        _warn("Locker grid: Redis is unavailable (%s); the grid reads the database.", exc)
        return None


def changes_since(branch_id, since):
    """Lockers of the branch changed after version `since`.

    `reload` is set when the grid is too far behind (older than the kept
    history, or from before Redis lost its data): it must re-read everything.
    Raises FeedUnavailable when Redis cannot be reached.
    """
    try:
        connection = _redis()
        _send_resets(connection)
        version_key, changed_key, floor_key = _feed_keys(branch_id)
        with connection.pipeline(transaction=True) as pipe:
            pipe.get(version_key)
            pipe.get(floor_key)
            pipe.zrangebyscore(changed_key, f"({int(since)}", "+inf")
            version, floor, ids = pipe.execute()
    except FeedUnavailable:
        raise
    except (RedisError, OSError) as exc:
        raise _redis_failed(exc) from exc
    version, floor = int(version or 0), int(floor or 0)
    if since > version or since < floor or len(ids) > MAX_CHANGED:
        return Feed(version, (), reload=True)
    return Feed(version, tuple(sorted(int(locker_id) for locker_id in ids)))


# --- hearing about changed lockers ------------------------------------------------------------

def on_events(batch):
    """Subscriber of the domain events: announce the lockers they name to every open grid.

    Every desk action that changes what a tile or the side panel shows records an
    event naming the locker (a client's new name names the lockers they hold, in
    `data["locker_ids"]`). Returns False when Redis could not take them, so the
    events are handed out again by the sweeper.
    """
    touched = {}
    for event in batch:
        if event.branch_id is None:
            continue
        ids = touched.setdefault(event.branch_id, set())
        if event.locker_id is not None:
            ids.add(event.locker_id)
        ids.update(event.data.get("locker_ids", ()))
    touched = {branch_id: ids for branch_id, ids in touched.items() if ids}
    if not touched:
        return True
    return publish(touched)


def install_listeners():
    """Hear the domain events (app.services.events); safe to call again."""
    events.subscribe(on_events)
