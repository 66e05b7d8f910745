"""Recording the activity log (SPEC S3).

Every insert, update and delete of a business model is captured from the
SQLAlchemy session at flush time, so nothing that changes data can forget to
log it: a view, a job, a CLI command and the shell are all covered. Who did it
comes from the request (or `acting_as()` for jobs and commands).
"""

import contextvars
import enum
from contextlib import contextmanager
from datetime import date
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context
from flask import request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import BranchDay
from app.models import ClientSearchKey
from app.models import DashboardLayout
from app.models import DaysCounted
from app.models import DepositsHeld
from app.models import DomainEvent
from app.models import ExportFile
from app.models import LockerWeek
from app.models import Notification
from app.models import PasswordHistory
from app.models import RetentionMonth
from app.models import StaffSession
from app.models import TermsDay
from app.models import User
from app.models import WebAuthn
from app.models import utcnow
from app.services.network import request_address

# Never logged at all.
# Domain events record desk actions that the log already shows as the rows they changed.
# Sign-in bookkeeping: the sign-ins and password changes themselves are logged.
# Notifications are a delivery log of their own; staff acting on one (a retry) is logged.
# Search keys and the deposits held per branch are derived from rows that are logged
# (a client, a deposit line) and written with them.
UNAUDITED_MODELS = (ActivityLog, WebAuthn, DomainEvent, StaffSession, PasswordHistory,
                    Notification, ClientSearchKey, DepositsHeld,
                    # Each user's own files (asking for one is logged as a download) and
                    # their own dashboard's arrangement: no business data.
                    ExportFile, DashboardLayout,
                    # Counts of days that are over, made from the rentals and locker statuses
                    # that are logged (app.services.day_figures).
                    LockerWeek, BranchDay, TermsDay, RetentionMonth, DaysCounted)
# Logged as changed, but never with their values (a gateway attempt's calls: its ledger has them).
SECRET_FIELDS = {"password", "tf_totp_secret", "us_totp_secrets", "fs_uniquifier",
                 "fs_webauthn_user_handle", "mf_recovery_codes", "exchanges"}
# Bookkeeping that changes on every login; a change to only these is not news.
NOISE_FIELDS = {"created_at", "updated_at", "update_datetime", "last_login_at",
                "current_login_at", "last_login_ip", "current_login_ip", "login_count",
                "failed_login_count",
                # What an invoice still owes: kept from its payments and refunds, which are logged.
                "owed_poisha",
                # A gateway attempt's checks and calls: its own ledger keeps them in full.
                "exchanges", "checks", "next_check_at", "refund_started_at"}
MASK = "••••"

_actor = contextvars.ContextVar("audit_actor", default=None)
_paused = contextvars.ContextVar("audit_paused", default=False)


@contextmanager
def acting_as(user_id):
    """Attribute changes made inside the block to `user_id` (jobs, CLI)."""
    token = _actor.set(user_id)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def summarised(action, *, model, summary):
    """Log one entry for a bulk load instead of one per row.

    Only for filling an empty database (demo data): thousands of "created"
    rows would bury the log, and the single entry still says who did it.
    """
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)
    record(action, model=model, summary=summary)


