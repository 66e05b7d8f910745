"""Staff accounts, roles and the activity log."""

from flask import flash
from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from markupsafe import escape
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import SelectMultipleField
from wtforms import widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from admin_views.base import SecuredModelView
from app.services.access import MODULES
from app.services.access import role_description
from app.services.access import role_label
from app.services.errors import Refusal
from app.services.staff import WeakPassword
from app.services.staff import delete_role
from app.services.staff import password_problems
from app.services.staff import set_password

MODULE_LABELS = {
    "branches": _l("Branches"), "lockers": _l("Lockers"), "keys": _l("Keys"),
    "clients": _l("Clients"), "rentals": _l("Rentals"), "maintenance": _l("Maintenance"),
    "lost_found": _l("Lost & found"), "payments": _l("Payments"),
    "reports": _l("Reports"), "activity": _l("Activity log"), "users": _l("Staff"),
    "roles": _l("Roles"), "settings": _l("Settings"), "messages": _l("Messages"),
    "backups": _l("Backups"), "privacy": _l("Privacy"),
}
ACTION_LABELS = {"view": _l("view"), "create": _l("create"), "edit": _l("edit"),
                 "delete": _l("delete")}


def permission_choices():
    """Every permission with a readable label, in the order of the table."""
    return [(f"{module}-{action}", f"{MODULE_LABELS[module]}: {ACTION_LABELS[action]}")
            for module, actions in MODULES.items() for action in actions]


class PermissionsField(SelectMultipleField):
    """Tick boxes for a role's permissions."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs, choices=lambda: [
            SelectChoice(value, label) for value, label in permission_choices()])

    def process_data(self, value):
        self.data = sorted(value or [])


class NewPasswordField(PasswordField):
    """A password typed by a Super Admin; never copied onto the user as it is.

    The staff service checks it and stores only its hash.
    """

    def populate_obj(self, obj, name):
        return None


class UserView(SecuredModelView):
    """Staff who log in. A new password here ends all of that person's sessions."""

    permission_module = "users"
    column_list = ["email", "full_name", "roles", "branch", "locale", "active", "last_login_at",
                   "login_count"]
    column_searchable_list = ["email", "full_name"]
    column_filters = ["active", "branch.name", "roles.name"]
    column_details_list = ["email", "full_name", "roles", "branch", "locale", "active",
                           "tf_primary_method", "current_login_at", "last_login_at",
                           "login_count", "password_changed_at"]
    column_export_list = column_list
    form_columns = ["email", "full_name", "roles", "branch", "locale", "active", "new_password"]
    form_extra_fields = {"new_password": NewPasswordField(_l("New password"))}
    form_overrides = {"locale": SelectField}
    form_args = {"locale": {"choices": [SelectChoice("bn", "বাংলা"), SelectChoice("en", "English")]},
                 "roles": {"get_label": lambda role: role_label(role.name)}}
    column_formatters = {
        "roles": lambda v, c, m, n: ", ".join(str(role_label(r.name)) for r in m.roles),
        "locale": lambda v, c, m, n: "বাংলা" if m.locale == "bn" else "English",
    }

    def check_record(self, form):
        creating = (request.endpoint or "").endswith("create_view")
        if creating and not form.new_password.data:
            form.new_password.errors.append(_("Give the new staff member a password."))
            return False
        if form.new_password.data:
            problems = password_problems(form.new_password.data, form._obj)
            form.new_password.errors.extend(problems)
            return not problems
        return True

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        if form.new_password.data:
            try:
                set_password(model, form.new_password.data)
            except WeakPassword as exc:
                # Flask-Admin shows a ValidationError as a message and rolls back.
                raise ValidationError(str(exc)) from exc


class RoleView(SecuredModelView):
    """Roles and the permissions they carry."""

    permission_module = "roles"
    column_list = ["name", "description", "permissions"]
    column_searchable_list = ["name"]
    form_columns = ["name", "description", "permissions"]
    form_overrides = {"permissions": PermissionsField}
    column_formatters = {
        "name": lambda v, c, m, n: role_label(m.name),
        "description": lambda v, c, m, n: role_description(m),
        "permissions": lambda v, c, m, n: Markup("<br>").join(
            escape(label) for value, label in permission_choices()
            if value in (m.permissions or [])
        ),
    }
    column_formatters_export = {
        "name": lambda v, c, m, n: str(role_label(m.name)),
        "description": lambda v, c, m, n: str(role_description(m)),
        "permissions": lambda v, c, m, n: ", ".join(m.permissions or []),
    }

    def delete_model(self, model):
        # The one rule for deleting a role (app.services.staff.delete_role), also
        # for the list's bulk "Delete".
        try:
            delete_role(model.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
            return False
        return True
