"""Menu categories shared by the admin's areas."""

from flask_babel import lazy_gettext as _l

LOCKERS = _l("Lockers")
MONEY = _l("Money")
SYSTEM = _l("System")
