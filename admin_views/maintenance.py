"""Maintenance tickets (SPEC L6): the ticket list and forms, due work, and what repairs cost.

The screens only collect input and show results: opening, changing, starting
and resolving a ticket are calls to app.services.maintenance, which holds the
rules and says (translated) why it refuses.
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.model.ajax import DEFAULT_PAGE_SIZE
from flask_admin.model.template import EndpointLinkRowAction
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import BooleanField
from wtforms import RadioField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from admin_views.base import MAX_ID
from admin_views.base import DeskForm
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import parse_id
from admin_views.base import scope_to_branch
from admin_views.base import user_branch_id
from admin_views.fields import UploadField
from admin_views.labels import COLUMN_LABELS
from admin_views.menu import LOCKERS
from app.extensions import db
from app.i18n import local_date
from app.i18n import money
from app.models import Client
from app.models import Locker
from app.models import LockerStatus
from app.models import MaintenanceTicket
from app.models import TicketStatus
from app.models import User
from app.services import clock
from app.services import maintenance
from app.services.errors import Refusal
from app.services.exports import taka_cell
from app.services.money import plain_taka

TICKET_LABELS = {
    **COLUMN_LABELS,
    "priority": _l("Priority"),
    "assignee": _l("Assignee"),
    "assignee.full_name": _l("Assignee"),
    "cost_poisha": _l("Cost"),
    "cost": _l("Cost (৳)"),
    "due_on": _l("Due on"),
    "repeat_every_days": _l("Repeat every (days)"),
    "opened_at": _l("Opened"),
    "opened_by": _l("Opened by"),
    "resolved_at": _l("Resolved"),
    "resolution": _l("Resolution"),
    "photo_path": _l("Photo"),
    "take_out_of_use": _l("Take the locker out of use now"),
}


class BranchClientLoader(QueryAjaxModelLoader):
    """Client search for a form's client field: only the user's branch, when limited.

    Both ways in are limited: the list the picker offers and the one client a
    posted id names. A forged id of another branch's client finds nobody, so the
    form refuses it (PickedRecordField) instead of showing that client back.
    """

    def get_query(self):
        return scope_to_branch(super().get_query(), self.model)

    def get_one(self, pk):
        client_id = parse_id(pk)
        if client_id is None:
            return None
        return self.get_query().filter(self.model.id == client_id).one_or_none()

    def get_list(self, term, offset=0, limit=DEFAULT_PAGE_SIZE):
        # The picker's offset and limit come from the URL as any integer (or none).
        offset = offset if offset is not None and 0 <= offset <= MAX_ID else 0
        limit = limit if limit is not None and 1 <= limit <= DEFAULT_PAGE_SIZE else DEFAULT_PAGE_SIZE
        return super().get_list(term or "", offset, limit)


def client_loader(name):
    """An ajax client picker searching by name or phone."""
    return BranchClientLoader(name, db, Client, fields=["full_name", "phone"],
                              order_by=Client.full_name, page_size=10,
                              not_found=_l("Choose a client from the list."))


def show_refusal(form, exc):
    """Put a service's refusal on the form field it concerns, or flash it."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc.message)]
    else:
        flash(str(exc.message), "error")


def uploaded_photo(field):
    """The bytes of the photo just chosen in an UploadField (already checked), or None."""
    return getattr(field, "_bytes", None)


def related_id(value):
    """The id of a record picked in a select (None when nothing was picked)."""
    return getattr(value, "id", None)


def photo_column(view, context, model, name):
    """A thumbnail linking to the full photo."""
    path = getattr(model, name)
    if not path:
        return ""
    link = url_for("web.upload", relative=path)
    return Markup('<a href="%s" target="_blank"><img src="%s?thumb=1" alt="" '
                  'class="upload-thumb"></a>') % (link, link)


def _money_column(view, context, model, name):
    return money(getattr(model, name))


def _taka_export(view, context, model, name):
    return taka_cell(getattr(model, name))


def _short_description(view, context, model, name):
    text = model.description or ""
    return text if len(text) <= 80 else text[:79] + "…"


def lockers_query():
    """Lockers for a form's locker select (scoped to the user's branch by the base view)."""
    return db.session.query(Locker).order_by(Locker.number, Locker.id)


def locker_label(locker):
    """Number and branch ("M-001 · Gulshan"): numbers repeat across branches."""
    return f"{locker.number} · {locker.branch}"


