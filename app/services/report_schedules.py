"""Reports emailed on a schedule: daily, weekly or monthly (issue 13, scheduled reports).

A member of staff who may run a report can have it emailed to themselves.
Each sending covers the period just ended at their branch (yesterday, the
seven days to yesterday, last month) and is sent at SEND_AT in the morning of
that branch; the file is built as the user would build it on screen (their
branch, permissions and language, app.services.export_files.as_user), so a
report they may no longer run is not sent, and says why on their list.

Two workers never send one sending twice: a worker claims a schedule by moving
its next_run_at on in one UPDATE that only one can win. A sending that fails
(the mail server refused, a timeout) is tried again RETRY_AFTER later, with the
reason kept for the user to see: none is lost.
"""

import io
import logging
from datetime import datetime
from datetime import time
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import integrations
from app.extensions import db
from app.i18n import local_date
from app.integrations import email as email_channel
from app.models import ReportFrequency
from app.models import ReportSchedule
from app.models import utcnow
from app.services import clock
from app.services import export_files
from app.services import exports
from app.services import report_book
from app.services import settings
from app.services.errors import Refusal

log = logging.getLogger(__name__)

SEND_AT = time(7, 0)
RETRY_AFTER = timedelta(minutes=15)
KINDS = ("xlsx", "csv", "pdf")
# A user's schedules: a handful, never a mailing list.
MAX_PER_USER = 20


class ScheduleRefused(Refusal):
    """The schedule cannot be set up as asked."""


def period_for(frequency, today):
    """(first, last) day of the period a sending on `today` covers: the one just ended."""
    yesterday = today - timedelta(days=1)
    if frequency is ReportFrequency.DAILY:
        return yesterday, yesterday
    if frequency is ReportFrequency.WEEKLY:
        return today - timedelta(days=7), yesterday
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return last_month_end.replace(day=1), last_month_end


def _next_day(frequency, today):
    if frequency is ReportFrequency.DAILY:
        return today + timedelta(days=1)
    if frequency is ReportFrequency.WEEKLY:
        return today + timedelta(days=7)
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


def first_run(frequency, timezone_name, now=None):
    """The first sending (UTC): tomorrow morning; next Saturday (the week in Bangladesh starts on
    Saturday) or the 1st of next month for the weekly and monthly ones."""
    today = clock.local_day(now or utcnow(), timezone_name)
    if frequency is ReportFrequency.DAILY:
        day = today + timedelta(days=1)
    elif frequency is ReportFrequency.WEEKLY:
        day = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    else:
        day = _next_day(frequency, today)
    return _morning(day, timezone_name)


def _morning(day, timezone_name):
    local = datetime.combine(day, SEND_AT, tzinfo=clock.zone(timezone_name))
    return local.astimezone(clock.zone("UTC")).replace(tzinfo=None)


def _timezone_of(user):
    return clock.branch_timezone(user.branch_id)


def add(user, report_key, frequency, kind, branch_id=None, zone_id=None):
    """Schedule report `report_key` for `user`; returns the ReportSchedule (refuses, saving nothing)."""
    entry = report_book.report(report_key)
    if entry is None or not entry.allowed(user):
        raise ScheduleRefused(_l("You may not run this report."))
    if not user.email:
        raise ScheduleRefused(_l("Your account has no email address to send the report to."))
    if not isinstance(frequency, ReportFrequency):
        raise ScheduleRefused(_l("Choose how often the report is sent."), "frequency")
    if kind not in KINDS:
        raise ScheduleRefused(_l("Choose the kind of file."), "kind")
    args = {"branch_id": branch_id, "zone_id": zone_id}
    _params, errors = report_book.ReportParams.parse(args, user.branch_id)
    if errors:
        raise ScheduleRefused(next(iter(errors.values())))
    mine = db.session.execute(db.select(db.func.count()).select_from(ReportSchedule).where(
        ReportSchedule.user_id == user.id)).scalar_one()
    if mine >= MAX_PER_USER:
        raise ScheduleRefused(_l("You have %(count)s scheduled reports already; remove one first.",
                                 count=MAX_PER_USER))
    schedule = ReportSchedule(user_id=user.id, report_key=report_key, frequency=frequency,
                              kind=kind, params={k: v for k, v in args.items() if v},
                              next_run_at=first_run(frequency, _timezone_of(user)))
    db.session.add(schedule)
    db.session.commit()
    return schedule


def mine(user_id):
    return db.session.execute(db.select(ReportSchedule).where(ReportSchedule.user_id == user_id)
                              .order_by(ReportSchedule.id)).scalars().all()


