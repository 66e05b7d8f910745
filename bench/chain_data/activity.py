"""The desks' activity log: what staff did (as app.services.audit records it) and their sign-ins."""

from dataclasses import dataclass
from datetime import timedelta

from bench.chain_data.common import CLOSES
from bench.chain_data.common import OPENS
from bench.chain_data.common import opening
from bench.chain_data.common import seconds
from bench.chain_data.names import USER_AGENT

# Desk sessions (a login and a logout) per branch and day at full scale: with the entries
# of the history itself, about five million entries in ten years.
SESSIONS_PER_DAY = 2.0


@dataclass(frozen=True)
class Staff:
    """Who works the desks: one front-desk login per branch (index), a manager, an accountant."""

    desks: list      # [(user id, email)] by branch index
    manager: tuple
    accounts: tuple


class ActivityLog:
    """Writes activity entries; each desk PC has its own address."""

    def __init__(self, ids, writer, sink, staff, branch_ids):
        self.ids, self.w, self.sink, self.staff = ids, writer, sink, staff
        self.branch_ids = branch_ids
        self.ips = [f"10.20.{n + 1}.11" for n in range(len(branch_ids))]

    def desk(self, at, entry):
        """An entry by the front desk of the entry's branch (an index): (branch, action, model,
        object id, summary, changes as JSON text)."""
        branch, action, model, object_id, summary, values = entry
        user_id, email = self.staff.desks[branch]
        self.sink.add("activity_log", (self.ids.next("activity_log"), self.w.stamp(at), user_id, email,
                                       action, model, str(object_id), summary[:255], values,
                                       self.ips[branch], USER_AGENT, self.branch_ids[branch]))

    def sign_in(self, at, entry):
        """A sign-in, failed sign-in or sign-out, as app.auth logs them: ((user id, email), action, ip)."""
        (user_id, email), action, ip = entry
        self.sink.add("activity_log", (self.ids.next("activity_log"), self.w.stamp(at), user_id, email,
                                       action, "User", str(user_id),
                                       "password" if action == "LOGIN" else None, None, ip,
                                       USER_AGENT, None))

    def sessions(self, rng, day, per_day, until, later):
        """Queue (with `later`) local `day`'s desk sessions: a login, now and then after a typo,
        and a logout; `per_day` sessions per branch on average, none after `until`."""
        day_opens = opening(day)
        for index, desk in enumerate(self.staff.desks):
            for _ in range(int(per_day) + (rng.random() < per_day % 1)):
                chance = rng.random()
                user = desk if chance < 0.85 else (
                    self.staff.manager if chance < 0.95 else self.staff.accounts)
                login = day_opens + seconds(rng, timedelta(minutes=3), timedelta(hours=13))
                if login >= until:
                    continue
                if rng.random() < 0.04:
                    later(login - seconds(rng, timedelta(seconds=20), timedelta(seconds=120)),
                          self.sign_in, (user, "LOGIN_FAILED", self.ips[index]))
                later(login, self.sign_in, (user, "LOGIN", self.ips[index]))
                logout = min(login + seconds(rng, timedelta(hours=2), timedelta(hours=8)),
                             day_opens + timedelta(hours=CLOSES - OPENS))
                if logout < until:
                    later(logout, self.sign_in, (user, "LOGOUT", self.ips[index]))
