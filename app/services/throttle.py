"""Throttling wrong passwords and codes: per account and address, per address, per account.

Three counters, all of failed attempts only (a desk where ten people sign in
at the start of a shift is not an attack):

- an account from one address: LOCKOUT_ATTEMPTS wrong passwords lock *that
  pair* for LOCKOUT_MINUTES (SPEC S1's lockout). Counting per address as well
  is what keeps an attacker from locking the staff out: the real front-desk
  PC is another address and still gets in;
- one address, whatever the account (LOGIN_LIMIT_PER_ADDRESS): one machine
  guessing at every staff account is stopped;
- one account, whatever the address (LOGIN_LIMIT_PER_ACCOUNT): a slow guess
  spread over many machines is bounded.

The refusal is checked before the password is, and answered the same way
whether the password was right or wrong, so a lockout does not confirm a
guess, and a guess during a lockout neither counts nor extends it.

Counts live in Redis (the same Redis the jobs use), so every app process on
every host shares them. When Redis is down they fall back to this process's
memory, which still stops a guesser at one desk, and Redis is asked again
after REDIS_RETRY_SECONDS.
"""

import hashlib
import logging
import math
import time

from flask import current_app
from limits import RateLimitItemPerSecond
from limits import parse
from limits.storage import MemoryStorage
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 30
EXTENSION = "login_throttle"


class _Counters:
    """Moving-window counters in Redis, or in memory while Redis is unreachable."""

    def __init__(self, redis_url):
        self.redis = MovingWindowRateLimiter(RedisStorage(
            redis_url, key_prefix="locker-desk-throttle",
            socket_connect_timeout=0.5, socket_timeout=0.5))
        self.memory = MovingWindowRateLimiter(MemoryStorage())
        self.redis_down_until = 0.0

    def call(self, method, *args):
        if time.monotonic() >= self.redis_down_until:
            try:
                return getattr(self.redis, method)(*args)
            except (RedisError, OSError) as exc:
                log.warning("Login throttle: Redis unreachable (%s); counting in memory",
                            exc.__class__.__name__)
                self.redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        return getattr(self.memory, method)(*args)


def _counters():
    counters = current_app.extensions.get(EXTENSION)
    if counters is None:
        counters = current_app.extensions[EXTENSION] = _Counters(current_app.config["REDIS_URL"])
    return counters


def _key(*parts):
    # Emails are hashed so the counters' keys in Redis do not list the staff.
    return hashlib.sha256("\x1f".join(str(p).strip().lower() for p in parts).encode()).hexdigest()


def _lockout():
    config = current_app.config
    seconds = max(1, round(float(config["LOCKOUT_MINUTES"]) * 60))
    return RateLimitItemPerSecond(int(config["LOCKOUT_ATTEMPTS"]), seconds)


def _login_rules(email, address):
    """(limit, identifiers) of every counter a login attempt belongs to."""
    config = current_app.config
    return [
        (_lockout(), ("login-pair", _key(email, address))),
        (parse(config["LOGIN_LIMIT_PER_ADDRESS"]), ("login-address", _key(address))),
        (parse(config["LOGIN_LIMIT_PER_ACCOUNT"]), ("login-account", _key(email))),
    ]


def _two_factor_rules(user_id, address):
    config = current_app.config
    return [
        (_lockout(), ("code-pair", _key(user_id, address))),
        (parse(config["LOGIN_LIMIT_PER_ADDRESS"]), ("code-address", _key(address))),
    ]


def _minutes_left(rules):
    """Whole minutes until every exhausted counter in `rules` allows a try; None if none is."""
    counters = _counters()
    waits = []
    for limit, identifiers in rules:
        if not counters.call("test", limit, *identifiers):
            reset_at, _remaining = counters.call("get_window_stats", limit, *identifiers)
            waits.append(reset_at - time.time())
    if not waits:
        return None
    return max(1, math.ceil(max(waits) / 60))


def _count_failure(rules):
    """Count one failed attempt; True if it used up the first (lockout) counter."""
    counters = _counters()
    for limit, identifiers in rules:
        counters.call("hit", limit, *identifiers)
    limit, identifiers = rules[0]
    return not counters.call("test", limit, *identifiers)


def login_refused_for(email, address):
    """Minutes the login of `email` from `address` stays refused, or None."""
    return _minutes_left(_login_rules(email, address))


def login_failed(email, address):
    """Count a wrong password; True when this one locked the account at this address."""
    return _count_failure(_login_rules(email, address))


def login_succeeded(email, address):
    """A correct password forgives the earlier mistakes made from this address."""
    limit, identifiers = _login_rules(email, address)[0]
    _counters().call("clear", limit, *identifiers)


def code_refused_for(user_id, address):
    """Minutes the two-factor code of `user_id` from `address` stays refused, or None."""
    return _minutes_left(_two_factor_rules(user_id, address))


def code_failed(user_id, address):
    """Count a wrong two-factor code; True when this one locked the code step."""
    return _count_failure(_two_factor_rules(user_id, address))
