"""Figures of days that are over, counted once and kept (SPEC Rep1–Rep3 at a chain's size).

A year's utilisation or renewal rate walks every rental of the year; at a chain's
size that is seconds. A day that is over does not change when the desk works
today, so its figures are counted once by a worker (app.services.day_figures)
and the reports add up days. A change that reaches back into a counted day (a
rental's dates corrected, a term renewed after its end) makes the branch's days
from then on uncounted again, in the same transaction, and the reports count
them live until the worker has counted them again.
"""

from app.extensions import db


class LockerWeek(db.Model):
    """One locker in one week (Monday to Sunday, its branch's days): seconds rented and usable.

    Weeks, not days: the heatmap reads weeks, and a chain's ten years are 2.6 million
    rows rather than 18 million.
    """

    locker_id = db.Column(db.ForeignKey("locker.id", ondelete="CASCADE"), primary_key=True)
    week = db.Column(db.Date, primary_key=True)  # its Monday
    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="CASCADE"), nullable=False)
    occupied_seconds = db.Column(db.Integer, nullable=False)
    usable_seconds = db.Column(db.Integer, nullable=False)

    __table_args__ = (db.Index("ix_locker_week_branch_week", "branch_id", "week"),)


class BranchDay(db.Model):
    """A branch's lockers on one local day, added up: locker-seconds rented and usable."""

    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="CASCADE"), primary_key=True)
    day = db.Column(db.Date, primary_key=True)
    occupied_seconds = db.Column(db.BigInteger, nullable=False)
    usable_seconds = db.Column(db.BigInteger, nullable=False)


class TermsDay(db.Model):
    """Rental terms of a branch that ended on one local day, and how many the client renewed.

    Counted once every term of the day is decided: renewed, or its grace period over.
    """

    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="CASCADE"), primary_key=True)
    day = db.Column(db.Date, primary_key=True)
    ended = db.Column(db.Integer, nullable=False)
    renewed = db.Column(db.Integer, nullable=False)


class RetentionMonth(db.Model):
    """A branch's clients holding a locker when a month began, and how many still did when it ended.

    Counted once the month is over: who held a locker at two moments is not a sum of days.
    """

    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="CASCADE"), primary_key=True)
    month = db.Column(db.Date, primary_key=True)  # its first day
    clients_at_start = db.Column(db.Integer, nullable=False)
    clients_still = db.Column(db.Integer, nullable=False)


class DaysCounted(db.Model):
    """How far a branch's days are counted: locker time through a Sunday, terms through a day.

    The worker moves them on with a compare-and-set, so a change that made days
    uncounted meanwhile is never covered by figures counted before it.
    """

    branch_id = db.Column(db.ForeignKey("branch.id", ondelete="CASCADE"), primary_key=True)
    time_through = db.Column(db.Date, nullable=False)
    terms_through = db.Column(db.Date, nullable=False)
    # Bumped by every change that reached back into days the worker may be counting.
    version = db.Column(db.Integer, nullable=False, default=0)
