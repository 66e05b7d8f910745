"""Physical keys: their history (SPEC K1). Handover rules come with the rental flow."""

from app.extensions import db
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind


def record_event(key_id, kind, *, by_user_id, client_id=None, note=None):
    """Add one event to a key's history. The caller commits."""
    key = db.session.get(Key, key_id)
    event = KeyEvent(key=key, kind=kind, staff_id=by_user_id, client_id=client_id,
                     note=(note or "").strip()[:255] or None)
    db.session.add(event)
    return event


def key_added(key_id, *, by_user_id):
    """Record that a new key tag (or spare) was registered."""
    event = record_event(key_id, KeyEventKind.ADDED, by_user_id=by_user_id)
    db.session.commit()
    return event
