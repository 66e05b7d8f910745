"""Menu categories shared by the admin's areas, and which pages a user may be sent to."""

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

LOCKERS = _l("Lockers")
MONEY = _l("Money")
MESSAGES = _l("Messages")
SYSTEM = _l("System")
# Menus kept per process (menu_drawn_once): pages × languages × distinct permission sets.
MENUS_KEPT = 1000


def admin_view(endpoint):
    """The admin view registered as `endpoint` ("keys", or "keys.details_view"), or None."""
    name = endpoint.split(".", 1)[0]
    admin = current_app.extensions["admin"][0]
    return next((view for view in admin._views if view.endpoint == name), None)


def may_open(endpoint):
    """True if the current user may open the admin page `endpoint` ("keys.details_view").

    The menu shows a view only when its is_accessible() says yes; a link inside
    a page asks the same question here, so no page links to a 403.
    """
    view = admin_view(endpoint)
    return view is not None and view.is_accessible()


def menu_drawn_once(admin_view, draw):
    """The main menu (`draw`, the layout's macro) of this page for the signed-in user.

    Each of the menu's forty items asks for its permission, its link and its name in
    the reader's language: a tenth of a list page's time. What it draws depends on
    nothing else than the page (which item is active), the language and the user's
    permissions, so it is drawn once per such key in each process and kept; a change
    of a role's permissions is a new key.
    """
    if not current_user.is_authenticated:
        return draw()
    key = (admin_view.endpoint, str(get_locale()), current_user.is_active,
           frozenset().union(*(role.get_permissions() for role in current_user.roles)))
    drawn = current_app.extensions.setdefault("desk_menus", {})
    if key not in drawn:
        if len(drawn) >= MENUS_KEPT:
            drawn.clear()
        drawn[key] = str(draw())
    return Markup(drawn[key])
