"""Figures read over a chain's whole history, kept in Redis and refreshed in the background.

Utilisation, the clients at risk, the expected revenue, renewal rates and
tenures read every rental of a period (seconds for a manager of 20 branches);
the dashboard cannot wait for them on each view. Each such figure is
registered here (`@figure`), and the dashboard reads it with `read()`:

* the value kept for the branch (or the whole chain) and the day is returned
  at once, with the moment it was counted, which the widget shows;
* when the desk changed since (a domain event of that branch: every desk
  action records one, app.services.events) or it is older than FRESH_FOR, a
  worker is asked to count it again (one job per figure at a time), and the
  next view has it;
* the first view of a day counts it in the request; without Redis every view
  does, as before, and nothing is wrong, only slower.

So a figure is never older than the last desk action by more than the time a
worker takes to count it, and never older than FRESH_FOR.
"""

import logging
import pickle
from datetime import timedelta

from redis.exceptions import RedisError

from app.extensions import rq
from app.models import utcnow
from app.services import clock
from app.services import events

log = logging.getLogger(__name__)

KEY = "locker-desk:figures"
FRESH_FOR = timedelta(minutes=10)
KEEP_FOR = timedelta(days=2)
REFRESH_LOCK = timedelta(minutes=5)

_figures = {}


def figure(name):
    """Register `function(branch_id, **args)` as the kept figure `name`."""
    def register(function):
        _figures[name] = function
        return function
    return register


def _scope(branch_id):
    return "all" if branch_id is None else str(int(branch_id))


def _version_key(branch_id):
    return f"{KEY}:version:{_scope(branch_id)}"


def _value_key(name, branch_id, args):
    today = clock.branch_today(branch_id) if branch_id is not None else clock.today()
    described = ",".join(f"{key}={args[key]}" for key in sorted(args))
    return f"{KEY}:{name}:{_scope(branch_id)}:{today.isoformat()}:{described}"


def read(name, branch_id=None, **args):
    """(value, counted at (naive UTC) or None) of figure `name` for the branch (None: all)."""
    compute = _figures[name]
    try:
        connection = rq.connection
        version = connection.get(_version_key(branch_id))
        stored = connection.get(_value_key(name, branch_id, args))
    except RedisError as exc:
        log.warning("Figures are counted in the request: Redis is not reachable (%s)", exc)
        return compute(branch_id, **args), None
    kept = _unpickled(stored)
    if kept is not None:
        if kept["version"] != version or utcnow() - kept["at"] > FRESH_FOR:
            _refresh_later(name, branch_id, args)
        return kept["value"], kept["at"]
    return _count(name, branch_id, args, version), utcnow()


def _unpickled(stored):
    """The kept entry, or None when there is none or an older release of the app wrote it in a
    shape this one cannot read (it is then counted again)."""
    if stored is None:
        return None
    try:
        return pickle.loads(stored)  # written by this app only, into its own Redis
    except Exception as exc:
        log.warning("A kept figure could not be read (%s); counting it again", exc)
        return None


def _count(name, branch_id, args, version):
    value = _figures[name](branch_id, **args)
    try:
        rq.connection.set(_value_key(name, branch_id, args),
                          pickle.dumps({"value": value, "at": utcnow(), "version": version}),
                          ex=int(KEEP_FOR.total_seconds()))
    except RedisError as exc:
        log.warning("Could not keep figure %s: %s", name, exc)
    return value


def _refresh_later(name, branch_id, args):
    lock = f"{KEY}:refreshing:{name}:{_scope(branch_id)}:{sorted(args.items())}"
    try:
        if rq.connection.set(lock, 1, nx=True, ex=int(REFRESH_LOCK.total_seconds())):
            from jobs.maintenance import refresh_figure

            rq.enqueue(refresh_figure, name, branch_id, args, queue="default")
    except RedisError as exc:
        log.warning("Could not ask for figure %s to be counted again: %s", name, exc)


def refresh(name, branch_id, args):
    """Job: count figure `name` again and keep it; returns the version it was counted at."""
    try:
        version = rq.connection.get(_version_key(branch_id))
        value = _count(name, branch_id, args, version)
    finally:
        rq.connection.delete(f"{KEY}:refreshing:{name}:{_scope(branch_id)}:{sorted(args.items())}")
    return value is not None and version


def on_events(batch):
    """After each commit: the branches the events touched have newer figures to count."""
    scopes = {event.branch_id for event in batch} | {None}
    try:
        pipe = rq.connection.pipeline()
        for branch_id in scopes:
            pipe.incr(_version_key(branch_id))
            pipe.expire(_version_key(branch_id), int(KEEP_FOR.total_seconds()))
        pipe.execute()
    except RedisError:
        return False  # the sweeper hands the events over again
    return True


def install_listeners():
    """Hear every committed batch of domain events; safe to call again."""
    events.subscribe(on_events)
