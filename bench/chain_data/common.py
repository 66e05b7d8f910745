"""What the parts of the generator share: the seed, the clock of the branches, id counters."""

import json
from bisect import bisect_right
from datetime import datetime
from datetime import timedelta
from itertools import accumulate
from itertools import count

SEED = 20261203
YEARS = 10

# Asia/Dhaka has kept UTC+6 without daylight saving since 2009, so over these ten years a
# fixed offset is the branches' clock (zoneinfo per timestamp would cost minutes here).
DHAKA = timedelta(hours=6)
OPENS, CLOSES = 7, 22  # the desks' hours, local
OPEN_SECONDS = (CLOSES - OPENS) * 3600
# The history ends at 18:00 at the branches, while the desks are open, so the last hours
# (a locker being cleaned, a reservation just made) fall in working time.
ANCHOR_HOUR_UTC = 12


def anchor_of(moment):
    """The end of the history for a build at `moment` (naive UTC): the last 12:00 UTC before it.

    The same for every build in one 24-hour window, so two builds that day make the same rows.
    """
    anchor = moment.replace(hour=ANCHOR_HOUR_UTC, minute=0, second=0, microsecond=0)
    return anchor if anchor <= moment else anchor - timedelta(days=1)


def local_day(moment):
    """The branches' calendar day at `moment` (naive UTC)."""
    return (moment + DHAKA).date()


def opening(day):
    """The UTC moment the desks open on local `day`."""
    return datetime(day.year, day.month, day.day, OPENS) - DHAKA


def open_at(rng, moment):
    """`moment`, or a while after the desks open next if they are closed then."""
    hour = (moment + DHAKA).hour
    if OPENS <= hour < CLOSES:
        return moment
    day = local_day(moment)
    if hour >= CLOSES:
        day += timedelta(days=1)
    return opening(day) + timedelta(seconds=rng.randrange(90 * 60))


def seconds(rng, low, high):
    """A random while from `low` to `high` (timedeltas), to the second."""
    low = low.total_seconds()
    return timedelta(seconds=int(low + (high.total_seconds() - low) * rng.random()))


def plain(moment):
    """A datetime as the activity log's JSON writes it (app.services.audit._plain)."""
    return None if moment is None else moment.isoformat()


# json.dumps with options builds an encoder per call; millions of entries share this one.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def changes(values):
    """JSON text of an activity entry's changes, as app.models.base.JSONText stores it."""
    return _JSON.encode(values)


def percent_of(amount_poisha, percent_bp):
    """app.services.pricing.percent_of for non-negative amounts: half up, in integers."""
    return (amount_poisha * percent_bp + 5000) // 10000


class Weighted:
    """Draws one of `weights`' keys in proportion to its weight (random.choices, for one)."""

    def __init__(self, weights):
        self.names = list(weights)
        self.bounds = list(accumulate(weights.values()))
        self.total = self.bounds[-1]

    def draw(self, rng):
        """One name."""
        return self.names[bisect_right(self.bounds, rng.random() * self.total)]


class Ids:
    """The next id of each table, continuing after the rows already there."""

    def __init__(self, last):
        self.counters = {table: count(n + 1) for table, n in last.items()}

    def next(self, table):
        """A new id of `table`."""
        return next(self.counters[table])
