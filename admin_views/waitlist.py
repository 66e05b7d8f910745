"""The locker waitlist screen and the Ctrl+K quick search endpoint (SPEC D5, U4).

The waitlist list shows who waits for which zone, in line order; joining,
skipping and offering go through app.services.waitlist. The quick search is a
small JSON endpoint for the palette in templates/_quick_search.html; which
groups it searches follows the user's permissions, within their branch.
"""

from flask import abort
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms import TelField
from wtforms import TextAreaField
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from admin_views.base import DeskForm
from admin_views.base import EnumSelectField
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import id_arg
from admin_views.base import parse_id
from admin_views.base import scope_to_branch
from admin_views.base import user_branch_id
from admin_views.labels import COLUMN_LABELS
from admin_views.menu import LOCKERS
from admin_views.validators import BangladeshMobile
from app.extensions import db
from app.i18n import local_datetime
from app.i18n import money
from app.models import Client
from app.models import LockerSize
from app.models import WaitlistEntry
from app.models import Zone
from app.models.base import local_name
from app.services import billing
from app.services import clients
from app.services import quick_search
from app.services import waitlist
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import VIEW
from app.services.access import can

LABELS = {
    **COLUMN_LABELS,
    "position": _l("Place in line"),
    "offer_expires_at": _l("Offer held until"),
    "offered_rental": _l("Offered locker"),
    "note": _l("Note"),
    "created_at": _l("Joined"),
}
ASSIGN_ENDPOINT = "rental_desk.assign_view"
LOCKER_GRID_ENDPOINT = "locker_grid.index"


# --- waitlist ---------------------------------------------------------------------------

def _zones():
    return scope_to_branch(db.session.query(Zone), Zone).order_by(Zone.branch_id, Zone.name,
                                                                  Zone.id)


def _zone_label(zone):
    return f"{zone.branch.name} · {zone}"


class JoinForm(DeskForm):
    """Put a client in line: found by phone, for a zone and (optionally) a size."""

    phone = TelField(_l("Client's phone"), validators=[BangladeshMobile()],
                     description=_l("Typed any way, for example 01711-123456."))
    zone = QuerySelectField(_l("Zone"), validators=[InputRequired()], query_factory=_zones,
                            get_label=_zone_label)
    size = EnumSelectField(_l("Size"), enum_class=LockerSize, allow_blank=True,
                           description=_l("Leave empty for any size."))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=255)])


class SkipForm(DeskForm):
    """Why the chosen clients are passed over."""

    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=200)])


def _client_column(view, context, model, name):
    return str(model.client)


def _size_column(view, context, model, name):
    return model.size.label if model.size is not None else _("Any size")


def _position_column(view, context, model, name):
    return waitlist.position(model) or ""


def _offered_locker_column(view, context, model, name):
    rental = model.offered_rental
    return rental.locker.number if rental is not None else ""


