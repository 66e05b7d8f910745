"""Counting the days that are over, once, so a year's report adds up days (app.models.day_figures).

The worker (`count_days`, every ten minutes; `flask count-days` by hand) counts
each branch's finished days through the same functions the reports use live
(app.services.figures), a month at a time: every locker's rented and usable
seconds, and the terms that ended and were renewed, once they are all decided.

Every change to the history a counted day was made of (a rental's dates, status,
locker or client; a locker's status history, branch or creation; a renewal
pointing at an old term; the grace period; a branch's timezone) is seen by the
session's flush hook, whichever door it came through. It makes that branch's
days from the change on uncounted, in the change's own transaction, so no
report ever adds up a day counted before it.
"""

import time
from datetime import date
from datetime import datetime
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Branch
from app.models import Locker
from app.models import LockerStatusChange
from app.models import Rental
from app.models.day_figures import BranchDay
from app.models.day_figures import DaysCounted
from app.models.day_figures import LockerWeek
from app.models.day_figures import RetentionMonth
from app.models.day_figures import TermsDay
from app.models.settings import Setting
from app.services import clock
from app.services import figures

# Days counted per step: one transaction, and a quarter of a branch's rentals in memory.
# Locker time is counted in whole weeks (Monday to Sunday), terms day by day.
STEP_DAYS = 91
# A day whose terms ended is decided once every grace period of it is over; a day more
# is left for a timezone whose day is 25 hours long.
DECIDED_AFTER = timedelta(days=2)
NEVER = date(1970, 1, 1)
# A change to everything a branch counted (its timezone, the grace period): from the start.
FROM_THE_START = datetime(1970, 1, 3)
# The rental fields a counted day is made of.
RENTAL_TIMES = ("starts_at", "ends_at", "ended_at")
RENTAL_FACTS = ("status", "locker_id", "client_id", "branch_id", "days", "renewed_from_id")


def _setting_in_flush(connection, key):
    """A setting read on the flush's connection: loading rows inside a flush is not allowed."""
    from app.services import settings

    stored = connection.execute(sa.select(Setting.value).where(Setting.key == key)).scalar()
    return settings.SETTINGS[key].default if stored is None else stored


# --- counting ---------------------------------------------------------------------------------

def _first_day(branch_id, timezone_name):
    """The Sunday before anything happened at the branch: where counting starts."""
    firsts = [db.session.execute(sa.select(sa.func.min(Locker.created_at))
                                 .where(Locker.branch_id == branch_id)).scalar_one(),
              db.session.execute(sa.select(sa.func.min(Rental.starts_at))
                                 .where(Rental.branch_id == branch_id)).scalar_one()]
    firsts = [moment for moment in firsts if moment is not None]
    if not firsts:
        return figures.last_sunday(clock.today(timezone_name) - timedelta(days=1))
    return figures.last_sunday(clock.local_day(min(firsts), timezone_name) - timedelta(days=1))


def _mark_of(branch_id, timezone_name):
    mark = db.session.get(DaysCounted, branch_id)
    if mark is None:
        first = _first_day(branch_id, timezone_name)
        db.session.add(DaysCounted(branch_id=branch_id, time_through=first, terms_through=first,
                                   version=0))
        try:
            db.session.commit()
        except IntegrityError:  # another worker started this branch at the same moment
            db.session.rollback()
        mark = db.session.get(DaysCounted, branch_id)
    return mark


