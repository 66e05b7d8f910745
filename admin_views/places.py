"""Branches, floors, zones, locker categories, lockers and keys."""

from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import defaultload
from wtforms import BooleanField
from wtforms import IntegerField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import Regexp

from admin_views.base import DeskForm
from admin_views.base import EnumSelectField
from admin_views.base import SecuredModelView
from admin_views.base import ServiceModelView
from admin_views.base import parse_id
from admin_views.base import scope_to_branch
from admin_views.labels import COLUMN_LABELS
from app.extensions import db
from app.models import Key
from app.models import Locker
from app.models import LockerCategory
from app.models import LockerSize
from app.models import LockerStatus
from app.models import Zone
from app.services import keys
from app.services import lockers
from app.services.access import CREATE
from app.services.access import EDIT


class BranchView(SecuredModelView):
    """Branches of the chain."""

    permission_module = "branches"
    column_list = ["name", "code", "phone", "timezone", "is_active"]
    column_searchable_list = ["name", "code"]
    column_filters = ["is_active"]
    column_default_sort = "name"
    form_columns = ["name", "code", "address", "phone", "timezone", "is_active"]


# Master data is named in English and, for Bengali readers, optionally in Bengali.
NAMED_LABELS = {**COLUMN_LABELS, "name": _l("Name (English)"), "name_bn": _l("Name (Bengali)")}


class FloorView(SecuredModelView):
    """Floors or rooms of a branch."""

    permission_module = "branches"
    column_labels = NAMED_LABELS
    column_list = ["branch", "name", "name_bn", "level"]
    column_searchable_list = ["name", "name_bn"]
    column_filters = ["branch.name"]
    column_default_sort = [("branch_id", False), ("level", False)]
    form_columns = ["branch", "name", "name_bn", "level"]


class ZoneView(SecuredModelView):
    """Zones of a floor; the zone type drives the gender check on assignment."""

    permission_module = "branches"
    column_labels = NAMED_LABELS
    column_list = ["branch", "floor", "name", "name_bn", "kind"]
    column_searchable_list = ["name", "name_bn"]
    column_filters = ["kind", "branch.name"]
    form_columns = ["floor", "name", "name_bn", "kind"]


class LockerCategoryView(SecuredModelView):
    """Custom locker categories (Day-use, Premium …)."""

    permission_module = "lockers"
    column_labels = NAMED_LABELS
    column_list = ["name", "name_bn", "description"]
    column_searchable_list = ["name", "name_bn"]
    form_columns = ["name", "name_bn", "description"]


class BulkCreateForm(DeskForm):
    """'50 lockers, prefix M-, 001–050, zone Men, size M' (SPEC L2)."""

    zone = QuerySelectField(_l("Zone"), validators=[InputRequired()])
    prefix = StringField(_l("Prefix"), validators=[InputRequired(), Length(max=10), Regexp(
        r"^[A-Za-z0-9-]+$", message=_l("Use letters, digits and dashes only."))])
    first = IntegerField(_l("From number"), validators=[InputRequired(), NumberRange(min=0)])
    last = IntegerField(_l("To number"), validators=[InputRequired(), NumberRange(min=0)])
    width = IntegerField(_l("Digits (zero-padded)"), validators=[Optional(), NumberRange(1, 6)])
    size = EnumSelectField(_l("Size"), enum_class=LockerSize)
    category = QuerySelectField(_l("Category"), allow_blank=True, blank_text="—")
    with_keys = BooleanField(_l("Add a key tag to each locker"), default=True)


class StatusForm(DeskForm):
    """A status chosen by hand, and why."""

    status = SelectField(_l("New status"), choices=lambda: [
        SelectChoice(status.name, str(status.label)) for status in lockers.MANUAL_TARGETS])
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=255)])