def _plain(value):
    """A JSON-safe form of a column value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return MASK
    return value


def _columns(obj):
    return [attr for attr in inspect(obj).mapper.column_attrs]


def _snapshot(obj):
    """All column values of `obj`, secrets masked."""
    values = {}
    for attr in _columns(obj):
        value = getattr(obj, attr.key)
        values[attr.key] = MASK if attr.key in SECRET_FIELDS and value else _plain(value)
    return values


def _committed_values(session, obj, keys):
    """The database's current values of `keys` for `obj`.

    An attribute that was expired (every commit expires them) and then set has
    no "before" in its history; the row still holds it, so it is read from there.
    """
    mapper = inspect(obj).mapper
    columns = [mapper.get_property(key).columns[0] for key in keys]
    condition = [col == value for col, value in
                 zip(mapper.primary_key, mapper.primary_key_from_instance(obj), strict=True)]
    row = session.connection().execute(sa.select(*columns).where(*condition)).first()
    return dict(zip(keys, row, strict=True)) if row is not None else {}


def _diff(session, obj):
    """{field: [before, after]} for the columns changed in this flush."""
    state = inspect(obj)
    histories = {}
    for attr in _columns(obj):
        history = state.attrs[attr.key].history
        if history.has_changes():
            histories[attr.key] = history
    unknown = [key for key, history in histories.items() if not history.deleted]
    before_values = _committed_values(session, obj, unknown) if unknown else {}
    changes = {}
    for key, history in histories.items():
        before = history.deleted[0] if history.deleted else before_values.get(key)
        after = history.added[0] if history.added else None
        if _plain(before) == _plain(after):
            continue
        changes[key] = [MASK, MASK] if key in SECRET_FIELDS else [_plain(before), _plain(after)]
    return changes


def _who():
    """(user_id, email, ip, user_agent) of whoever is acting now."""
    user_id = _actor.get()
    email = None
    ip = agent = None
    if has_request_context():
        ip = request_address()
        agent = (request.user_agent.string or "")[:255]
        if user_id is None and current_user and current_user.is_authenticated:
            user_id = current_user.id
            email = current_user.email
    return user_id, email, ip or None, agent or None


def _branch_of(obj):
    branch_id = getattr(obj, "branch_id", None)
    if branch_id is None and obj.__class__.__name__ == "Branch":
        branch_id = obj.id
    return branch_id


def record(action, *, model=None, object_id=None, summary=None, changes=None,
           user_id=None, user_email=None, branch_id=None):
    """Add one activity-log entry to the session (committed with the caller's work)."""
    actor_id, actor_email, ip, agent = _who()
    db.session.add(ActivityLog(
        at=utcnow(),
        user_id=user_id if user_id is not None else actor_id,
        user_email=user_email or actor_email,
        action=action,
        model=model,
        object_id=None if object_id is None else str(object_id),
        summary=(summary or "")[:255] or None,
        changes=changes,
        ip=ip,
        user_agent=agent,
        branch_id=branch_id,
    ))


def _summary(obj):
    """How the record reads to a person, or None for a record that has no such text.

    A record without its own __str__ would be logged as Python's repr
    ("<InvoiceLine (pending 1396…)>"); the log shows its type and id instead.
    """
    if type(obj).__str__ is object.__str__:
        return None
    return str(obj)[:255] or None


def _audited(obj):
    return (not _paused.get() and isinstance(obj, db.Model)
            and not isinstance(obj, UNAUDITED_MODELS))


class _FlushEntries:
    """Builds activity rows for one flush with the actor resolved once."""

    def __init__(self, session):
        self.user_id, self.email, self.ip, self.agent = _who()
        if self.user_id is not None and self.email is None:
            actor = session.get(User, self.user_id)
            self.email = actor.email if actor else None

    def row(self, action, obj, changes):
        # New rows are not "persistent" yet in after_flush, but their keys are set.
        identity = inspect(obj).mapper.primary_key_from_instance(obj)
        return {
            "at": utcnow(), "user_id": self.user_id, "user_email": self.email,
            "action": action, "model": obj.__class__.__name__,
            "object_id": str(identity[0]) if identity and identity[0] is not None else None,
            "summary": _summary(obj), "changes": changes, "ip": self.ip,
            "user_agent": self.agent, "branch_id": _branch_of(obj),
        }


@event.listens_for(Session, "before_flush")
def _capture_changes(session, flush_context, instances):
    """Snapshot updates and deletes while their old values are still loaded."""
    entries = _FlushEntries(session)
    pending = session.info.setdefault("audit_pending", [])
    for obj in session.dirty:
        if _audited(obj):
            changes = _diff(session, obj)
            if set(changes) - NOISE_FIELDS:
                pending.append(entries.row(ActivityAction.UPDATE, obj, changes))
    for obj in session.deleted:
        if _audited(obj):
            pending.append(entries.row(ActivityAction.DELETE, obj, _snapshot(obj)))


@event.listens_for(Session, "after_flush")
def _write_log(session, flush_context):
    """Write the activity rows in the same transaction as the change itself.

    Inserts are logged here because only now do new rows have their ids. The
    rows go in with a plain INSERT on the session's connection, which does not
    start another flush.
    """
    rows = session.info.pop("audit_pending", [])
    new = [obj for obj in session.new if _audited(obj)]
    if new:
        entries = _FlushEntries(session)
        rows.extend(entries.row(ActivityAction.CREATE, obj, _snapshot(obj)) for obj in new)
    if rows:
        session.connection().execute(ActivityLog.__table__.insert(), rows)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session):
    """A rolled-back change was never made, so it is not logged."""
    session.info.pop("audit_pending", None)
