"""Days that are over are counted once, and a change reaching back into them is counted again.

The story is test_figures.py's (now: 12:00 on 20 March 2026 in Dhaka), with the same
hand-worked figures: a report must say the same whether its days were counted by
the worker or are counted live.
"""

from datetime import date
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import BranchDay
from app.models import DaysCounted
from app.models import LockerWeek
from app.models import Rental
from app.models import RetentionMonth
from app.models import TermsDay
from app.services import day_figures
from app.services import figures
from app.services import settings
from tests.test_figures import FEB
from tests.test_figures import MARCH
from tests.test_figures import story  # noqa: F401  (the fixture)

# Locker time is counted in whole weeks: through Sunday 15 March (yesterday was a Thursday).
COUNTED_THROUGH = date(2026, 3, 15)
# Grace period 3 days; a day more for a 25-hour day: terms ended through 15 March are decided.
TERMS_DECIDED_THROUGH = date(2026, 3, 15)


def _figures(branch_id):
    """What the reports show: utilisation by month, week and day, the heatmap, renewal rates."""
    return {"months": figures.utilisation(branch_id, FEB[0], MARCH[1], by="month"),
            "weeks": figures.utilisation(branch_id, FEB[0], MARCH[1], by="week"),
            "days": figures.utilisation(branch_id, *MARCH, by="day"),
            "heatmap": figures.utilisation_by_locker(branch_id, FEB[0], MARCH[1], by="week"),
            "renewals": [figures.renewal_rate(branch_id, *MARCH), figures.renewal_rate(branch_id, *FEB)],
            "retention": figures.retention(branch_id, date(2026, 1, 1), MARCH[1]),
            "retention_from_mid_january": figures.retention(branch_id, date(2026, 1, 15), MARCH[1])}


@pytest.fixture
def live_calls(monkeypatch):
    """The first day of every range figures counts live, as (function, first day)."""
    calls = []
    locker_time, terms_by_day, retained = figures.locker_time, figures.terms_by_day, figures.retained

    def counting_lockers(timezone_name, branch_ids, start, end, by, zone_id):
        calls.append(("locker_time", start))
        return locker_time(timezone_name, branch_ids, start, end, by, zone_id)

    def counting_terms(timezone_name, branch_ids, start, end):
        calls.append(("terms_by_day", start))
        return terms_by_day(timezone_name, branch_ids, start, end)

    def counting_retained(timezone_name, branch_ids, start, end, by="month"):
        calls.append(("retained", start))
        return retained(timezone_name, branch_ids, start, end, by)

    monkeypatch.setattr(figures, "retained", counting_retained)
    monkeypatch.setattr(figures, "locker_time", counting_lockers)
    monkeypatch.setattr(figures, "terms_by_day", counting_terms)
    return calls