def count_step(branch_id):
    """Count the next days of one branch (at most STEP_DAYS of each kind); True if it did.

    Reads the mark, counts, writes the rows and moves the mark on only if nobody
    changed it meanwhile (a change that reached back bumps its version): else
    the work is dropped and done again next time.
    """
    timezone_name = clock.branch_timezone(branch_id)
    mark = _mark_of(branch_id, timezone_name)
    version, time_through, terms_through = mark.version, mark.time_through, mark.terms_through
    today = clock.today(timezone_name)
    time_to = figures.last_sunday(min(today - timedelta(days=1),
                                       time_through + timedelta(days=STEP_DAYS)))
    terms_to = min(today - figures.grace_period() - DECIDED_AFTER, terms_through + timedelta(days=STEP_DAYS))
    if time_to <= time_through and terms_to <= terms_through:
        db.session.rollback()
        return False
    locker_rows, branch_rows, terms_rows, month_rows = [], [], [], []
    if time_to > time_through:
        first = time_through + timedelta(days=1)
        spans, used, usable, _numbers = figures.locker_time(timezone_name, [branch_id], first,
                                                             time_to, "day", None)
        totals = [[0, 0] for _span in spans]
        weeks = {}
        for locker_id, seconds in usable.items():
            for index, (span, open_seconds) in enumerate(zip(spans, seconds, strict=True)):
                rented, open_seconds = round(used[locker_id][index]), round(open_seconds)
                week = weeks.setdefault((locker_id, figures.period_key(span.key, "week")), [0, 0])
                week[0] += rented
                week[1] += open_seconds
                totals[index][0] += rented
                totals[index][1] += open_seconds
        locker_rows = [{"locker_id": locker_id, "week": monday, "branch_id": branch_id,
                        "occupied_seconds": rented, "usable_seconds": open_seconds}
                       for (locker_id, monday), (rented, open_seconds) in weeks.items()]
        branch_rows.extend({"branch_id": branch_id, "day": span.key, "occupied_seconds": rented,
                            "usable_seconds": open_seconds}
                           for span, (rented, open_seconds) in zip(spans, totals, strict=True))
        month_rows = _months_over(timezone_name, branch_id, time_through, time_to)
    if terms_to > terms_through:
        first = terms_through + timedelta(days=1)
        by_day = figures.terms_by_day(timezone_name, [branch_id], first, terms_to)
        day = first
        while day <= terms_to:
            ended, renewed = by_day.get(day, (0, 0))
            terms_rows.append({"branch_id": branch_id, "day": day, "ended": ended,
                               "renewed": renewed})
            day += timedelta(days=1)
    try:
        for model, rows in ((LockerWeek, locker_rows), (BranchDay, branch_rows),
                            (TermsDay, terms_rows), (RetentionMonth, month_rows)):
            for n in range(0, len(rows), 5000):
                db.session.execute(sa.insert(model), rows[n:n + 5000])
        moved = db.session.execute(
            sa.update(DaysCounted)
            .where(DaysCounted.branch_id == branch_id, DaysCounted.version == version,
                   DaysCounted.time_through == time_through,
                   DaysCounted.terms_through == terms_through)
            .values(time_through=max(time_to, time_through),
                    terms_through=max(terms_to, terms_through), version=version + 1)).rowcount
        if moved != 1:
            db.session.rollback()
            return False
        db.session.commit()
    except IntegrityError:  # another worker counted the same days first
        db.session.rollback()
        return False
    return True


def _months_over(timezone_name, branch_id, counted_through, counting_to):
    """RetentionMonth rows of the months whose last day falls after `counted_through`, by `counting_to`."""
    month, months = (counted_through + timedelta(days=1)).replace(day=1), []
    while True:
        following = figures.next_period_key(month, "month")
        if following - timedelta(days=1) > counting_to:
            break
        if following - timedelta(days=1) > counted_through:
            months.append(month)
        month = following
    if not months:
        return []
    retained = figures.retained(timezone_name, [branch_id], months[0],
                                figures.next_period_key(months[-1], "month") - timedelta(days=1))
    return [{"branch_id": branch_id, "month": month, "clients_at_start": retained[month][0],
             "clients_still": retained[month][1]} for month in months]


