"""Physical keys (SPEC K1): their tags, their registry and their history.

The rules of a key tag live here and only here: what a tag may look like,
that no two keys share one (whatever the case), and the printed tag a
locker's first key gets. Issuing, returning and losing keys are the key
handover's desk actions (app.services.handover).
"""

import re

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import KeyState
from app.models import Locker
from app.services import events
from app.services.access import branch_record
from app.services.errors import Refusal
from app.services.transactions import desk_action

MAX_TAG_LENGTH = 40


class KeyRegistryError(Refusal):
    """A key registry change the rules refuse; `field` names the form field."""


def key_tag_for(branch, number):
    """The printed tag of a locker's first key, unique across branches: "K-DHN-M-001"."""
    return f"K-{branch.code}-{number}"


def clean_tag(text):
    """A key tag as typed, trimmed and upper-cased; refuses empty, spaced or long tags."""
    tag = str(text or "").strip().upper()
    if not tag:
        raise KeyRegistryError(_l("Enter the new key's tag."), "tag")
    if len(tag) > MAX_TAG_LENGTH or re.search(r"\s", tag):
        raise KeyRegistryError(_l("A key tag has at most %(count)d characters and no spaces.",
                           count=MAX_TAG_LENGTH), "tag")
    return tag


def check_tag_free(tag, *, except_key_id=None):
    """Refuse a tag another key already has (tags are compared without case)."""
    query = db.select(Key).where(db.func.upper(Key.tag) == tag.upper())
    if except_key_id is not None:
        query = query.where(Key.id != except_key_id)
    other = db.session.execute(query.limit(1)).scalar_one_or_none()
    if other is not None:
        raise KeyRegistryError(_l("Key tag %(tag)s is already in use.", tag=other.tag), "tag")


def check_tags_free(tags):
    """Refuse new tags (upper-case, as clean_tag() makes them) that keys already have."""
    tags = sorted(set(tags))
    for start in range(0, len(tags), 1000):
        chunk = tags[start:start + 1000]
        other = db.session.execute(db.select(Key.tag).where(db.func.upper(Key.tag).in_(chunk))
                                   .limit(1)).scalar_one_or_none()
        if other is not None:
            raise KeyRegistryError(_l("Key tag %(tag)s is already in use.", tag=other), "tag")


def suggested_tag(locker):
    """A free tag for a locker's replacement key: "K-DHN-M-001-R1", "-R2", …"""
    base = key_tag_for(locker.branch, locker.number)
    taken = {tag.upper() for tag in db.session.execute(
        db.select(Key.tag).where(db.func.upper(Key.tag).like(f"{base.upper()}%"))).scalars()}
    n = 1
    while f"{base}-R{n}".upper() in taken:
        n += 1
    return f"{base}-R{n}"[:MAX_TAG_LENGTH]


def record_event(key_id, kind, *, by_user_id, client_id=None, note=None):
    """Add one event to a key's history. The caller's transaction saves it."""
    key = db.session.get(Key, key_id)
    event = KeyEvent(key=key, kind=kind, staff_id=by_user_id, client_id=client_id,
                     note=(note or "").strip()[:255] or None)
    db.session.add(event)
    return event


def _locker(locker_id, by_user_id):
    return branch_record(Locker, locker_id, by_user_id, refusal=KeyRegistryError,
                         missing=_l("Choose a locker."),
                         elsewhere=_l("This locker belongs to another branch."), field="locker")


@desk_action
def add_key(data, *, by_user_id):
    """Register a key tag (a spare, or a replacement cut outside the re-key flow) for a locker.

    `data`: locker_id, tag, is_spare, notes. The key starts In office with an
    ADDED event in its history.
    """
    locker = _locker(data.get("locker_id"), by_user_id)
    tag = clean_tag(data.get("tag"))
    check_tag_free(tag)
    key = Key(locker=locker, tag=tag, is_spare=bool(data.get("is_spare")),
              notes=(data.get("notes") or "").strip()[:255] or None, state=KeyState.IN_OFFICE)
    db.session.add(key)
    db.session.flush()
    record_event(key.id, KeyEventKind.ADDED, by_user_id=by_user_id)
    _announce(key, by_user_id)
    return key


def _announce(key, by_user_id):
    """The key registry changed for a locker: its panel lists the keys."""
    locker = key.locker
    events.record(events.KEY_REGISTERED, branch_id=locker.branch_id, locker_id=locker.id,
                  by_user_id=by_user_id, key_id=key.id, tag=key.tag)


@desk_action
def update_key(key_id, data, *, by_user_id):
    """Correct a key's tag, spare flag or notes; it moves to another locker only while In office."""
    key = db.session.get(Key, key_id, with_for_update=True, populate_existing=True)
    if key is None:
        raise KeyRegistryError(_l("That key does not exist."))
    _locker(key.locker_id, by_user_id)
    locker = _locker(data.get("locker_id", key.locker_id), by_user_id)
    if locker.id != key.locker_id and key.state is not KeyState.IN_OFFICE:
        raise KeyRegistryError(_l("Key %(tag)s is %(state)s; only a key in the office can move to "
                           "another locker.", tag=key.tag, state=key.state.label), "locker")
    tag = clean_tag(data.get("tag", key.tag))
    check_tag_free(tag, except_key_id=key.id)
    if locker.id != key.locker_id:
        record_event(key.id, KeyEventKind.ADDED, by_user_id=by_user_id,
                     note=f"moved to locker {locker.number}")
    key.locker, key.tag = locker, tag
    key.is_spare = bool(data.get("is_spare", key.is_spare))
    key.notes = (data.get("notes") or "").strip()[:255] or None
    db.session.flush()
    _announce(key, by_user_id)
    return key


@desk_action
def delete_key(key_id, *, by_user_id):
    """Remove a key tag registered by mistake; a key that was ever handed out keeps its history.

    A key with events beyond being added is refused: retire it by re-keying its locker.
    """
    key = db.session.get(Key, key_id, with_for_update=True, populate_existing=True)
    if key is None:
        raise KeyRegistryError(_l("That key does not exist."))
    _locker(key.locker_id, by_user_id)
    used = db.session.execute(db.select(KeyEvent.id).where(
        KeyEvent.key_id == key.id, KeyEvent.kind != KeyEventKind.ADDED).limit(1)).first()
    if used is not None or key.state is not KeyState.IN_OFFICE:
        raise KeyRegistryError(_l("Key %(tag)s has a history; re-key its locker to retire it.",
                                  tag=key.tag))
    db.session.execute(db.delete(KeyEvent).where(KeyEvent.key_id == key.id))
    _announce(key, by_user_id)
    db.session.delete(key)