def test_counted_days_say_what_counting_live_says(story, live_calls):  # noqa: F811
    """February 15.8 %, March 52.8 % (51.5 of 97.5 locker-days), 1 of 2 March terms renewed,
    whether the days are counted live or added up from what the worker kept."""
    live = _figures(story.branch.id)
    assert day_figures.count_days() is True
    mark = db.session.get(DaysCounted, story.branch.id)
    assert (mark.time_through, mark.terms_through) == (COUNTED_THROUGH, TERMS_DECIDED_THROUGH)
    # Five lockers, ten weeks from Monday 5 January (the lockers' first day).
    assert db.session.execute(sa.select(sa.func.count()).select_from(LockerWeek)).scalar_one() == 50
    feb_days = db.session.execute(sa.select(sa.func.sum(BranchDay.occupied_seconds)).where(
        BranchDay.day.between(*FEB))).scalar_one()
    assert feb_days == 22.125 * 86400  # Arif 13 d 14 h, Babul 8 d 12 h, Chameli 1 h
    (march_terms,) = db.session.execute(sa.select(
        sa.func.sum(TermsDay.ended), sa.func.sum(TermsDay.renewed)).where(
        TermsDay.day.between(MARCH[0], TERMS_DECIDED_THROUGH))).all()
    # Babul's term (ended the 12th) not renewed; Arif's (ends the 17th, renewed) is counted live.
    assert tuple(march_terms) == (1, 0)

    live_calls.clear()
    counted = _figures(story.branch.id)
    assert counted == live
    feb, march = counted["months"]
    assert (feb.percent, march.occupied_days, march.usable_days, march.percent) == (
        15.8, 51.5, 97.5, 52.8)
    assert (counted["renewals"][0].ended, counted["renewals"][0].renewed) == (2, 1)
    # February: nobody held a locker at its first moment; March: Arif, Babul, Chameli, two stayed.
    assert [(row.at_start, row.still) for row in counted["retention"]] == [(0, 0), (0, 0), (3, 2)]
    assert db.session.execute(sa.select(RetentionMonth.month, RetentionMonth.clients_at_start)
                              .order_by(RetentionMonth.month)).all() == [
        (date(2026, 1, 1), 0), (date(2026, 2, 1), 0)]  # March is not over
    # Counted live: this week, the heatmap's part week on 1 February, and the terms still
    # in their grace period.
    assert set(live_calls) == {("locker_time", date(2026, 3, 16)), ("locker_time", FEB[0]),
                               ("terms_by_day", TERMS_DECIDED_THROUGH + timedelta(days=1)),
                               ("retained", MARCH[0]), ("retained", date(2026, 1, 15))}


def test_a_zone_and_one_locker_add_up_their_own_days(story):  # noqa: F811
    """Family in March: F-1 rented all 19.5 days, F-2 never: 19.5 of 39 = 50 %."""
    before = figures.utilisation(story.branch.id, *MARCH, by="month", zone_id=story.family.id)
    heatmap = figures.utilisation_by_locker(story.branch.id, *MARCH, by="week",
                                            zone_id=story.men.id)
    day_figures.count_days()
    (march,) = figures.utilisation(story.branch.id, *MARCH, by="month", zone_id=story.family.id)
    assert [march] == before
    assert (march.occupied_days, march.usable_days, march.percent) == (19.5, 39.0, 50.0)
    keys, rows = figures.utilisation_by_locker(story.branch.id, *MARCH, by="week",
                                               zone_id=story.men.id)
    assert (keys, rows) == heatmap
    assert [number for _id, number, _cells in rows] == ["M-1", "M-2", "M-3"]
    assert keys[0] == date(2026, 2, 23)  # the Monday of 1 March's week
    # M-2: Babul until 12:00 on 12 March: the whole week of 2 March, 3.5 of 7 days after.
    m2 = next(cells for _id, number, cells in rows if number == "M-2")
    assert m2[1:3] == [100.0, 50.0]


def test_a_correction_reaching_back_is_counted_again(story):  # noqa: F811
    """Babul's key came back on 10 March, not the 12th: March loses two locker-days at once."""
    day_figures.count_days()
    babul = db.session.get(Rental, story.babul_rental.id)
    babul.ended_at = datetime(2026, 3, 10, 6, 0)  # as the generic rental form would save it
    db.session.commit()
    mark = db.session.get(DaysCounted, story.branch.id)
    assert mark.time_through == date(2026, 3, 8)  # the week of the 10th is counted again whole
    assert mark.terms_through == date(2026, 3, 6)  # a new end decides terms up to grace before
    assert not db.session.execute(sa.select(LockerWeek).where(
        LockerWeek.week >= date(2026, 3, 9))).first()
    (march,) = figures.utilisation(story.branch.id, *MARCH, by="month")
    assert (march.occupied_days, march.percent) == (49.5, 50.8)
    assert day_figures.count_days() is True
    assert figures.utilisation(story.branch.id, *MARCH, by="month") == [march]
    assert db.session.get(DaysCounted, story.branch.id).time_through == COUNTED_THROUGH