class WaitlistView(SecuredModelView):
    """Clients waiting for a locker of a zone, first come first served."""

    permission_module = "rentals"
    # The line is history (who was offered what, who was skipped): never deleted.
    allow_delete = False
    action_permissions = {"offer_now": CREATE, "skip": EDIT}
    endpoint_permissions = {"skip_view": EDIT}
    column_labels = LABELS
    column_list = ["client", "zone", "size", "status", "position", "created_at",
                   "offered_rental", "offer_expires_at", "note", "branch"]
    column_details_list = ["client", "branch", "zone", "size", "status", "created_at",
                           "created_by", "offered_rental", "offer_expires_at", "note"]
    column_export_list = ["client", "branch", "zone", "size", "status", "created_at",
                          "offered_rental", "offer_expires_at", "note"]
    column_filters = ["status", "zone.name", "branch.name", "size"]
    column_searchable_list = ["client.full_name", "client.phone"]
    column_sortable_list = ["status", "created_at", "offer_expires_at",
                            ("zone", "zone.name"), ("branch", "branch.name")]
    column_default_sort = [("created_at", False), ("id", False)]
    column_formatters = {"client": _client_column, "size": _size_column,
                         "position": _position_column, "offered_rental": _offered_locker_column}
    column_formatters_detail = {"size": _size_column, "offered_rental": _offered_locker_column}
    column_formatters_export = {"client": _client_column, "size": _size_column,
                                "offered_rental": _offered_locker_column}
    # Joining is the JoinForm (the waitlist service); only the note is edited afterwards.
    form_columns = ["note"]
    form_args = {"note": {"validators": [Optional(), Length(max=255)]}}

    def get_create_form(self):
        return JoinForm

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.zone.query_factory = _zones
        client_id = id_arg("client_id")
        if request.method == "GET" and client_id and not form.phone.data:
            client = db.session.get(Client, client_id)
            if client is not None and user_branch_id() in (None, client.branch_id):
                form.phone.data = client.phone
        return form

    def create_model(self, form):
        client = clients.find_by_phone(form.phone.data, branch_id=user_branch_id())
        if client is None:
            form.phone.errors = [*form.phone.errors, _("No client has that phone number.")]
            return False
        try:
            entry = waitlist.join(client.id, form.zone.data.id, form.size.data,
                                  by_user_id=current_user.id, note=form.note.data)
        except waitlist.WaitlistError as exc:
            field = getattr(form, exc.field or "", None) or form.phone
            field.errors = [*field.errors, str(exc.message)]
            return False
        flash(_("%(client)s is number %(position)d in line for %(zone)s.",
                client=client.full_name, position=waitlist.position(entry),
                zone=entry.zone.local_name), "success")
        return entry

    def update_model(self, form, model):
        try:
            waitlist.set_note(model.id, form.note.data, by_user_id=current_user.id)
        except waitlist.WaitlistError as exc:
            form.note.errors = [*form.note.errors, str(exc.message)]
            return False
        return True

    def _chosen(self, ids):
        """The user's entries among `ids`, in line order (others are silently left out)."""
        wanted = [entry_id for entry_id in map(parse_id, ids) if entry_id is not None]
        return self.get_query().filter(WaitlistEntry.id.in_(wanted)).order_by(
            WaitlistEntry.created_at, WaitlistEntry.id).all()

    @action("offer_now", _l("Offer now"),
            _l("Reserve a free locker that fits for each chosen client now?"))
    def action_offer_now(self, ids):
        for entry in self._chosen(ids):
            client_name = entry.client.full_name
            try:
                offered = waitlist.offer_now(entry.id, by_user_id=current_user.id)
            except waitlist.WaitlistError as exc:
                flash(_("%(client)s: %(reason)s", client=client_name, reason=exc.message),
                      "error")
            else:
                flash(_("Locker %(number)s is reserved for %(client)s until %(time)s.",
                        number=offered.offered_rental.locker.number, client=client_name,
                        time=local_datetime(offered.offer_expires_at)), "success")
        return redirect(self.get_url(".index_view"))

    @action("skip", _l("Skip"))
    def action_skip(self, ids):
        return redirect(self.get_url(".skip_view", ids=",".join(map(str, ids))))

    @expose("/skip/", methods=("GET", "POST"))
    def skip_view(self):
        """Pass over the chosen clients with a reason; a locker held for them goes to the next."""
        chosen = self._chosen((request.values.get("ids") or "").split(","))
        if not chosen:
            flash(_("Choose at least one waiting client."), "error")
            return redirect(self.get_url(".index_view"))
        form = SkipForm()
        if form.validate_on_submit():
            for entry in chosen:
                self._skip(entry, form.reason.data)
            return redirect(self.get_url(".index_view"))
        return self.render("admin/waitlist/skip.html", form=form, entries=chosen,
                           ids=",".join(str(entry.id) for entry in chosen))

    @staticmethod
    def _skip(entry, reason):
        client_name = entry.client.full_name
        try:
            skipped = waitlist.skip(entry.id, by_user_id=current_user.id, reason=reason)
        except waitlist.WaitlistError as exc:
            flash(_("%(client)s: %(reason)s", client=client_name, reason=exc.message), "error")
            return
        flash(_("%(client)s is skipped.", client=client_name), "success")
        offer = skipped.next_offer
        if offer is not None:
            flash(_("Locker %(number)s is reserved for %(client)s until %(time)s.",
                    number=offer.offered_rental.locker.number, client=offer.client.full_name,
                    time=local_datetime(offer.offer_expires_at)), "success")


# --- quick search -------------------------------------------------------------------------

def _has_endpoint(name):
    return name in current_app.view_functions


def assign_available():
    """True when the assign screen exists and the user may assign lockers."""
    return (_has_endpoint(ASSIGN_ENDPOINT) and can(current_user, "rentals", CREATE)
            and can(current_user, "lockers", VIEW))


def may_search():
    """Quick search is for staff who may see clients or lockers."""
    return can(current_user, "clients", VIEW) or can(current_user, "lockers", VIEW)


def palette():
    """What the palette on this page offers the signed-in user; None when it is not shown."""
    if not may_search():
        return None
    return {
        "url": url_for("quick_search.index"),
        "newClientUrl": url_for("register_client.index")
        if _has_endpoint("register_client.index") and can(current_user, "clients", CREATE)
        else None,
        "assign": assign_available(),
        "profilePath": url_for("client_profile.index")
        if _has_endpoint("client_profile.index") else None,
        "minLength": quick_search.MIN_LENGTH,
        "debounceMs": 120,
        "scanGapMs": 50,
    }


