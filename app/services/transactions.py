"""One transaction per desk action: commit, or roll back whole and say why.

Every service function that changes business data is a desk action:

    @desk_action
    def release(rental_id, *, by_user_id, ...):
        ...

The decorator commits when the function returns, rolls back when it raises,
and turns the database's own refusals into Refusals staff can read (a UNIQUE
constraint that another desk hit first). A deadlock or serialization failure
means another desk was busy with the same rows: the whole action is tried
again from the start, a few times, with a short pause, so the desk sees a
result rather than a database error.

The activity log names the `by_user_id` the action was called with (a job
or a command has no signed-in user).

A desk action called from inside another one (returning a key releases the
rental) joins the caller's transaction: only the outermost commits, and a
refusal anywhere undoes everything.

SQLite has no row locks and its Python driver does not even begin a
transaction before the first write, so two desks could both read "Active"
and both act on it. There the outermost action starts by taking SQLite's
write lock (a first statement that writes and changes nothing), so desks
queue one behind the other and each reads what the previous one committed.
PostgreSQL and MariaDB lock the rows the action touches (app.services.locking).
"""

import functools
import random
import time

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.extensions import db
from app.models import Setting
from app.services import audit
from app.services.errors import Refusal

ATTEMPTS = 4
_DEPTH = "desk_action_depth"
# Constraint (or column) names in a database error → the refusal staff see.
_CONSTRAINT_REFUSALS = {}


def refuse_on_constraint(name, message, field=None):
    """When the database refuses a write on constraint `name`, tell staff `message` instead.

    `name` is matched against the error text, which names the constraint on
    PostgreSQL and MariaDB and the table.column on SQLite: register both.
    """
    _CONSTRAINT_REFUSALS[name] = (message, field)




def desk_action(func):
    """Run `func` as one desk action: one transaction, committed or rolled back whole."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        session = db.session()
        if session.info.get(_DEPTH):
            session.info[_DEPTH] += 1
            try:
                return func(*args, **kwargs)
            finally:
                session.info[_DEPTH] -= 1
        for attempt in range(1, ATTEMPTS + 1):
            session.info[_DEPTH] = 1
            try:
                # The activity log names who acted, in a job or a command as in a request.
                with audit.acting_as(kwargs.get("by_user_id")):
                    start_afresh()
                    result = func(*args, **kwargs)
                    session.commit()
                return result
            except IntegrityError as exc:
                session.rollback()
                refusal = _refusal_for(exc)
                if refusal is None:
                    raise
                raise refusal from exc
            except DBAPIError as exc:
                session.rollback()
                if attempt == ATTEMPTS or not is_retryable(exc):
                    raise
            except BaseException:
                session.rollback()
                raise
            finally:
                session.info.pop(_DEPTH, None)
            # Another desk held the rows: let it finish, then start again from scratch.
            time.sleep(0.05 * attempt + random.random() * 0.05)
        raise AssertionError("unreachable")

    return run


def start_afresh():
    """Start the action from fresh data; on SQLite also become the one writer now.

    A transaction that has only read so far is ended first, so the action does
    not reason from an old snapshot (MariaDB's REPEATABLE READ keeps the one of
    the first read). See the module's docstring for SQLite.
    """
    session = db.session()
    if session.in_transaction() and (session.new or session.dirty or session.deleted):
        session.flush()
    elif session.in_transaction():
        session.commit()
    if session.get_bind().dialect.name != "sqlite":
        return
    # Any table will do; the settings table exists on every install from the first migration.
    session.execute(sa.update(Setting).where(sa.false()).values(key=Setting.key))


def is_retryable(exc):
    """A deadlock, a serialization failure or a busy database: trying again will do."""
    original = getattr(exc, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):          # PostgreSQL
        return True
    code = original.args[0] if original is not None and original.args else None
    if code in (1205, 1213):                     # MariaDB: lock wait timeout, deadlock
        return True
    return "database is locked" in str(original)  # SQLite past its busy timeout


def _refusal_for(exc):
    text = str(getattr(exc, "orig", exc))
    for name, (message, field) in _CONSTRAINT_REFUSALS.items():
        if name in text:
            return Refusal(message, field)
    return None


# Ids sent in one IN (...) list: SQLite and MariaDB limit a statement's size.
IDS_PER_STATEMENT = 500


def in_slices(ids):
    """`ids` (any iterable, its order kept) as lists of at most IDS_PER_STATEMENT."""
    ids = list(ids)
    return [ids[start:start + IDS_PER_STATEMENT] for start in range(0, len(ids), IDS_PER_STATEMENT)]


def show_kept_values(session, model, ids, *columns):
    """Make the objects of `model` with `ids` that the session holds show `columns` as the
    database now has them.

    For values a flush hook keeps with an UPDATE of its own (an invoice's amount
    owed, a client's inactivity): the UPDATE goes around the session, whose
    objects would otherwise go on saying the old value until they are read again.
    """
    held = {}
    for row_id in ids:
        obj = session.identity_map.get(identity_key(model, row_id))
        if obj is not None:
            held[row_id] = obj
    for ids_slice in in_slices(sorted(held)):
        for row_id, *values in session.connection().execute(
                sa.select(model.id, *columns).where(model.id.in_(ids_slice))):
            for column, value in zip(columns, values, strict=True):
                set_committed_value(held[row_id], column.key, value)
