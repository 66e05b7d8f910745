"""Menu categories shared by the admin's areas, and which pages a user may be sent to."""

from flask import current_app
from flask_babel import lazy_gettext as _l

LOCKERS = _l("Lockers")
MONEY = _l("Money")
MESSAGES = _l("Messages")
SYSTEM = _l("System")


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
