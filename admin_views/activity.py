"""The activity log: read-only for everyone, filterable, exportable to CSV.

Rows store what the code knows (the class name "RentalStatusChange", the column
"holding_locker_id", the enum value "available"); on screen and in the export
each is named in the reader's language: the record type and field names from
admin_views.labels, values as the rest of the desk shows them.
"""

from datetime import date
from datetime import datetime

import sqlalchemy as sa
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy import Boolean
from sqlalchemy import Enum as EnumType

from admin_views.base import SecuredModelView
from admin_views.filters import branch_day_filters
from admin_views.labels import MODEL_NAMES
from admin_views.labels import field_label
from admin_views.settings import setting_value
from app.extensions import db
from app.i18n import local_date
from app.i18n import local_datetime
from app.i18n import money
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.services import client_search
from app.services import settings as settings_service

SIGN_IN_ACTIONS = (ActivityAction.LOGIN, ActivityAction.LOGIN_FAILED, ActivityAction.LOCKED_OUT)
SIGN_IN_SUMMARIES = {
    "password": _l("with password"),
    "webauthn": _l("with security key"),
    "authenticator": _l("with authenticator app"),
    "totp": _l("with authenticator app"),
    "locked": _l("account locked"),
    "unknown account": _l("unknown account"),
}


def model_name(name):
    """The translated name of a kind of record ("RentalStatusChange" → its label)."""
    label = MODEL_NAMES.get(name or "")
    return str(label) if label is not None else (name or "")


def _model_class(name):
    for mapper in db.Model.registry.mappers:
        if mapper.class_.__name__ == name:
            return mapper.class_
    return None


def _column(model_class, field):
    if model_class is None:
        return None
    prop = model_class.__mapper__.column_attrs.get(field)
    return prop.columns[0] if prop is not None else None


def display_value(model, field, value):
    """A stored change value (JSON: names, ISO dates, poisha) as the desk shows it."""
    if value is None or value == "":
        return "—"
    column = _column(_model_class(model), field)
    column_type = getattr(column, "type", None)
    if isinstance(column_type, Boolean) or isinstance(value, bool):
        return _("Yes") if value else _("No")
    enum_class = getattr(column_type, "enum_class", None) if isinstance(
        column_type, EnumType) else None
    if enum_class is not None:
        member = _enum_member(enum_class, value)
        return str(member) if member is not None else str(value)
    if field.endswith("_poisha") and isinstance(value, int):
        return money(value)
    if isinstance(value, str) and column_type is not None:
        python_type = _python_type(column_type)
        if python_type is datetime:
            return local_datetime(_parsed(datetime, value))
        if python_type is date:
            return local_date(_parsed(date, value))
    return str(value)


def _enum_member(enum_class, value):
    """The member stored as `value`: its value (what the log keeps) or its name."""
    for member in enum_class:
        if value in (member.value, member.name):
            return member
    return None


def _python_type(column_type):
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def _parsed(kind, text):
    try:
        return kind.fromisoformat(text)
    except ValueError:
        return text


def _entries_found(text):
    """Entries by the staff member's email, of the record with the id typed, or of a client.

    The log is the largest table a chain has (millions of rows): only what an
    index answers is searched; the summary's words are not.
    """
    text = text.strip()
    found_clients = sa.select(sa.cast(Client.id, ActivityLog.object_id.type)).where(
        client_search.search_condition(text))
    # The record's id under every kind of record: the (model, object_id) index answers a
    # list of models; an id alone would read the whole index.
    conditions = (ActivityLog.user_email == text.lower(),
                  sa.and_(ActivityLog.model.in_(sorted(MODEL_NAMES)), ActivityLog.object_id == text),
                  sa.and_(ActivityLog.model == "Client", ActivityLog.object_id.in_(found_clients)))
    return client_search.any_of(ActivityLog.id, *(sa.select(ActivityLog.id).where(condition)
                                                  for condition in conditions))