def locker_url(locker_id, branch_id, zone_id):
    """The locker's page: the grid on its branch and zone (naming it), else its details page."""
    if _has_endpoint(LOCKER_GRID_ENDPOINT):
        return url_for(LOCKER_GRID_ENDPOINT, branch=branch_id, zone=zone_id, locker=locker_id)
    return url_for("lockers.details_view", id=locker_id)


def _item(title, detail, status, url):
    """One result of the palette: what it is, a detail line, its status and where it leads."""
    return {"title": title, "detail": detail, "badge": str(status.label),
            "tone": status.name.lower(), "url": url}


def _locker_item(row, url, show_branch):
    zone = local_name(row["zone"], row.get("zone_bn"))
    detail = " · ".join([zone, row["branch"]] if show_branch else [zone])
    return _item(row["number"], detail, row["status"], url)


class QuickSearchView(SecuredView):
    """GET /admin/quick_search/?q=… → the palette's results as small JSON; not in the menu."""

    permission_module = "clients"

    def is_visible(self):
        return False

    def is_accessible(self):
        return may_search()

    @expose("/")
    def index(self):
        text = request.args.get("q", "")
        if request.args.get("mode") == "assign":
            payload = self._assign(text)
        else:
            payload = self._search(text)
        response = jsonify(payload)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def _search(self, text):
        modules = {module for module in quick_search.GROUPS if can(current_user, module, VIEW)}
        results = quick_search.search(text, modules=modules, branch_id=user_branch_id())
        may_open_lockers = "lockers" in modules
        show_branch = user_branch_id() is None

        def client_item(row):
            return _item(row["full_name"], row["phone"], row["status"],
                         url_for("client_profile.index", id=row["id"]))

        def locker_item(row):
            return _locker_item(row, locker_url(row["id"], row["branch_id"], row["zone_id"]),
                                show_branch)

        def key_item(row):
            # Staff who may not open lockers open the key itself.
            url = (locker_url(row["locker_id"], row["branch_id"], row["zone_id"])
                   if may_open_lockers else url_for("keys.details_view", id=row["id"]))
            return _item(row["tag"], _("Locker %(number)s", number=row["number"]), row["state"],
                         url)

        def payment_item(row):
            detail = " · ".join(part for part in (row["client"], row["reference"],
                                                  local_datetime(row["paid_at"])) if part)
            return _item(f"#{row['id']} · {money(row['amount_poisha'])}", detail, row["status"],
                         url_for("payments.details_view", id=row["id"]))

        def invoice_item(invoice):
            detail = " · ".join([invoice.client.full_name, money(invoice.total_poisha),
                                 local_datetime(invoice.issued_at)])
            return _item(invoice.number, detail, billing.invoice_state(invoice),
                         url_for("invoices.details_view", id=invoice.id))

        build = {"clients": client_item, "lockers": locker_item, "keys": key_item,
                 "invoices": invoice_item, "payments": payment_item}
        groups = [{"key": key, "items": [build[key](row) for row in rows]}
                  for key, rows in results.groups.items()]
        jump = None
        if results.jump_locker is not None and may_open_lockers:
            locker = results.jump_locker
            jump = locker_url(locker["id"], locker["branch_id"], locker["zone_id"])
        elif results.jump_key_id is not None:
            jump = url_for("keys.details_view", id=results.jump_key_id)
        elif results.jump_invoice_id is not None:
            jump = url_for("invoices.details_view", id=results.jump_invoice_id)
        elif results.jump_client_id is not None:
            # The same address as the client's result, so the palette highlights it too.
            jump = url_for("client_profile.index", id=results.jump_client_id)
        return {"q": quick_search.clean(text), "groups": groups, "jump": jump}

    def _assign(self, text):
        if not assign_available():
            abort(403)
        client_id = id_arg("client_id")
        client = db.session.get(Client, client_id) if client_id else None
        if client is None or user_branch_id() not in (None, client.branch_id):
            client_id = None
        results = quick_search.search_lockers_to_assign(text, branch_id=user_branch_id())

        def assign_url(locker_id):
            return url_for(ASSIGN_ENDPOINT, locker_id=locker_id, client_id=client_id)

        items = [_locker_item(row, assign_url(row["id"]), user_branch_id() is None)
                 for row in results.groups.get("lockers", [])]
        jump = assign_url(results.jump_locker["id"]) if results.jump_locker else None
        return {"q": quick_search.clean(text), "mode": "assign",
                "groups": [{"key": "lockers", "items": items}], "jump": jump}


def register(admin):
    """Add the waitlist and the quick search endpoint to `admin`; give templates the palette."""
    admin.add_view(WaitlistView(WaitlistEntry, db, name=_l("Waitlist"), category=LOCKERS,
                                endpoint="waitlist"))
    admin.add_view(QuickSearchView(name=_l("Quick search"), endpoint="quick_search"))
    admin.app.add_template_global(palette, "quick_search_palette")