def count_days(branch_id=None, budget_seconds=None):
    """Count every branch's finished days (or one branch's) until done or out of time.

    Returns True when every branch is counted through yesterday (its terms
    through their grace period). The job runs with a budget and is run again;
    `flask count-days` runs until done.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    branch_ids = [branch_id] if branch_id is not None else \
        db.session.execute(sa.select(Branch.id).order_by(Branch.id)).scalars().all()
    done = True
    for found_id in branch_ids:
        while count_step(found_id):
            if deadline is not None and time.monotonic() > deadline:
                return False
        done = done and _caught_up(found_id)
    return done


def _caught_up(branch_id):
    timezone_name = clock.branch_timezone(branch_id)
    mark = db.session.get(DaysCounted, branch_id)
    today = clock.today(timezone_name)
    return mark is not None and \
        mark.time_through >= figures.last_sunday(today - timedelta(days=1)) and \
        mark.terms_through >= today - figures.grace_period() - DECIDED_AFTER


# --- uncounting: a change that reached back -----------------------------------------------------

def _rental_reach(obj, deleted, new, now):
    """The earliest moment a rental's change alters in the past, or None."""
    if new or deleted:
        return obj.starts_at
    state = sa.inspect(obj)
    changed = {name for name in (*RENTAL_TIMES, *RENTAL_FACTS)
               if state.attrs[name].history.has_changes()}
    if not changed:
        return None
    old = {name: (state.attrs[name].history.deleted or [getattr(obj, name)])[0]
           for name in (*RENTAL_TIMES, *RENTAL_FACTS)}
    new_values = {name: getattr(obj, name) for name in (*RENTAL_TIMES, *RENTAL_FACTS)}
    if changed & set(RENTAL_FACTS) - {"status"} or "starts_at" in changed:
        return min(m for m in (old["starts_at"], new_values["starts_at"]) if m is not None)
    moments = []
    if "status" in changed:
        if (old["status"] in figures.RENTED) != (new_values["status"] in figures.RENTED):
            return old["starts_at"]
        for values in (old, new_values):
            held = values["status"] in figures.HOLDING_TERMS and values["ended_at"] is None
            moments.append(now if held else values["ended_at"] or values["ends_at"])
    for name in ("ends_at", "ended_at"):
        if name in changed:
            moments.extend(m for m in (old[name], new_values[name]) if m is not None)
    return min(moments, default=None)


def _reaches(session, now):
    """{branch id: [earliest moment of locker time changed, of terms changed]} of this flush.

    Either moment may be None. A branch id of None means every branch's terms
    (the grace period changed for all).
    """
    reach = {}

    def note(branch_id, moment, terms_only=False):
        if branch_id is None or moment is None or moment >= now:
            return
        moments = reach.setdefault(branch_id, [None, None])
        for index in ((1,) if terms_only else (0, 1)):
            moments[index] = moment if moments[index] is None else min(moment, moments[index])

    new, deleted = set(session.new), set(session.deleted)
    renewal_of = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Rental):
            moment = _rental_reach(obj, obj in deleted, obj in new, now)
            for branch_id in {obj.branch_id, *sa.inspect(obj).attrs.branch_id.history.deleted}:
                note(branch_id, moment)
            # A renewal decides the term it renews: that term's day changes.
            renewal_of.update(found for found in (
                obj.renewed_from_id, *sa.inspect(obj).attrs.renewed_from_id.history.deleted)
                if found is not None)
        elif isinstance(obj, LockerStatusChange):
            history = sa.inspect(obj).attrs.changed_at.history
            moments = [m for m in (obj.changed_at, *history.deleted) if m is not None]
            if moments and (obj in new or obj in deleted or history.has_changes()):
                key = ("locker", obj.locker_id)
                reach[key] = min(moments + ([reach[key]] if key in reach else []))
        elif isinstance(obj, Locker):
            state = sa.inspect(obj)
            if obj in deleted or state.attrs.branch_id.history.has_changes() or \
                    state.attrs.created_at.history.has_changes():
                moments = [m for m in (obj.created_at, *state.attrs.created_at.history.deleted)
                           if m is not None]
                for branch_id in {obj.branch_id, *state.attrs.branch_id.history.deleted}:
                    note(branch_id, min(moments, default=FROM_THE_START))
        elif isinstance(obj, Branch) and sa.inspect(obj).attrs.timezone.history.has_changes():
            note(obj.id, FROM_THE_START)
        elif isinstance(obj, Setting) and obj.key == "grace_period_days":
            reach[None] = [None, FROM_THE_START]
    connection = session.connection()
    for key in [key for key in reach if isinstance(key, tuple)]:
        moment = reach.pop(key)
        branch_id = connection.execute(sa.select(Locker.branch_id)
                                       .where(Locker.id == key[1])).scalar()
        note(branch_id, moment)
    if renewal_of:
        for branch_id, ends_at, ended_at in connection.execute(
                sa.select(Rental.branch_id, Rental.ends_at, Rental.ended_at)
                .where(Rental.id.in_(renewal_of))):
            if ended_at is not None and ended_at < ends_at:
                # Released early, then renewed: it now counts until its end date.
                note(branch_id, ended_at)
            else:
                note(branch_id, ends_at, terms_only=True)
    return reach