def test_a_new_grace_period_decides_every_term_again(story):  # noqa: F811
    """With 30 days' grace Babul may still come back: March has one decided term, renewed."""
    day_figures.count_days()
    settings.put("grace_period_days", "30")
    db.session.commit()
    assert db.session.get(DaysCounted, story.branch.id).terms_through < date(2026, 1, 1)
    rate = figures.renewal_rate(story.branch.id, *MARCH)
    assert (rate.ended, rate.renewed) == (1, 1)
    day_figures.count_days()
    assert db.session.get(DaysCounted, story.branch.id).terms_through == date(2026, 2, 16)
    assert figures.renewal_rate(story.branch.id, *MARCH) == rate


def test_the_desk_at_work_today_leaves_counted_days_alone(story, desk):  # noqa: F811
    """A rental assigned and a key returned today change no day that is over."""
    from app.models import PaymentMethod
    from app.models import RentalTerm
    from app.services import rentals

    day_figures.count_days()
    version = db.session.get(DaysCounted, story.branch.id).version
    client = desk.make_client(branch=story.branch, name="Esha")
    rental = rentals.assign(story.f2.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                            pay_now=PaymentMethod.CASH)
    rentals.release(rental.id, by_user_id=None)
    mark = db.session.get(DaysCounted, story.branch.id)
    assert (mark.version, mark.time_through, mark.terms_through) == (
        version, COUNTED_THROUGH, TERMS_DECIDED_THROUGH)


@pytest.mark.databases("postgresql", "mariadb")
def test_a_change_made_while_the_worker_counts_wins(story, monkeypatch):  # noqa: F811
    """A correction committed by another desk while the worker counts: its work is dropped."""
    locker_time = figures.locker_time

    def correct_meanwhile(*args):
        with Session(db.engine) as other_desk:
            babul = other_desk.get(Rental, story.babul_rental.id)
            babul.ended_at = datetime(2026, 2, 25, 6, 0)
            other_desk.commit()
        return locker_time(*args)

    monkeypatch.setattr(day_figures, "STEP_DAYS", 35)
    assert day_figures.count_step(story.branch.id) is True  # 5 January … 8 February
    monkeypatch.setattr(figures, "locker_time", correct_meanwhile)
    assert day_figures.count_step(story.branch.id) is False  # … 15 March: dropped
    assert db.session.execute(sa.select(sa.func.max(LockerWeek.week))).scalar_one() == \
        date(2026, 2, 2)
    assert db.session.get(DaysCounted, story.branch.id).time_through == date(2026, 2, 8)
    monkeypatch.setattr(figures, "locker_time", locker_time)
    assert day_figures.count_days() is True
    feb, _march = figures.utilisation(story.branch.id, FEB[0], MARCH[1], by="month")
    # Babul from 20 Feb 12:00 to 25 Feb 12:00 (Dhaka), not to 1 March: 22.125 − 3.5 locker-days.
    assert feb.occupied_days == 18.62


def test_the_worker_job_and_the_command_count_through_the_same_function(story, desk):  # noqa: F811
    """`flask count-days` counts every branch; the job does the same within its time."""
    from jobs.maintenance import count_days

    result = desk.app.test_cli_runner().invoke(args=["count-days"])
    assert result.exit_code == 0 and "Every day that is over is counted." in result.output
    assert db.session.get(DaysCounted, story.branch.id).time_through == COUNTED_THROUGH
    assert count_days() is True


def test_two_workers_counting_the_same_days_write_them_once(story):  # noqa: F811
    """The slower of two workers finds the week already written: its step is dropped whole."""
    db.session.add(LockerWeek(locker_id=story.m1.id, week=date(2026, 1, 5),
                              branch_id=story.branch.id, occupied_seconds=0, usable_seconds=0))
    db.session.commit()  # as the faster worker left it
    assert day_figures.count_step(story.branch.id) is False
    assert db.session.execute(sa.select(sa.func.count()).select_from(LockerWeek)).scalar_one() == 1
    assert not db.session.execute(sa.select(BranchDay)).first()
    assert db.session.get(DaysCounted, story.branch.id).time_through == date(2026, 1, 4)
