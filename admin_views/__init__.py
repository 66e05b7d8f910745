"""The admin: every screen of the desk, built per app by init_admin()."""

from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin_views import analytics
from admin_views import backups
from admin_views import billing
from admin_views import client_card
from admin_views import documents
from admin_views import exports
from admin_views import grid
from admin_views import imports
from admin_views import key_desk
from admin_views import lost_found
from admin_views import maintenance
from admin_views import messages
from admin_views import pricing
from admin_views import privacy
from admin_views import queues
from admin_views import registration
from admin_views import rental_desk
from admin_views import reports
from admin_views import waitlist
from admin_views.activity import ActivityLogView
from admin_views.menu import LOCKERS
from admin_views.menu import MONEY
from admin_views.menu import SYSTEM
from admin_views.menu import may_open
from admin_views.menu import menu_drawn_once
from admin_views.pages import HomeView
from admin_views.people import ClientView
from admin_views.people import PaymentView
from admin_views.people import RentalView
from admin_views.places import BranchView
from admin_views.places import FloorView
from admin_views.places import KeyView
from admin_views.places import LockerCategoryView
from admin_views.places import LockerView
from admin_views.places import ZoneView
from admin_views.settings import SettingsView
from admin_views.staff import RoleView
from admin_views.staff import UserView
from app.extensions import db
from app.headers import csp_nonce
from app.models import ActivityLog
from app.models import Branch
from app.models import Client
from app.models import Floor
from app.models import Key
from app.models import Locker
from app.models import LockerCategory
from app.models import Payment
from app.models import Rental
from app.models import Role
from app.models import User
from app.models import Zone


def init_admin(app):
    """Build the Admin for `app` and add every view (never a module-level Admin)."""
    admin = Admin(
        app,
        name=_l("Locker desk"),
        index_view=HomeView(name=_l("Home"), url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/desk_base.html", swatch="flatly",
                              fluid=True),
        translations_path=app.config["BABEL_TRANSLATION_DIRECTORIES"],
        csp_nonce_generator=csp_nonce,
    )
    admin.add_view(ClientView(Client, db, name=_l("Clients"), endpoint="clients"))
    admin.add_view(LockerView(Locker, db, name=_l("Lockers"), category=LOCKERS,
                              endpoint="lockers"))
    admin.add_view(KeyView(Key, db, name=_l("Keys"), category=LOCKERS, endpoint="keys"))
    admin.add_view(LockerCategoryView(LockerCategory, db, name=_l("Locker categories"),
                                      category=LOCKERS, endpoint="locker_categories"))
    admin.add_view(BranchView(Branch, db, name=_l("Branches"), category=LOCKERS,
                              endpoint="branches"))
    admin.add_view(FloorView(Floor, db, name=_l("Floors"), category=LOCKERS, endpoint="floors"))
    admin.add_view(ZoneView(Zone, db, name=_l("Zones"), category=LOCKERS, endpoint="zones"))
    admin.add_view(RentalView(Rental, db, name=_l("Rentals"), endpoint="rentals"))
    admin.add_view(PaymentView(Payment, db, name=_l("Payments"), category=MONEY,
                               endpoint="payments"))
    admin.add_view(UserView(User, db, name=_l("Staff"), category=SYSTEM, endpoint="users"))
    admin.add_view(RoleView(Role, db, name=_l("Roles"), category=SYSTEM, endpoint="roles"))
    admin.add_view(SettingsView(name=_l("Settings"), category=SYSTEM, endpoint="settings"))
    admin.add_view(ActivityLogView(ActivityLog, db, name=_l("Activity log"), category=SYSTEM,
                                   endpoint="activity"))
    # Pages link to other pages only when the reader may open them (no link to a 403).
    app.add_template_global(may_open, "may_open")
    app.add_template_global(menu_drawn_once, "menu_drawn_once")
    # Areas that bring several screens register their own.
    for area in (grid, rental_desk, key_desk, waitlist, registration, maintenance, lost_found,
                 analytics, imports, pricing, billing, documents, messages, queues, backups,
                 privacy, client_card, exports, reports):
        area.register(admin)
    return admin