def _active_staff():
    return db.session.query(User).filter(User.active.is_(True)).order_by(User.full_name, User.id)


def local_today():
    """Today at the signed-in user's branch."""
    return clock.branch_today(current_user.branch_id)


class MaintenanceTicketView(SecuredModelView):
    """Every maintenance ticket; opened, changed and resolved through the maintenance service."""

    permission_module = "maintenance"
    # Tickets are the locker's history and the basis of the cost analysis: they
    # are resolved, never deleted.
    allow_delete = False
    details_template = "admin/maintenance/details.html"
    column_labels = TICKET_LABELS
    column_list = ["id", "locker", "branch", "priority", "status", "description", "assignee",
                   "due_on", "cost_poisha", "opened_at"]
    column_details_list = ["id", "locker", "branch", "priority", "status", "description",
                           "photo_path", "assignee", "client", "cost_poisha", "due_on",
                           "repeat_every_days", "opened_by", "opened_at", "resolved_at",
                           "resolution"]
    column_export_list = ["id", "locker", "branch", "priority", "status", "description",
                          "assignee", "client", "cost_poisha", "due_on", "repeat_every_days",
                          "opened_by", "opened_at", "resolved_at", "resolution"]
    column_filters = ["status", "priority", "branch.name", "locker.number", "assignee.full_name",
                      "due_on"]
    column_searchable_list = ["description", "locker.number"]
    column_sortable_list = ["id", "priority", "status", "due_on", "cost_poisha", "opened_at",
                            ("locker", "locker.number"), ("branch", "branch.name"),
                            ("assignee", "assignee.full_name")]
    column_default_sort = ("opened_at", True)
    column_formatters = {"cost_poisha": _money_column, "description": _short_description}
    column_formatters_detail = {"cost_poisha": _money_column, "photo_path": photo_column}
    column_formatters_export = {"cost_poisha": _taka_export}

    form_columns = ["locker", "description", "photo_path", "priority", "assignee", "client",
                    "cost", "due_on", "repeat_every_days", "take_out_of_use"]
    form_extra_fields = {
        "cost": StringField(_l("Cost (৳)"), description=_l("In taka, for example 1250.50")),
        "take_out_of_use": BooleanField(
            _l("Take the locker out of use now"), default=True,
            description=_l("For urgent tickets: the locker goes to Maintenance.")),
    }
    form_overrides = {"photo_path": UploadField}
    form_args = {
        "photo_path": {"folder": maintenance.UPLOAD_FOLDER, "label": _l("Photo")},
        "locker": {"query_factory": lockers_query, "get_label": locker_label},
        "assignee": {"query_factory": _active_staff},
        "description": {"validators": [InputRequired()]},
        "repeat_every_days": {"validators": [Optional(),
                                             NumberRange(min=1, max=maintenance.MAX_REPEAT_DAYS)]},
    }
    form_ajax_refs = {"client": client_loader("client")}

    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        if self.can_edit:
            actions.append(EndpointLinkRowAction("fa fa-check", ".resolve_view",
                                                 title=_l("Resolve")))
        return actions

    def get_edit_form(self):
        # A ticket stays on its locker, and taking a locker out of use happens on opening.
        form_class = super().get_edit_form()
        del form_class.locker
        del form_class.take_out_of_use
        return form_class

    def on_form_prefill(self, form, id):
        if request.method == "GET":
            ticket = self.get_one(id)
            form.cost.data = plain_taka(ticket.cost_poisha) if ticket else ""

    def _typed(self, form):
        return {
            "priority": form.priority.data,
            "assignee_id": related_id(form.assignee.data),
            "client_id": related_id(form.client.data),
            "cost_taka": form.cost.data,
            "due_on": form.due_on.data,
            "repeat_every_days": form.repeat_every_days.data,
            "photo": uploaded_photo(form.photo_path),
        }

    def create_model(self, form):
        try:
            opened = maintenance.open_ticket(
                related_id(form.locker.data), form.description.data, by_user_id=current_user.id,
                take_out_of_use=form.take_out_of_use.data, **self._typed(form))
        except Refusal as exc:
            show_refusal(form, exc)
            return False
        if opened.locker_changed:
            flash(_("Locker %(number)s is now in Maintenance.",
                    number=opened.ticket.locker.number), "success")
        elif opened.locker_note:
            flash(str(opened.locker_note), "warning")
        return opened.ticket

    def update_model(self, form, model):
        try:
            maintenance.update_ticket(model.id, description=form.description.data,
                                      by_user_id=current_user.id, **self._typed(form))
        except Refusal as exc:
            show_refusal(form, exc)
            return False
        return True

    def _ticket_or_404(self):
        ticket = self.get_one(request.values.get("id", ""))
        if ticket is None:
            abort(404)
        return ticket

    @expose("/start/", methods=("POST",))
    def start_view(self):
        """Open → In progress."""
        if not self.can_edit:
            abort(403)
        ticket = self._ticket_or_404()
        try:
            maintenance.start_ticket(ticket.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Ticket #%(id)s is in progress.", id=ticket.id), "success")
        return redirect(self.get_url(".details_view", id=ticket.id))

    @expose("/resolve/", methods=("GET", "POST"))
    def resolve_view(self):
        """Resolve a ticket; offer to put the locker back in use when nothing else holds it."""
        if not self.can_edit:
            abort(403)
        ticket = self._ticket_or_404()
        details_url = self.get_url(".details_view", id=ticket.id)
        if ticket.status is TicketStatus.RESOLVED:
            flash(_("Ticket #%(id)s is already resolved.", id=ticket.id), "info")
            return redirect(details_url)
        offer = maintenance.can_put_back(ticket)
        form = ResolveForm(cost=plain_taka(ticket.cost_poisha))
        if not offer:
            del form.locker_to
        if form.validate_on_submit():
            try:
                result = maintenance.resolve_ticket(
                    ticket.id, by_user_id=current_user.id, resolution=form.resolution.data,
                    cost_taka=form.cost.data, locker_to=form.locker_to.data if offer else None)
            except Refusal as exc:
                show_refusal(form, exc)
            else:
                _flash_resolved(result)
                return redirect(details_url)
        holding = []
        if ticket.locker.status is LockerStatus.MAINTENANCE and not offer:
            holding = maintenance.other_tickets_holding_locker(ticket)
        return self.render("admin/maintenance/resolve.html", ticket=ticket, form=form,
                           holding=holding, return_url=details_url)


def _flash_resolved(result):
    ticket = result.ticket
    flash(_("Ticket #%(id)s is resolved.", id=ticket.id), "success")
    if result.successor is not None:
        flash(_("The next ticket #%(id)s is due on %(date)s.", id=result.successor.id,
                date=local_date(result.successor.due_on)), "info")
    if result.locker_status is not None:
        flash(_("Locker %(number)s is now %(status)s.", number=ticket.locker.number,
                status=result.locker_status.label), "success")


class ResolveForm(DeskForm):
    """What was done, what it cost, and where the locker goes next."""

    resolution = TextAreaField(_l("What was done"), validators=[InputRequired(), Length(max=255)])
    cost = StringField(_l("Final cost (৳)"), description=_l("In taka, for example 1250.50"))
    locker_to = RadioField(_l("The locker afterwards"), default="", choices=[
        ("", _l("Leave it in Maintenance")),
        (LockerStatus.AVAILABLE.name, LockerStatus.AVAILABLE.label),
        (LockerStatus.CLEANING.name, LockerStatus.CLEANING.label),
    ])


class DueTicketsView(SecuredView):
    """Scheduled work due within a week, and overdue work, per branch's today."""

    permission_module = "maintenance"

    @expose("/")
    def index(self):
        rows = maintenance.due_and_overdue(user_branch_id())
        return self.render("admin/maintenance/due.html", rows=rows,
                           within=maintenance.DUE_SOON_DAYS, format_date=local_date)


class CostAnalysisView(SecuredView):
    """What maintenance cost: per month, zone, locker and priority, and what clients caused."""

    permission_module = "maintenance"

    @expose("/")
    def index(self):
        analysis = maintenance.cost_analysis(user_branch_id(), today=local_today())
        months = [(format_date(first_day, "MMMM y"), cost) for first_day, cost in analysis.months]
        return self.render("admin/maintenance/costs.html", analysis=analysis, months=months)


def register(admin):
    """Add the maintenance screens to `admin`."""
    admin.add_view(MaintenanceTicketView(MaintenanceTicket, db, name=_l("Maintenance tickets"),
                                         category=LOCKERS, endpoint="maintenance"))
    admin.add_view(DueTicketsView(name=_l("Maintenance due"), category=LOCKERS,
                                  endpoint="maintenance_due"))
    admin.add_view(CostAnalysisView(name=_l("Maintenance costs"), category=LOCKERS,
                                    endpoint="maintenance_costs"))