class ActivityLogView(SecuredModelView):
    """Who did what, when, from where."""

    permission_module = "activity"
    allow_create = allow_edit = allow_delete = False
    column_list = ["at", "user_email", "action", "model", "object_id", "summary", "ip"]
    column_details_list = ["at", "user_email", "action", "model", "object_id", "summary",
                           "changes", "ip", "user_agent", "branch"]
    column_export_list = ["at", "user_email", "action", "model", "object_id", "summary",
                          "changes", "ip", "user_agent"]
    column_searchable_list = ["user_email", "object_id"]
    search_condition = staticmethod(_entries_found)
    column_default_sort = ("at", True)

    def __init__(self, *args, **kwargs):
        # The record type is chosen from its translated names, not typed as a class name.
        self.column_filters = [
            "user_email", "action",
            # Flask-Admin keeps the options from start-up: lazy labels, read per request.
            RecordTypeFilter(ActivityLog.model, _l("Record type"),
                             options=list(MODEL_NAMES.items())),
            # Days are the branch's (with branches in one timezone, sign-ins without a branch too).
            *branch_day_filters(ActivityLog.at, ActivityLog.branch_id, _l("Time")),
            "branch.name",
        ]
        formatters = {"model": self._model_column, "summary": self._summary_column,
                      "object_id": self._object_column}
        self.column_formatters = formatters
        self.column_formatters_detail = {**formatters, "changes": self._changes_table}
        self.column_formatters_export = {**formatters, "changes": self._changes_export}
        super().__init__(*args, **kwargs)

    def _labels_of(self, model):
        """The column labels the admin's own views of `model` use, so a field reads alike."""
        labels = {}
        for view in getattr(self.admin, "_views", []):
            if getattr(view, "model", None) is not None and view.model.__name__ == model:
                labels.update(view.column_labels or {})
        return labels

    def field_name(self, model, field):
        """The translated name of `field` of a `model` record, as its own screens call it."""
        label = field_label(model, field, self._labels_of(model) or None)
        return str(label) if label is not None else field

    @staticmethod
    def _model_column(view, context, model, name):
        return model_name(model.model)

    @staticmethod
    def _object_column(view, context, model, name):
        # A setting's id is its key, which names it only for the code.
        if model.model == "Setting" and model.object_id in settings_service.SETTINGS:
            return str(settings_service.SETTINGS[model.object_id].label)
        return model.object_id or ""

    @staticmethod
    def _summary_column(view, context, model, name):
        # A setting is logged by its key; the desk knows it by its label.
        if model.model == "Setting" and model.object_id in settings_service.SETTINGS:
            return str(settings_service.SETTINGS[model.object_id].label)
        # Sign-ins are logged with how they were made, as codes ("password,webauthn").
        if model.model == "User" and model.action in SIGN_IN_ACTIONS and model.summary:
            return ", ".join(str(SIGN_IN_SUMMARIES.get(part.strip(), part))
                             for part in model.summary.split(","))
        return escape(model.summary or "")

    def _rows(self, model):
        changes = model.changes or {}
        rows = []
        for field, value in changes.items():
            parts = value if isinstance(value, list) and len(value) == 2 else [value]
            if model.model == "Setting" and field == "value":
                # Shown as the settings screen types it: taka, yes/no, a secret not at all.
                shown = [setting_value(model.object_id, part) if part not in (None, "") else "—"
                         for part in parts]
            else:
                shown = [display_value(model.model, field, part) for part in parts]
            rows.append((self.field_name(model.model, field), shown))
        return sorted(rows, key=lambda row: row[0])

    @staticmethod
    def _changes_table(view, context, model, name):
        """Before → after for updates; the values for creates and deletes."""
        rows = []
        for label, shown in view._rows(model):
            if len(shown) == 2:
                cells = Markup("<td>%s</td><td>%s</td>") % (shown[0], shown[1])
            else:
                cells = Markup('<td colspan="2">%s</td>') % (shown[0],)
            rows.append(Markup("<tr><th>%s</th>%s</tr>") % (label, cells))
        if not rows:
            return ""
        head = Markup("<tr><th></th><th>%s</th><th>%s</th></tr>") % (_("Before"), _("After"))
        return Markup('<table class="table table-sm table-bordered mb-0">%s%s</table>') % (
            head, Markup("").join(rows))

    @staticmethod
    def _changes_export(view, context, model, name):
        return "; ".join(
            f"{label}: {shown[0]} → {shown[1]}" if len(shown) == 2 else f"{label}: {shown[0]}"
            for label, shown in view._rows(model))


class RecordTypeFilter(FilterEqual):
    """The activity log's record type, offered by its translated names."""

    def validate(self, value):
        return value in MODEL_NAMES

