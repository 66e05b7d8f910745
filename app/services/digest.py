"""The managers' morning email: what expires today, what is overdue, what lapses, what failed (N3).

Sent once a day per manager (a staff member with the manager's override
permission and an email address), about their branch, in their language. Two
workers running the job at once send it once: a short Redis lock per manager
and day, and a mark kept for two days after it went.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from app import integrations
from app.extensions import db
from app.extensions import rq
from app.integrations import email as email_channel
from app.models import Branch
from app.models import MessageStatus
from app.models import Notification
from app.models import Rental
from app.models import RentalStatus
from app.models import User
from app.models import utcnow
from app.services import clock
from app.services import settings
from app.services.rentals import OVERRIDE_PERMISSION

LISTED = 15
KEY = "locker-desk:digest"


def managers():
    """Active staff with an email who may override the rules: the ones who run a branch."""
    users = db.session.execute(db.select(User).where(User.active.is_(True))).scalars().all()
    return [user for user in users if user.email and user.has_permission(OVERRIDE_PERMISSION)]


def _in_branch(query, column, branch_id):
    return query.where(column == branch_id) if branch_id is not None else query


def contents(user, now=None):
    """What one manager's digest says, as template values."""
    now = now or utcnow()
    branch = db.session.get(Branch, user.branch_id) if user.branch_id else None
    timezone = branch.timezone if branch is not None else None
    today = clock.today(timezone)
    start, end = clock.day_start_utc(today, timezone), clock.day_start_utc(
        today + timedelta(days=1), timezone)

    def rentals(*conditions, limit=LISTED):
        query = _in_branch(db.select(Rental).where(*conditions), Rental.branch_id, user.branch_id)
        return db.session.execute(query.order_by(Rental.ends_at).limit(limit)).scalars().all()

    def count(*conditions, model=Rental):
        query = _in_branch(sa.select(sa.func.count()).select_from(model).where(*conditions),
                           model.branch_id, user.branch_id)
        return db.session.execute(query).scalar_one()

    overdue = (Rental.status == RentalStatus.EXPIRED,)
    failed = (Notification.status.in_((MessageStatus.FAILED, MessageStatus.UNCERTAIN)),
              Notification.created_at >= now - timedelta(days=1))
    failed_query = _in_branch(db.select(Notification).where(*failed), Notification.branch_id,
                              user.branch_id)
    return {
        "user": user, "day": clock.local_day(now, timezone).strftime("%d/%m/%Y"),
        "branch_name": branch.name if branch is not None else _("all branches"),
        "expiring": rentals(Rental.status == RentalStatus.ACTIVE, Rental.ends_at >= start,
                            Rental.ends_at < end, limit=None),
        "overdue": rentals(*overdue), "overdue_count": count(*overdue),
        "lapsing": rentals(Rental.status == RentalStatus.RESERVED, Rental.reserved_until >= now,
                           Rental.reserved_until < end, limit=None),
        "failed": db.session.execute(failed_query.order_by(Notification.id.desc())
                                     .limit(LISTED)).scalars().all(),
        "failed_count": count(*failed, model=Notification),
        "desk_url": current_app.config.get("PUBLIC_URL", "") + "/admin/",
    }


def send_all(now=None):
    """Job (every morning): email each manager their digest once; returns how many were sent."""
    config = email_channel.configured()
    if config is None:
        return 0  # no email set up: there is nowhere to send it
    now = now or utcnow()
    sent = 0
    for user in managers():
        day = clock.local_day(now).isoformat()
        done_key, lock_key = f"{KEY}:{day}:{user.id}", f"{KEY}:lock:{day}:{user.id}"
        if rq.connection.exists(done_key) or not rq.connection.set(lock_key, 1, nx=True, ex=300):
            continue
        try:
            with force_locale(user.locale or "bn"):
                values = contents(user, now)
                body = render_template("emails/digest.txt", **values)
                subject = _("Locker desk: today at %(branch)s, %(day)s",
                            branch=values["branch_name"], day=values["day"])
            email_channel.send(config, integrations.Message(
                reference=f"digest-{day}-{user.id}", recipient=user.email, subject=subject,
                body=body, language=user.locale or "bn"),
                sender_name=settings.company()["name"])
        finally:
            rq.connection.delete(lock_key)
        rq.connection.set(done_key, 1, ex=2 * 86400)
        sent += 1
    return sent
