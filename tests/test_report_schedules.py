"""Reports emailed on a schedule (issue 13): when they go, what they cover, and none lost or doubled.

Sent through a real SMTP server on loopback (aiosmtpd), with the figures of the
hand-worked story of tests/test_figures.py (March 2026: ৳3,140 collected).
"""

import io
from datetime import datetime

from openpyxl import load_workbook

from app.extensions import db
from app.models import ReportFrequency
from app.models import ReportSchedule
from app.services import report_schedules
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from tests.messaging import configure
from tests.messaging import smtp  # noqa: F401  (the fixture)
from tests.test_figures import story  # noqa: F401  (the fixture)

# Friday 20 March 2026, 12:00 in Dhaka.
NOW = datetime(2026, 3, 20, 6, 0)


def test_sendings_are_due_on_the_branchs_morning_and_cover_the_period_just_ended(app):
    with app.app_context():
        _check_the_calendar()


def _check_the_calendar():
    daily, weekly, monthly = ReportFrequency.DAILY, ReportFrequency.WEEKLY, ReportFrequency.MONTHLY
    # 07:00 in Dhaka is 01:00 UTC; the week in Bangladesh starts on Saturday.
    assert report_schedules.first_run(daily, "Asia/Dhaka", NOW) == datetime(2026, 3, 21, 1, 0)
    assert report_schedules.first_run(weekly, "Asia/Dhaka", NOW) == datetime(2026, 3, 21, 1, 0)
    assert report_schedules.first_run(monthly, "Asia/Dhaka", NOW) == datetime(2026, 4, 1, 1, 0)
    day = datetime(2026, 4, 1).date()
    assert report_schedules.period_for(daily, day) == (datetime(2026, 3, 31).date(),) * 2
    assert report_schedules.period_for(weekly, day) == (datetime(2026, 3, 25).date(),
                                                        datetime(2026, 3, 31).date())
    assert report_schedules.period_for(monthly, day) == (datetime(2026, 3, 1).date(),
                                                         datetime(2026, 3, 31).date())


def test_staff_schedule_a_report_from_its_page_and_stop_it(desk):
    accountant = desk.login_as(ACCOUNTANT, email="accounts@gym.example")
    page = accountant.get("/admin/reports/collections-month/").get_data(as_text=True)
    assert 'id="report-schedule"' in page
    response = accountant.post("/admin/reports/collections-month/schedule",
                               data={"frequency": "MONTHLY", "kind": "xlsx"})
    assert response.status_code == 302
    schedule = db.session.execute(db.select(ReportSchedule)).scalar_one()
    assert (schedule.user_id, schedule.frequency, schedule.kind) == (
        accountant.user.id, ReportFrequency.MONTHLY, "xlsx")
    assert f'data-schedule="{schedule.id}"' in accountant.get("/admin/reports/").get_data(
        as_text=True)
    # Bad input is refused and saves nothing.
    for bad in ({"frequency": "HOURLY", "kind": "xlsx"}, {"frequency": "DAILY", "kind": "exe"},
                {"frequency": "DAILY", "kind": "csv", "branch_id": "99999"}):
        accountant.post("/admin/reports/collections-month/schedule", data=bad)
    assert db.session.execute(db.select(db.func.count()).select_from(ReportSchedule)).scalar() == 1
    assert desk.login_as(FRONT_DESK).post("/admin/reports/collections-month/schedule", data={
        "frequency": "DAILY", "kind": "csv"}).status_code == 403
    other = desk.login_as(ACCOUNTANT, email="other@gym.example")
    assert other.post("/admin/reports/schedules/remove",
                      data={"schedule_id": schedule.id}).status_code == 404
    assert accountant.post("/admin/reports/schedules/remove",
                           data={"schedule_id": schedule.id}).status_code == 302
    assert db.session.execute(db.select(ReportSchedule)).scalar_one_or_none() is None


def _schedule(desk, email, locale="en"):
    user = desk.make_user(ACCOUNTANT, email=email, locale=locale)
    schedule = report_schedules.add(user, "collections-month", ReportFrequency.MONTHLY, "xlsx")
    schedule.next_run_at = datetime(2026, 4, 1, 1, 0)
    db.session.commit()
    return schedule


def test_a_due_report_is_emailed_once_with_its_file(story, desk, smtp):  # noqa: F811
    configure(smtp)
    schedule = _schedule(desk, "accounts@gym.example")
    assert report_schedules.send_due(now=datetime(2026, 3, 31, 23, 0)) == 0  # not yet
    assert report_schedules.send_due(now=datetime(2026, 4, 1, 1, 5)) == 1
    assert report_schedules.send_due(now=datetime(2026, 4, 1, 1, 6)) == 0  # once
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "accounts@gym.example" and "01/03/2026 – 31/03/2026" in mail["Subject"]
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "collections-month-2026-03-01-2026-03-31.xlsx"
    sheet = load_workbook(io.BytesIO(attachment.get_content())).active
    assert [cell.value for cell in list(sheet.iter_rows())[-1]][-1] == 3140
    db.session.expire_all()
    schedule = db.session.get(ReportSchedule, schedule.id)
    assert schedule.next_run_at == datetime(2026, 5, 1, 1, 0) and schedule.last_error is None


def test_a_refused_sending_is_tried_again_not_lost(story, desk, smtp):  # noqa: F811
    configure(smtp)
    schedule = _schedule(desk, "refused@gym.example")
    smtp.mailbox.refuse["refused@gym.example"] = "451 4.3.0 try again later"
    assert report_schedules.send_due(now=datetime(2026, 4, 1, 1, 5)) == 0
    db.session.expire_all()
    schedule = db.session.get(ReportSchedule, schedule.id)
    assert "451" in schedule.last_error and schedule.last_sent_at is None
    del smtp.mailbox.refuse["refused@gym.example"]
    assert report_schedules.send_due(now=schedule.next_run_at) == 1
    assert len(smtp.mailbox.messages) == 1


def test_two_workers_claim_a_sending_once(desk):
    schedule = _schedule(desk, "claim@gym.example")
    due = schedule.next_run_at
    now = datetime(2026, 4, 1, 1, 5)
    assert report_schedules._claim(schedule.id, due, now) is True
    assert report_schedules._claim(schedule.id, due, now) is False
