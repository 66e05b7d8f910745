"""Clients, rentals and payments as lists the desk and the accountant work from."""

from flask import flash
from flask import has_request_context
from flask import url_for
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from markupsafe import escape
from wtforms.validators import Optional

from admin_views.base import SecuredModelView
from admin_views.validators import BangladeshMobile
from admin_views.validators import NotTaken
from app.extensions import db
from app.i18n import money
from app.i18n import taka_plain
from app.models import Client
from app.models import ClientStatus
from app.models import Rental
from app.models import Tag
from app.services import client_search
from app.services import rentals


def _money_column(view, context, model, name):
    return money(getattr(model, name))


def _taka_export(view, context, model, name):
    return taka_plain(getattr(model, name))


def _profile_link(view, context, model, name):
    """The client's name, linking to their profile page."""
    return Markup('<a href="%s">%s</a>') % (url_for("client_profile.index", id=model.id),
                                           model.full_name)


def _already_registered(other):
    """'Already registered to <a>name</a>.' with a link to that client's page."""
    link = url_for("clients.details_view", id=other.id)
    return Markup(_("Already registered to %(client)s.",
                    client=Markup('<a href="%s">%s</a>') % (link, escape(other.full_name))))


class ClientTagFilter(BaseSQLAFilter):
    """Clients with a given tag."""

    def __init__(self):
        super().__init__(Client.id, _l("Tag"), options=self._tags)

    @staticmethod
    def _tags():
        # Flask-Admin also asks while the app is being built; only a request has tags to show.
        if not has_request_context():
            return []
        return [(str(tag.id), tag.name) for tag in
                db.session.execute(db.select(Tag).order_by(Tag.name)).scalars()]

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

    def apply(self, query, value, alias=None):
        return query.filter(client_search.payment_state_condition(value))

    def operation(self):
        return _l("is")


class ClientView(SecuredModelView):
    """Gym members. Never deleted: they become Inactive or Banned."""

    permission_module = "clients"
    column_list = ["full_name", "phone", "email", "gender", "status", "tier", "branch",
                   "registered_at"]
    column_searchable_list = ["full_name", "phone", "email", "nid"]
    column_filters = ["status", "gender", "tier", "registered_at", "branch.name",
                      ClientTagFilter(), PaymentStateFilter()]
    column_default_sort = ("registered_at", True)
    column_formatters = {"full_name": _profile_link}
    # Exports keep the plain name (Flask-Admin would otherwise reuse the link).
    column_formatters_export = {}
    column_details_exclude_list = ["photo_path", "id_scan_path"]
    column_export_exclude_list = ["photo_path", "id_scan_path"]
    form_columns = ["branch", "full_name", "phone", "email", "nid", "gender", "date_of_birth",
                    "address", "emergency_contact_name", "emergency_contact_phone", "tier",
                    "referred_by", "preferred_language", "opt_in_email", "opt_in_sms",
                    "opt_in_whatsapp", "status", "ban_reason", "notes"]
    form_args = {
        "phone": {"validators": [BangladeshMobile(), NotTaken(Client.phone, _already_registered)]},
        "emergency_contact_phone": {"validators": [BangladeshMobile(required=False)]},
        "email": {"validators": [Optional()]},
        "nid": {"filters": [lambda value: value.strip() or None if value else None],
                "validators": [NotTaken(Client.nid, _already_registered)]},
    }
    form_ajax_refs = {"referred_by": {"fields": ["full_name", "phone"], "page_size": 10}}

    def _get_filter_groups(self):
        # Tags are added while the app runs; Flask-Admin caches filter options at start.
        self._refresh_filters_cache()
        return super()._get_filter_groups()

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # One rule for the search box (phone in any format, locker number, name …).
        condition = client_search.search_condition(search)
        count_query = count_query.filter(condition) if count_query is not None else None
        return query.filter(condition), count_query, joins, count_joins

    def check_record(self, form):
        if form.status.data is ClientStatus.BANNED and not (form.ban_reason.data or "").strip():
            form.ban_reason.errors.append(_("Give the reason for the ban."))
            return False
        return True


class RentalView(SecuredModelView):
    """Rental history. Rentals are opened and closed by the rental flow, not typed in."""

    permission_module = "rentals"
    allow_create = allow_edit = allow_delete = False
    column_list = ["locker", "client", "term", "starts_at", "ends_at", "status", "price_poisha",
                   "branch"]
    column_searchable_list = ["locker.number", "client.full_name", "client.phone"]
    column_filters = ["status", "term", "ends_at", "starts_at", "branch.name"]
    column_sortable_list = ["term", "starts_at", "ends_at", "status", "price_poisha",
                            ("locker", "locker.number"), ("client", "client.full_name")]
    column_default_sort = ("starts_at", True)
    column_formatters = {"price_poisha": _money_column}
    column_formatters_export = {"price_poisha": _taka_export}

    @action("renew", _l("Renew"), _l("Renew each selected rental for one more term?"))
    def action_renew(self, ids):
        mine = [rental.id for rental in self.get_query().filter(
            Rental.id.in_([int(i) for i in ids if str(i).isdigit()]))]
        renewed, refusals = rentals.bulk_renew(mine, by_user_id=current_user.id)
        if renewed:
            flash(_("%(count)d rentals renewed.", count=len(renewed)), "success")
        for rental_id, message in refusals:
            flash(_("Rental #%(id)s was not renewed: %(reason)s", id=rental_id, reason=message),
                  "error")


class PaymentView(SecuredModelView):
    """Money received. Payments are never edited; refunds are separate records."""

    permission_module = "payments"
    allow_create = allow_edit = allow_delete = False
    column_list = ["paid_at", "client", "rental", "amount_poisha", "method", "status",
                   "reference", "branch"]
    column_searchable_list = ["reference", "client.full_name", "client.phone"]
    column_filters = ["status", "method", "paid_at", "branch.name"]
    column_sortable_list = ["paid_at", "amount_poisha", "method", "status",
                            ("client", "client.full_name")]
    column_default_sort = ("paid_at", True)
    column_formatters = {"amount_poisha": _money_column}
    column_formatters_export = {"amount_poisha": _taka_export}