def remove(schedule_id, user_id):
    """Stop a schedule of the user's own; False when it is not theirs (or not there)."""
    schedule = db.session.get(ReportSchedule, schedule_id) if schedule_id else None
    if schedule is None or schedule.user_id != user_id:
        return False
    db.session.delete(schedule)
    db.session.commit()
    return True


def send_due(now=None):
    """Job (every few minutes): send every schedule that is due; returns how many were sent."""
    now = now or utcnow()
    config = email_channel.configured()
    if config is None:
        return 0  # no mail server set up: the schedules wait, nothing is lost
    due = db.session.execute(db.select(ReportSchedule.id, ReportSchedule.next_run_at).where(
        ReportSchedule.next_run_at <= now).order_by(ReportSchedule.next_run_at)).all()
    sent = 0
    for schedule_id, due_at in due:
        if _claim(schedule_id, due_at, now):
            sent += _send(schedule_id, due_at, config)
    return sent


def _claim(schedule_id, due_at, now):
    """Move the schedule past this sending; True for the one worker whose UPDATE did it."""
    schedule = db.session.get(ReportSchedule, schedule_id)
    timezone_name = _timezone_of(schedule.user)
    day = clock.local_day(due_at, timezone_name)
    following = _morning(_next_day(schedule.frequency, day), timezone_name)
    while following <= now:  # a desk that was down for days sends the latest period once
        day = clock.local_day(following, timezone_name)
        following = _morning(_next_day(schedule.frequency, day), timezone_name)
    won = db.session.execute(db.update(ReportSchedule).where(
        ReportSchedule.id == schedule_id, ReportSchedule.next_run_at == due_at)
        .values(next_run_at=following)).rowcount
    db.session.commit()
    return bool(won)


def _send(schedule_id, due_at, config):
    schedule = db.session.get(ReportSchedule, schedule_id)
    user = schedule.user
    try:
        with force_locale(user.locale or "bn"), export_files.as_user(user.id, {}):
            # The period is the one the sending was due for, however late it goes.
            message = _message(schedule, user, clock.local_day(due_at, _timezone_of(user)))
            email_channel.send(config, message, sender_name=settings.company()["name"])
    except Exception as exc:  # the mail server or the report failed: try again later
        db.session.rollback()
        log.warning("Scheduled report %s not sent: %s", schedule_id, exc)
        reason = exc.message if isinstance(exc, Refusal) else f"{type(exc).__name__}: {exc}"
        db.session.execute(db.update(ReportSchedule).where(ReportSchedule.id == schedule_id)
                           .values(next_run_at=utcnow() + RETRY_AFTER,
                                   last_error=str(reason)[:255]))
        db.session.commit()
        return 0
    db.session.execute(db.update(ReportSchedule).where(ReportSchedule.id == schedule_id)
                       .values(last_sent_at=utcnow(), last_error=None))
    db.session.commit()
    return 1


def _message(schedule, user, today):
    entry = report_book.report(schedule.report_key)
    if entry is None or not entry.allowed(user):
        raise ScheduleRefused(_l("You may no longer run this report."))
    start, end = period_for(schedule.frequency, today)
    args = {**(schedule.params or {}), "start": start, "end": end}
    params, errors = report_book.ReportParams.parse(args, user.branch_id)
    if errors:
        raise ScheduleRefused(next(iter(errors.values())))
    table = entry.run(params)
    headers = [column.label for column in table.columns]
    body = io.BytesIO()
    rows = table.file_rows()
    if schedule.kind == "csv":
        for chunk in exports.csv_chunks(headers, rows):
            body.write(chunk)
    elif schedule.kind == "xlsx":
        exports.write_xlsx(body, headers, rows, title=entry.title)
    else:
        exports.write_pdf(body, headers, rows, title=entry.title, subtitle=_period_text(start, end))
    file_name = f"{entry.key}-{start:%Y-%m-%d}-{end:%Y-%m-%d}.{schedule.kind}"
    subject = _("%(report)s, %(period)s", report=entry.title, period=_period_text(start, end))
    text = _("The report \"%(report)s\" for %(period)s is attached (%(rows)s rows). It is sent "
             "to you %(frequency)s; stop it on the Reports page of the desk.",
             frequency=str(schedule.frequency.label).lower(), report=entry.title,
             period=_period_text(start, end), rows=len(table.rows))
    return integrations.Message(
        reference=f"report-{schedule.id}-{end.isoformat()}", recipient=user.email,
        subject=subject, body=text, language=user.locale or "bn",
        attachments=((file_name, exports.MIMETYPES[schedule.kind], body.getvalue()),))


def _period_text(start, end):
    return local_date(start) if start == end else f"{local_date(start)} – {local_date(end)}"
