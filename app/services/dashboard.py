"""Each user's dashboard arrangement (SPEC D3): which widgets, in what order, at what size.

The widgets themselves (what each shows, who may see it) are the screens'
business (admin_views.dashboard); here is only what a user saved, checked
against the widgets they may see, so a forged layout cannot add a widget a
role may not see and a widget whose permission was taken away disappears.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import DashboardLayout
from app.services.errors import Refusal

SIZES = ("s", "m", "l")
# More than every widget twice over: a layout is a short list, never a payload.
MAX_WIDGETS = 40


class LayoutRefused(Refusal):
    """The layout sent cannot be saved (an unknown widget, a size that does not exist)."""


def layout_of(user_id, allowed, default):
    """[{"key", "size"}] the user sees: what they saved, or `default`, limited to `allowed` keys."""
    saved = db.session.get(DashboardLayout, user_id)
    widgets = saved.widgets if saved is not None else default
    return [dict(item) for item in widgets if item.get("key") in allowed]


def save_layout(user_id, items, allowed):
    """Keep `items` ([{"key", "size"}]) as the user's layout; returns what was saved.

    Refuses, saving nothing, a widget the user may not see, one twice, or a size
    that is not small, medium or large.
    """
    if not isinstance(items, list) or len(items) > MAX_WIDGETS:
        raise LayoutRefused(_l("The dashboard layout could not be read."))
    cleaned, seen = [], set()
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        if not isinstance(key, str) or key not in allowed:
            raise LayoutRefused(_l("That widget is not one you may add."))
        if key in seen:
            raise LayoutRefused(_l("A widget can be on the dashboard once."))
        if size not in SIZES:
            raise LayoutRefused(_l("A widget is small, medium or large."))
        seen.add(key)
        cleaned.append({"key": key, "size": size})
    # Two tabs saving at once: the last one wins, as when one tab saves after the other.
    for _attempt in range(2):
        saved = db.session.get(DashboardLayout, user_id)
        if saved is None:
            db.session.add(DashboardLayout(user_id=user_id, widgets=cleaned))
        else:
            saved.widgets = cleaned
        try:
            db.session.commit()
            break
        except IntegrityError:  # the other tab's first save came in between
            db.session.rollback()
    return cleaned


def reset_layout(user_id):
    """Forget the user's arrangement: they see their role's default again."""
    db.session.execute(db.delete(DashboardLayout).where(DashboardLayout.user_id == user_id))
    db.session.commit()
