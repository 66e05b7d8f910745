"""Clients, rentals and payments as lists the desk and the accountant work from."""

import sqlalchemy as sa
from flask import flash
from flask import has_request_context
from flask import redirect
from flask import url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.model.template import EndpointLinkRowAction
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import defaultload
from wtforms.validators import Optional

from admin_views.base import SecuredModelView
from admin_views.base import ServiceModelView
from admin_views.base import parse_id
from admin_views.filters import branch_day_filters
from admin_views.labels import COLUMN_LABELS
from admin_views.maintenance import client_loader
from app.extensions import db
from app.i18n import local_datetime
from app.i18n import money
from app.i18n import number
from app.models import Client
from app.models import Locker
from app.models import Payment
from app.models import Rental
from app.models import Tag
from app.services import billing
from app.services import client_search
from app.services import clients
from app.services import notifications
from app.services import rentals
from app.services.access import CREATE
from app.services.access import can
from app.services.errors import Refusal
from app.services.exports import taka_cell


def _money_column(view, context, model, name):
    return money(getattr(model, name))


def _taka_export(view, context, model, name):
    return taka_cell(getattr(model, name))


def _profile_link(view, context, model, name):
    """The client's name, linking to their profile page."""
    return Markup('<a href="%s">%s</a>') % (view.get_url("client_profile.index", id=model.id),
                                           model.full_name)


class ClientTagFilter(BaseSQLAFilter):
    """Clients with a given tag."""

    def __init__(self):
        super().__init__(Client.id, _l("Tag"), options=self._tags)

    @staticmethod
    def _tags():
        # Flask-Admin also asks while the app is being built; only a request has tags to show.
        if not has_request_context():
            return []
        return [(str(tag.id), tag.local_name) for tag in
                db.session.execute(db.select(Tag).order_by(Tag.name)).scalars()]

    def clean(self, value):
        # A value that is not a tag id is flashed as invalid (BaseFilter.validate).
        tag_id = parse_id(value)
        if tag_id is None:
            raise ValueError(value)
        return tag_id

    def apply(self, query, value, alias=None):
        return query.filter(client_search.tag_condition(value))

    def operation(self):
        return _l("equals")


class PaymentStateFilter(BaseSQLAFilter):
    """Has dues / paid / overdue, as defined in app.services.client_search."""

    def __init__(self):
        super().__init__(Client.id, _l("Payment state"), options=[
            (client_search.DUES, _l("Has dues")), (client_search.PAID, _l("Paid up")),
            (client_search.OVERDUE, _l("Overdue"))])

    def clean(self, value):
        if value not in (client_search.DUES, client_search.PAID, client_search.OVERDUE):
            raise ValueError(value)
        return value

    def apply(self, query, value, alias=None):
        return query.filter(client_search.payment_state_condition(value))

    def operation(self):
        return _l("is")


class SendsReminders:
    """The "Send reminder now" list action: the user's rows, each through the service."""

    def send_reminders(self, ids, remind):
        """Call `remind(row id, by_user_id=…)` for each chosen row the user may see; how many sent."""
        wanted = [row_id for row_id in ids if row_id is not None]
        mine = [row.id for row in self.get_query().filter(self.model.id.in_(wanted))]
        sent = 0
        for row_id in mine:
            try:
                sent += bool(remind(row_id, by_user_id=current_user.id))
            except Refusal as exc:
                flash(str(exc.message), "error")
        notifications.enqueue_after_commit()
        return sent

    def is_action_allowed(self, name):
        # Sending messages is the messages module's permission, whatever list it is run from.
        if name == "remind":
            return can(current_user, "messages", CREATE)
        return super().is_action_allowed(name)


def _rentals_found(text):
    """A client's rentals, or every rental of the locker whose number was typed."""
    locker = sa.select(Locker.id).where(Locker.number == text.strip().upper())
    return client_search.rows_found(Rental.id, text, locker=Rental.locker_id.in_(locker))


def _payments_found(text):
    """A client's payments, or the payment with the reference typed."""
    return client_search.rows_found(
        Payment.id, text, reference=client_search.typed_exactly(Payment.reference, text))