class LockerView(ServiceModelView):
    """Every locker, filterable the way the desk looks for one; changed through the locker service."""

    permission_module = "lockers"
    list_template = "admin/lockers/list.html"
    details_template = "admin/lockers/details.html"
    endpoint_permissions = {"bulk_create_view": CREATE, "status_view": EDIT}
    column_list = ["number", "branch", "zone", "size", "category", "status", "notes"]
    # A zone is named with its floor.
    list_loads = (defaultload(Locker.zone).selectinload(Zone.floor),)
    column_searchable_list = ["number"]
    column_filters = ["status", "size", "zone.name", "category.name", "branch.name"]
    column_sortable_list = ["number", "size", "status", ("zone", "zone.name"),
                            ("branch", "branch.name")]
    column_default_sort = "number"
    # Status changes go through the locker state machine, not a free edit.
    form_columns = ["zone", "number", "size", "category", "notes"]
    # A locker made here gets its key and first history row, as a bulk creation does.
    create_service = staticmethod(lockers.create_locker)
    update_service = staticmethod(lockers.update_locker)
    delete_service = staticmethod(lockers.delete_locker)

    @action("change_status", _l("Change status"))
    def action_change_status(self, ids):
        return redirect(self.get_url(".status_view", ids=",".join(map(str, ids))))

    def _lockers(self, ids):
        """The user's lockers among `ids` (others are silently left out)."""
        wanted = [locker_id for locker_id in map(parse_id, ids) if locker_id is not None]
        return self.get_query().filter(Locker.id.in_(wanted)).order_by(Locker.number).all()

    @expose("/status/", methods=("GET", "POST"))
    def status_view(self):
        """Change the status of one or more lockers by hand, with a reason."""
        chosen = self._lockers((request.values.get("ids") or "").split(","))
        if not chosen:
            flash(_("Choose at least one locker."), "error")
            return redirect(self.get_url(".index_view"))
        form = StatusForm()
        if request.method == "GET" and request.args.get("status") in {
                status.name for status in lockers.MANUAL_TARGETS}:
            form.status.data = request.args["status"]
        if form.validate_on_submit():
            try:
                count = lockers.bulk_change_status(
                    [locker.id for locker in chosen], LockerStatus[form.status.data],
                    by_user_id=current_user.id, reason=form.reason.data)
            except lockers.LockerError as exc:
                flash(str(exc.message) + " " + _("Nothing was changed."), "error")
            else:
                flash(_("%(count)d lockers changed.", count=count), "success")
                return redirect(self.get_url(".index_view"))
        return self.render("admin/lockers/status.html", form=form, lockers=chosen,
                           ids=",".join(str(locker.id) for locker in chosen))

    @expose("/bulk-create/", methods=("GET", "POST"))
    def bulk_create_view(self):
        """Create a numbered run of lockers in one go."""
        form = BulkCreateForm()
        form.zone.query_factory = lambda: scope_to_branch(
            db.session.query(Zone), Zone).order_by(Zone.branch_id, Zone.name)
        form.category.query_factory = lambda: db.session.query(LockerCategory).order_by(
            LockerCategory.name)
        if form.validate_on_submit():
            try:
                created = lockers.bulk_create_lockers(
                    form.zone.data.id, form.prefix.data, form.first.data, form.last.data,
                    size=form.size.data, width=form.width.data, with_keys=form.with_keys.data,
                    category_id=form.category.data.id if form.category.data else None,
                    by_user_id=current_user.id)
            except lockers.LockerError as exc:
                form.prefix.errors.append(str(exc.message))
            else:
                flash(_("%(count)d lockers created: %(first)s to %(last)s.", count=len(created),
                        first=created[0].number, last=created[-1].number), "success")
                return redirect(self.get_url(".index_view"))
        preview = []
        if form.prefix.data and form.first.data is not None and form.last.data is not None:
            try:
                preview = lockers.locker_numbers(form.prefix.data, form.first.data,
                                                 form.last.data, form.width.data)
            except lockers.LockerError:
                preview = []
        return self.render("admin/lockers/bulk_create.html", form=form, preview=preview)


class KeyView(ServiceModelView):
    """Key tags, spares included, each with its history; registered through the key service."""

    permission_module = "keys"
    details_template = "admin/keys/details.html"
    column_list = ["tag", "locker", "is_spare", "state", "notes"]
    column_searchable_list = ["tag", "locker.number"]
    column_filters = ["state", "is_spare", "locker.number"]
    column_default_sort = "tag"
    # The state changes only through key handover (issue, return, lost), never by hand.
    form_columns = ["locker", "tag", "is_spare", "notes"]
    branch_join = (Key.locker, Locker.branch_id)

    # A key that was ever handed out is retired by re-keying its locker, not deleted.
    create_service = staticmethod(keys.add_key)
    update_service = staticmethod(keys.update_key)
    delete_service = staticmethod(keys.delete_key)

