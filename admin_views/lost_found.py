"""Lost & found (SPEC L7): items cleaned out of lockers, their claim or disposal.

Recording, changing, claiming and disposing of items are calls to
app.services.lost_found, which holds the rules (the holding period, who may
dispose of an item early) and says, translated, why it refuses.
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired

from admin_views.base import DeskForm
from admin_views.base import PickedRecordField
from admin_views.base import SecuredModelView
from admin_views.base import user_branch_id
from admin_views.fields import DeskDateField
from admin_views.fields import UploadField
from admin_views.labels import COLUMN_LABELS
from admin_views.maintenance import client_loader
from admin_views.maintenance import local_today
from admin_views.maintenance import locker_label
from admin_views.maintenance import lockers_query
from admin_views.maintenance import photo_column
from admin_views.maintenance import related_id
from admin_views.maintenance import show_refusal
from admin_views.maintenance import uploaded_photo
from admin_views.menu import LOCKERS
from app.extensions import db
from app.i18n import local_date
from app.models import LostItem
from app.services import lost_found
from app.services.access import EDIT
from app.services.errors import Refusal

ITEM_LABELS = {
    **COLUMN_LABELS,
    "photo_path": _l("Photo"),
    "cleaned_out_on": _l("Cleaned out on"),
    "storage_place": _l("Storage place"),
    "claimed_on": _l("Claimed on"),
    "disposed_on": _l("Disposed on"),
    "handled_by": _l("Handled by"),
    "kept_until": _l("Kept until"),
}
# One picker object: the list's forms and the claim form search clients through it.
CLIENT_PICKER = client_loader("client")


def _kept_until(view, context, model, name):
    return local_date(lost_found.kept_until(model))


class ClaimForm(DeskForm):
    """The day the client collected the item, and who they are."""

    claimed_on = DeskDateField(_l("Claimed on"), default=local_today, validators=[InputRequired()])
    client = PickedRecordField(CLIENT_PICKER, _l("Client"), allow_blank=True,
                               description=_l("Leave as it is if the linked client collected it."))


class LostItemView(SecuredModelView):
    """Every item cleaned out of a locker."""

    permission_module = "lost_found"
    # Items are claimed or disposed of, never deleted.
    allow_delete = False
    details_template = "admin/lost_found/details.html"
    column_labels = ITEM_LABELS
    column_list = ["photo_path", "description", "locker", "branch", "client", "cleaned_out_on",
                   "storage_place", "status", "claimed_on", "disposed_on"]
    column_details_list = ["description", "photo_path", "locker", "branch", "rental", "client",
                           "cleaned_out_on", "kept_until", "storage_place", "status",
                           "claimed_on", "disposed_on", "handled_by", "created_at"]
    column_export_list = ["id", "description", "locker", "branch", "client", "cleaned_out_on",
                          "storage_place", "status", "claimed_on", "disposed_on", "handled_by"]
    column_filters = ["status", "branch.name", "cleaned_out_on", "locker.number"]
    column_searchable_list = ["description", "locker.number", "client.full_name", "client.phone"]
    column_sortable_list = ["description", "cleaned_out_on", "status", "claimed_on", "disposed_on",
                            ("locker", "locker.number"), ("branch", "branch.name")]
    column_default_sort = ("cleaned_out_on", True)
    column_formatters = {"photo_path": photo_column}
    column_formatters_detail = {"photo_path": photo_column, "kept_until": _kept_until}

    form_columns = ["locker", "description", "photo_path", "cleaned_out_on", "storage_place",
                    "client"]
    form_overrides = {"photo_path": UploadField}
    form_args = {
        "photo_path": {"folder": lost_found.UPLOAD_FOLDER, "label": _l("Photo")},
        # The column may be empty (items found elsewhere), but the desk records them per locker.
        "locker": {"query_factory": lockers_query, "get_label": locker_label,
                   "validators": [DataRequired()]},
        "cleaned_out_on": {"default": local_today},
        "client": {"description": _l("Leave empty to take the client of the locker's rental.")},
    }
    form_ajax_refs = {"client": CLIENT_PICKER}

    def get_edit_form(self):
        # Where and when an item was found decides its rental: fixed once recorded.
        form_class = super().get_edit_form()
        del form_class.locker
        del form_class.cleaned_out_on
        return form_class

    def create_model(self, form):
        try:
            return lost_found.record_item(
                related_id(form.locker.data), form.description.data, by_user_id=current_user.id,
                cleaned_out_on=form.cleaned_out_on.data, storage_place=form.storage_place.data,
                client_id=related_id(form.client.data), photo=uploaded_photo(form.photo_path))
        except Refusal as exc:
            show_refusal(form, exc)
            return False

    def update_model(self, form, model):
        try:
            lost_found.update_item(
                model.id, by_user_id=current_user.id, description=form.description.data,
                storage_place=form.storage_place.data, client_id=related_id(form.client.data),
                photo=uploaded_photo(form.photo_path))
        except Refusal as exc:
            show_refusal(form, exc)
            return False
        return True

    def render(self, template, **kwargs):
        # The details page says whether this user could dispose of the item today.
        kwargs.setdefault("may_dispose_early", lost_found.may_dispose_early(current_user))
        return super().render(template, **kwargs)

    def _item_or_404(self):
        item = self.get_one(request.values.get("id", ""))
        if item is None:
            abort(404)
        return item

    @expose("/claim/", methods=("GET", "POST"))
    def claim_view(self):
        """The client collects the item."""
        if not self.can_edit:
            abort(403)
        item = self._item_or_404()
        details_url = self.get_url(".details_view", id=item.id)
        form = ClaimForm(client=item.client)
        if form.validate_on_submit():
            try:
                lost_found.claim_item(item.id, by_user_id=current_user.id,
                                      claimed_on=form.claimed_on.data,
                                      client_id=related_id(form.client.data))
            except Refusal as exc:
                show_refusal(form, exc)
            else:
                flash(_("%(item)s was claimed.", item=item.description), "success")
                return redirect(details_url)
        return self.render("admin/lost_found/claim.html", item=item, form=form,
                           return_url=details_url, format_date=local_date)

    @expose("/dispose/", methods=("POST",))
    def dispose_view(self):
        """Dispose of one item (before its holding period ends: managers only, see the service)."""
        if not self.can_edit:
            abort(403)
        item = self._item_or_404()
        try:
            lost_found.dispose_item(item.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("%(item)s was disposed of.", item=item.description), "success")
        return redirect(self.get_url(".details_view", id=item.id))


class DueForDisposalView(SecuredModelView):
    """Held items whose holding period is over, to dispose of in bulk."""

    permission_module = "lost_found"
    allow_create = allow_edit = allow_delete = False
    column_labels = ITEM_LABELS
    column_list = ["photo_path", "description", "locker", "branch", "client", "cleaned_out_on",
                   "kept_until", "storage_place"]
    column_details_list = LostItemView.column_details_list
    column_export_list = ["id", "description", "locker", "branch", "client", "cleaned_out_on",
                          "kept_until", "storage_place"]
    column_filters = ["branch.name", "cleaned_out_on", "locker.number"]
    column_searchable_list = ["description", "locker.number"]
    column_sortable_list = ["description", "cleaned_out_on", ("locker", "locker.number"),
                            ("branch", "branch.name")]
    column_default_sort = [("cleaned_out_on", False), ("id", False)]
    column_formatters = {"photo_path": photo_column, "kept_until": _kept_until}
    column_formatters_detail = {"photo_path": photo_column, "kept_until": _kept_until}
    column_formatters_export = {"kept_until": _kept_until}

    def get_query(self):
        return super().get_query().filter(lost_found.due_for_disposal_condition(user_branch_id()))

    def get_count_query(self):
        return super().get_count_query().filter(
            lost_found.due_for_disposal_condition(user_branch_id()))

    def is_action_allowed(self, name):
        # This list has no edit form (allow_edit is off), yet disposing is an
        # edit of the items: it needs lost_found-edit like the item's own page.
        if name == "dispose":
            return self.allowed(EDIT)
        return super().is_action_allowed(name)

    @action("dispose", _l("Dispose"), _l("Dispose of the selected items?"))
    def action_dispose(self, ids):
        """Dispose of every selected item, or of none if one of them may not be."""
        try:
            items = lost_found.dispose_items([int(item_id) for item_id in ids],
                                             by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
            return
        flash(ngettext("%(num)d item was disposed of.", "%(num)d items were disposed of.",
                       len(items)), "success")


def register(admin):
    """Add the lost & found screens to `admin`."""
    admin.add_view(LostItemView(LostItem, db, name=_l("Lost & found"), category=LOCKERS,
                                endpoint="lost_found"))
    admin.add_view(DueForDisposalView(LostItem, db, name=_l("Due for disposal"),
                                      category=LOCKERS, endpoint="lost_found_due"))