class ClientView(SendsReminders, ServiceModelView):
    """Gym members. Never deleted: they become Inactive or Banned.

    Edits go through clients.update_client, the same checks as registration;
    a new client is registered on the registration page (signature, photo, ID
    scan), which the list's "Create" opens.
    """

    permission_module = "clients"
    update_service = staticmethod(clients.update_client)
    column_list = ["full_name", "phone", "email", "gender", "status", "tier", "branch",
                   "registered_at"]
    column_searchable_list = ["full_name", "phone", "email", "nid"]
    column_filters = ["status", "gender", "tier",
                      *branch_day_filters(Client.registered_at, Client.branch_id,
                                          COLUMN_LABELS["registered_at"]),
                      "branch.name", ClientTagFilter(), PaymentStateFilter()]
    column_default_sort = ("registered_at", True)
    column_formatters = {"full_name": _profile_link}
    # Exports keep the plain name (Flask-Admin would otherwise reuse the link).
    column_formatters_export = {}
    # The rental after which a client went inactive is bookkeeping for the report.
    column_details_exclude_list = ["photo_path", "id_scan_path", "inactive_rental_id"]
    column_export_exclude_list = ["photo_path", "id_scan_path", "inactive_rental_id"]
    form_columns = ["branch", "full_name", "phone", "email", "nid", "gender", "date_of_birth",
                    "address", "emergency_contact_name", "emergency_contact_phone", "tier",
                    "referred_by", "preferred_language", "opt_in_email", "opt_in_sms",
                    "opt_in_whatsapp", "status", "ban_reason", "notes"]
    # Phones and NIDs are normalised and checked for duplicates by the service, which
    # names the other client; the form only collects what was typed.
    form_args = {"email": {"validators": [Optional()]}}
    form_ajax_refs = {"referred_by": client_loader("referred_by")}
    # One rule for the search box (phone in any format, locker number, name …).
    search_condition = staticmethod(client_search.search_condition)

    @property
    def can_create(self):
        # There is no create_service: clients are created by registration only. The
        # list still offers "Create" to whoever may register clients, and it leads there.
        return self.allow_create and self.allowed(CREATE)

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        """Send "Create" to the registration page, the one door for new clients."""
        return redirect(url_for("register_client.index"))

    @action("remind", _l("Send reminder now"),
            _l("Send each selected client the reminder of every locker they hold now?"))
    def action_remind(self, ids):
        sent = self.send_reminders(ids, notifications.remind_client_now)
        if sent:
            flash(_("Reminders on their way to %(count)s client(s).", count=number(sent)),
                  "success")



class RentalView(SendsReminders, SecuredModelView):
    """Rental history. Rentals are opened and closed by the rental flow, not typed in."""

    permission_module = "rentals"
    allow_create = allow_edit = allow_delete = False
    column_list = ["locker", "client", "term", "starts_at", "ends_at", "status", "price_poisha",
                   "branch"]
    column_searchable_list = ["locker.number", "client.full_name", "client.phone"]
    search_condition = staticmethod(_rentals_found)
    # Days are the branch's (R4: "expires today" means today in Dhaka, not in UTC).
    column_filters = ["status", "term",
                      *branch_day_filters(Rental.ends_at, Rental.branch_id,
                                          COLUMN_LABELS["ends_at"]),
                      *branch_day_filters(Rental.starts_at, Rental.branch_id,
                                          COLUMN_LABELS["starts_at"]),
                      "branch.name"]
    column_sortable_list = ["term", "starts_at", "ends_at", "status", "price_poisha",
                            ("locker", "locker.number"), ("client", "client.full_name")]
    column_default_sort = ("starts_at", True)
    column_formatters = {"price_poisha": _money_column}
    column_formatters_export = {"price_poisha": _taka_export}

    def get_list_row_actions(self):
        # The rental's invoice, its payment and printing are on its summary page.
        return [*super().get_list_row_actions(),
                EndpointLinkRowAction("fa fa-file-text-o", "rental_desk.summary_view",
                                      id_arg="rental_id", title=_l("Invoice"))]

    @action("remind", _l("Send reminder now"),
            _l("Send each selected client the reminder of their rental now?"))
    def action_remind(self, ids):
        sent = self.send_reminders(ids, notifications.remind_now)
        if sent:
            flash(_("Reminders on their way for %(count)s rental(s).", count=number(sent)),
                  "success")

    @action("renew", _l("Renew"), _l("Renew each selected rental for one more term?"))
    def action_renew(self, ids):
        mine = [rental.id for rental in self.get_query().filter(
            Rental.id.in_([int(i) for i in ids if str(i).isdigit()]))]
        results = rentals.bulk_renew(mine, by_user_id=current_user.id)
        renewed = [renewal for _rental_id, renewal, _refusal in results if renewal is not None]
        if renewed:
            flash(_("%(count)d rentals renewed.", count=len(renewed)), "success")
        for rental_id, renewal, refusal in results:
            if renewal is None:
                flash(_("Rental #%(id)s was not renewed: %(reason)s", id=rental_id,
                        reason=refusal), "error")
                continue
            invoice = billing.invoice_of(renewal.id)
            flash(_("Locker %(number)s: renewed until %(date)s, invoice %(invoice)s for "
                    "%(amount)s.", number=renewal.locker.number,
                    date=local_datetime(renewal.ends_at), invoice=invoice.number,
                    amount=money(invoice.total_poisha)), "success")


class PaymentView(SecuredModelView):
    """Money received. Payments are never edited; refunds are separate records."""

    permission_module = "payments"
    allow_create = allow_edit = allow_delete = False
    column_list = ["paid_at", "client", "rental", "amount_poisha", "method", "status",
                   "reference", "branch"]
    column_searchable_list = ["reference", "client.full_name", "client.phone"]
    search_condition = staticmethod(_payments_found)
    column_filters = ["status", "method",
                      *branch_day_filters(Payment.paid_at, Payment.branch_id,
                                          COLUMN_LABELS["paid_at"]),
                      "branch.name"]
    column_sortable_list = ["paid_at", "amount_poisha", "method", "status",
                            ("client", "client.full_name")]
    column_default_sort = ("paid_at", True)
    column_formatters = {"amount_poisha": _money_column}
    column_formatters_export = {"amount_poisha": _taka_export}
    list_loads = (defaultload(Payment.rental).selectinload(Rental.locker),)

    def get_list_row_actions(self):
        return [*super().get_list_row_actions(),
                EndpointLinkRowAction("fa fa-print", "documents.receipt", id_arg="payment_id",
                                      title=_l("Receipt"))]
