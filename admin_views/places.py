"""Branches, floors, zones, locker categories, lockers and keys."""

from flask_babel import gettext as _

from admin_views.base import SecuredModelView
from admin_views.validators import NotTaken
from app.extensions import db
from app.models import Key
from app.models import Locker
from app.models import LockerStatus


class BranchView(SecuredModelView):
    """Branches of the chain."""

    permission_module = "branches"
    column_list = ["name", "code", "phone", "timezone", "is_active"]
    column_searchable_list = ["name", "code"]
    column_filters = ["is_active"]
    column_default_sort = "name"
    form_columns = ["name", "code", "address", "phone", "timezone", "is_active"]


class FloorView(SecuredModelView):
    """Floors or rooms of a branch."""

    permission_module = "branches"
    column_list = ["branch", "name", "level"]
    column_searchable_list = ["name"]
    column_filters = ["branch.name"]
    column_default_sort = [("branch_id", False), ("level", False)]
    form_columns = ["branch", "name", "level"]


class ZoneView(SecuredModelView):
    """Zones of a floor; the zone type drives the gender check on assignment."""

    permission_module = "branches"
    column_list = ["branch", "floor", "name", "kind"]
    column_searchable_list = ["name"]
    column_filters = ["kind", "branch.name"]
    form_columns = ["floor", "name", "kind"]


class LockerCategoryView(SecuredModelView):
    """Custom locker categories (Day-use, Premium …)."""

    permission_module = "lockers"
    column_list = ["name", "description"]
    column_searchable_list = ["name"]
    form_columns = ["name", "description"]


class LockerView(SecuredModelView):
    """Every locker, filterable the way the desk looks for one."""

    permission_module = "lockers"
    column_list = ["number", "branch", "zone", "size", "category", "status", "notes"]
    column_searchable_list = ["number"]
    column_filters = ["status", "size", "zone.name", "category.name", "branch.name"]
    column_sortable_list = ["number", "size", "status", ("zone", "zone.name"),
                            ("branch", "branch.name")]
    column_default_sort = "number"
    # Status changes go through the locker state machine, not a free edit.
    form_columns = ["zone", "number", "size", "category", "notes"]
    form_args = {"number": {"filters": [lambda value: value.strip().upper() if value else value]}}

    def check_record(self, form):
        zone = form.zone.data
        if zone is None:
            return True
        same_number = db.session.execute(
            db.select(Locker).where(Locker.branch_id == zone.branch_id,
                                    Locker.number == form.number.data)
        ).scalars()
        return self.reject_duplicate(
            form, "number", same_number,
            lambda other: _("Locker %(number)s already exists in this branch.",
                            number=other.number),
        )

    def on_model_change(self, form, model, is_created):
        if is_created:
            model.status = LockerStatus.AVAILABLE
        super().on_model_change(form, model, is_created)


class KeyView(SecuredModelView):
    """Key tags, spares included."""

    permission_module = "keys"
    column_list = ["tag", "locker", "is_spare", "state", "notes"]
    column_searchable_list = ["tag", "locker.number"]
    column_filters = ["state", "is_spare", "locker.number"]
    column_default_sort = "tag"
    form_columns = ["locker", "tag", "is_spare", "state", "notes"]
    branch_join = (Key.locker, Locker.branch_id)

    form_args = {"tag": {"validators": [NotTaken(
        Key.tag, lambda other: _("Key tag %(tag)s is already in use.", tag=other.tag))]}}

