"""Does every role see exactly its modules, checked on the server?"""

import pytest

from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Campaign
from app.models import Channel
from app.models import Coupon
from app.models import CouponKind
from app.models import DepositEntry
from app.models import DepositEntryKind
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Gateway
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Key
from app.models import Language
from app.models import LockerCategory
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import MessageKind
from app.models import MessageTemplate
from app.models import Notification
from app.models import Payment
from app.models import PriceRule
from app.models import Rental
from app.models import RentalTerm
from app.models import Role
from app.models import Setting
from app.models import Tag
from app.models import TermsVersion
from app.models import User
from app.models import WaitlistEntry
from app.models import utcnow
from app.services.access import DEFAULT_ROLES
from tests.factories import ROLES


def _records(desk):
    """One record of every model, so detail and edit pages have something to open."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    rental = Rental(branch=locker.branch, locker=locker, client=client, term=RentalTerm.MONTHLY,
                    days=30, starts_at=utcnow(), ends_at=utcnow(), price_poisha=80000)
    key = Key(locker=locker, tag="K-WALK")
    db.session.add_all([rental, key])
    records = [
        LockerCategory(name="Premium"),
        key,
        rental,
        DepositEntry(branch=locker.branch, client=client, rental=rental, key=key,
                     kind=DepositEntryKind.TAKEN, amount_poisha=50000),
        WaitlistEntry(branch=locker.branch, client=client, zone=locker.zone),
        PriceRule(term=RentalTerm.MONTHLY, price_poisha=80000, effective_from=utcnow().date()),
        DiscountRule(name="Yearly", kind=DiscountKind.TERM, term=RentalTerm.YEARLY,
                     percent_bp=1000),
        Coupon(code="EID", kind=CouponKind.PERCENT, percent_bp=500),
        Invoice(number="INV-WALK-1", branch=locker.branch, client=client, rental=rental,
                due_on=utcnow().date(), subtotal_poisha=80000, total_poisha=80000),
        Payment(branch=locker.branch, client=client, rental=rental, amount_poisha=80000),
        ActivityLog(action=ActivityAction.LOGIN, model="User"),
        Tag(name="VIP"),
        TermsVersion(version=1, title="Locker rules", body="Lockers are emptied after expiry."),
        MaintenanceTicket(branch=locker.branch, locker=locker, description="Loose hinge"),
        LostItem(branch=locker.branch, locker=locker, description="Towel",
                 cleaned_out_on=utcnow().date()),
        MessageTemplate(kind=MessageKind.WELCOME, channel=Channel.SMS, language=Language.ENGLISH,
                        body="Welcome {{ client_name }}"),
        Notification(dedupe_key="walk", kind=MessageKind.WELCOME, channel=Channel.SMS,
                     language=Language.ENGLISH, branch=locker.branch, client=client),
        Campaign(name="Eid", channel=Channel.SMS, branch=locker.branch, body_bn="ঈদ মোবারক",
                 body_en="Eid Mubarak"),
    ]
    db.session.add_all(records)
    db.session.flush()
    invoice = next(r for r in records if isinstance(r, Invoice))
    records.append(GatewayTransaction(gateway=Gateway.BKASH, invoice=invoice, branch=locker.branch,
                                      client=client, reference="LDWALK", amount_poisha=80000,
                                      exchanges=[{"call": "create", "sent": {"amount": "800.00"}}]))
    db.session.add(records[-1])
    db.session.commit()
    by_model = {type(r): r for r in records}
    by_model.update({type(locker): locker, type(client): client, type(locker.branch): locker.branch,
                     type(locker.zone): locker.zone, type(locker.zone.floor): locker.zone.floor})
    by_model[Role] = db.session.execute(db.select(Role)).scalars().first()
    by_model[Setting] = db.session.get(Setting, "grace_period_days")
    by_model[User] = db.session.execute(db.select(User)).scalars().first()
    return {model: record.key if model is Setting else record.id
            for model, record in by_model.items()}


def _expected(role, module, action, view=None):
    """Whether the permission table gives `role` the permission the view needs for `action`."""
    permission = view.permission_for(action) if view is not None else f"{module}-{action}"
    return permission in DEFAULT_ROLES[role][1]


# The permission table is the app's; PostgreSQL stands for the strict server databases.
@pytest.mark.databases("sqlite", "postgresql")
@pytest.mark.parametrize("role", ROLES)
def test_every_admin_endpoint_answers_per_the_permission_table(app, desk, role):
    """Each role gets 200 where the table grants the permission and 403 elsewhere."""
    browser = desk.login_as(role)
    ids = _records(desk)
    admin = app.extensions["admin"][0]
    assert browser.get("/admin/").status_code == 200
    checked = 0
    for view in admin._views:
        if view is admin.index_view:
            continue
        if isinstance(view, SecuredView):
            status = browser.get(view.url + "/").status_code
            # A page of the user's own things (OwnPagesView) opens for every role.
            if view.permission_module is None or _expected(role, view.permission_module,
                                                           view.permission_action):
                # A page that needs a record to show (a profile) may send you back.
                assert status in (200, 302), (role, view.endpoint, status)
            else:
                assert status == 403, (role, view.endpoint, status)
            checked += 1
            continue
        assert isinstance(view, SecuredModelView), f"{view} is not secured"
        module = view.permission_module
        may_view = _expected(role, module, "view", view)
        record_id = ids[view.model]
        cases = [
            ("GET", "/", may_view),
            ("GET", f"/details/?id={record_id}", may_view),
            ("GET", "/export/csv/", may_view),
            ("GET", "/new/", may_view and view.allow_create
             and _expected(role, module, "create", view)),
            ("GET", f"/edit/?id={record_id}", may_view and view.allow_edit
             and _expected(role, module, "edit", view)),
            # A missing id: an allowed delete gets past the permission check and then
            # finds nothing, so no record is harmed by the walk.
            ("POST", "/delete/", may_view and view.allow_delete
             and _expected(role, module, "delete", view)),
        ]
        for method, path, allowed in cases:
            url = view.url + path
            if method == "GET":
                status = browser.get(url).status_code
                expected = 200 if allowed else 403
                # Clients are made on the register page only; the list's Create leads there.
                if allowed and view.endpoint == "clients" and path == "/new/":
                    expected = 302
                assert status == expected, (role, method, url, status)
            else:
                status = browser.post(url, data={"id": "999999"}).status_code
                assert status == (302 if allowed else 403), (role, method, url, status)
            checked += 1
    assert checked > 60


def test_front_desk_is_refused_staff_roles_settings_and_money_reports(desk):
    """Front Desk gets a 403 (not a hidden link) for users, roles, settings, reports."""
    browser = desk.login_as("Front Desk")
    for url in ("/admin/users/", "/admin/roles/", "/admin/settings/", "/admin/reports/",
                "/admin/users/new/", "/admin/activity/"):
        assert browser.get(url).status_code == 403, url


def test_menu_shows_only_the_modules_a_role_may_open(desk):
    """The Accountant's menu has Payments and the report but not Staff or Settings."""
    page = desk.login_as("Accountant").get("/admin/").get_data(as_text=True)
    assert "/admin/payments/" in page and "/admin/reports/" in page
    assert "/admin/users/" not in page and "/admin/settings/" not in page


def test_anonymous_visitors_are_sent_to_login(client):
    """Nobody reaches an admin page without logging in."""
    for url in ("/admin/", "/admin/clients/", "/admin/activity/", "/admin/reports/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_a_forged_post_to_a_read_only_log_is_refused(desk):
    """Even a Super Admin cannot edit or delete activity-log rows."""
    entry = ActivityLog(action=ActivityAction.LOGIN, model="User")
    db.session.add(entry)
    db.session.commit()
    browser = desk.login_as("Super Admin")
    assert browser.post(f"/admin/activity/edit/?id={entry.id}", data={}).status_code == 403
    assert browser.post("/admin/activity/delete/", data={"id": entry.id}).status_code == 403
    assert db.session.get(ActivityLog, entry.id) is not None
