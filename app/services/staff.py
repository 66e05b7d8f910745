"""Staff accounts: passwords, their history and their age."""

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from flask_security import hash_password
from flask_security import verify_password
from flask_security.models.fsqla_v3 import FsModels

from app.extensions import db
from app.extensions import security
from app.models import PasswordHistory
from app.models import Role
from app.models import User
from app.models import utcnow
from app.services import settings
from app.services.access import DEFAULT_ROLES
from app.services.access import role_label
from app.services.errors import Refusal
from app.services.transactions import desk_action


class WeakPassword(ValueError):
    """The password breaks the password rules; `messages` says how."""

    def __init__(self, messages):
        super().__init__(" ".join(str(m) for m in messages))
        self.messages = messages


def password_problems(password, user=None):
    """Why `password` breaks the rules (length, zxcvbn strength); empty when it is fine."""
    if user is None:
        problems, _ = security.password_util.validate(password, True)
    else:
        problems, _ = security.password_util.validate(password, False, user=user)
    return [str(p) for p in problems or []]


def set_password(user, password):
    """Check `password` against the rules, store its hash, end the user's sessions.

    Changing fs_uniquifier invalidates every session cookie of the account, so a
    password reset by an admin logs the person out everywhere.
    """
    problems, normalised = security.password_util.validate(password, False, user=user)
    if problems:
        raise WeakPassword(problems)
    user.password = hash_password(normalised)
    security.datastore.set_uniquifier(user)
    password_was_set(user)


def _recent_hashes(user):
    if user.id is None:  # a new account has no history (and must not be flushed half-made)
        return []
    count = settings.get("password_history_count")
    if not count:
        return []
    hashes = db.session.execute(
        db.select(PasswordHistory.password).where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc()).limit(count)
    ).scalars().all()
    # Accounts from before the history was kept still have their current password.
    return hashes or [user.password]


def used_recently(user, password):
    """True if `password` is the current one or among the last password_history_count."""
    return any(verify_password(password, old) for old in _recent_hashes(user) if old)


def password_was_set(user):
    """Remember the password just set on `user` and when; older history beyond the limit goes."""
    now = utcnow()
    user.password_changed_at = now
    if user.id is None:  # a new account: it needs its id before its history row
        db.session.add(user)
        db.session.flush()
    db.session.add(PasswordHistory(user_id=user.id, password=user.password, set_at=now))
    db.session.flush()
    keep = max(settings.get("password_history_count"), 1)
    stale = db.session.execute(
        db.select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.set_at.desc(), PasswordHistory.id.desc()).offset(keep)
    ).scalars().all()
    if stale:
        db.session.execute(db.delete(PasswordHistory).where(PasswordHistory.id.in_(stale)))


def password_expired(user):
    """True when the password_max_age_days setting says `user` must choose a new password."""
    days = settings.get("password_max_age_days")
    set_at = user.password_changed_at or user.create_datetime
    return bool(days) and set_at is not None and set_at + timedelta(days=days) <= utcnow()


class RoleRefused(Refusal):
    """A change to a role that would lose history or lock staff out."""


@desk_action
def delete_role(role_id, *, by_user_id):
    """Delete a role nobody holds; the desk's four roles and one's own are kept.

    A role still held would leave its staff without permissions, and deleting
    one's own would lock the person deleting it out of the very screen.
    """
    role = db.session.get(Role, role_id)
    if role is None:
        raise RoleRefused(_l("That role does not exist."))
    if role.name in DEFAULT_ROLES:
        raise RoleRefused(_l("%(role)s is one of the desk's own roles and cannot be deleted.",
                             role=role_label(role.name)))
    actor = db.session.get(User, by_user_id) if by_user_id is not None else None
    if actor is not None and role in actor.roles:
        raise RoleRefused(_l("You cannot delete a role you hold yourself."))
    holding = FsModels.roles_users  # the user ↔ role link table
    holders = db.session.execute(
        db.select(db.func.count()).select_from(holding).where(holding.c.role_id == role.id)
    ).scalar_one()
    if holders:
        raise RoleRefused(_l("%(count)d staff members have this role. Give them another role "
                             "first.", count=holders))
    db.session.delete(role)