def _uncount(session, flush_context):
    """Make counted days that this flush's changes reach back into uncounted, in its transaction."""
    now = clock.now()
    reach = _reaches(session, now)
    if not reach:
        return
    connection = session.connection()
    marks = sa.select(DaysCounted.branch_id, Branch.timezone).join(
        Branch, DaysCounted.branch_id == Branch.id)
    if None not in reach:
        marks = marks.where(DaysCounted.branch_id.in_(list(reach)))
    counted = connection.execute(marks).all()
    if not counted:
        return
    grace = timedelta(days=int(_setting_in_flush(connection, "grace_period_days")))
    default_timezone = None
    for branch_id, timezone_name in counted:
        if not timezone_name:
            default_timezone = default_timezone or _setting_in_flush(connection, "timezone") or \
                current_app.config["BABEL_DEFAULT_TIMEZONE"]
            timezone_name = default_timezone
        time_moment, terms_moment = reach.get(branch_id, (None, None))
        if None in reach:  # the grace period decides every term again
            terms_moment = FROM_THE_START
        time_from = terms_from = date.max
        if time_moment is not None:  # from the Monday of its week: weeks are counted whole
            time_from = figures.period_key(NEVER if time_moment <= FROM_THE_START else
                                           clock.local_day(time_moment, timezone_name), "week")
        if terms_moment is not None:
            # A rental started at t decides the terms that ended within the grace period before t.
            terms_from = NEVER if terms_moment - grace <= FROM_THE_START else \
                clock.local_day(terms_moment - grace, timezone_name)
        today = clock.today(timezone_name)
        if time_from > figures.last_sunday(today - timedelta(days=1)) and \
                terms_from > today - grace - DECIDED_AFTER:
            continue  # beyond any day the worker counts: nothing to tell it
        connection.execute(
            sa.update(DaysCounted).where(DaysCounted.branch_id == branch_id).values(
                version=DaysCounted.version + 1,
                time_through=sa.case((DaysCounted.time_through >= time_from,
                                      time_from - timedelta(days=1)),
                                     else_=DaysCounted.time_through),
                terms_through=sa.case((DaysCounted.terms_through >= terms_from,
                                       terms_from - timedelta(days=1)),
                                      else_=DaysCounted.terms_through)))
        for column, since in ((LockerWeek.week, time_from), (BranchDay.day, time_from),
                              (TermsDay.day, terms_from),
                              (RetentionMonth.month, time_from.replace(day=1))):
            connection.execute(sa.delete(column.class_).where(column.class_.branch_id == branch_id,
                                                              column >= since))
        current_app.logger.info("days of branch %s counted again from %s (locker time) and %s "
                                "(terms)", branch_id, time_from, terms_from)


def install_listeners():
    """Uncount reached-back days from every session; safe to call again."""
    if not sa.event.contains(Session, "after_flush", _uncount):
        sa.event.listen(Session, "after_flush", _uncount)
