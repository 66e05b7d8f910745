"""The secured base views every admin page derives from.

A view names its permission module; whether a user may open it, create, edit,
delete, run an action or export is derived from that module's permissions,
checked on the server for every request (a hidden button is not a check).
Staff limited to one branch see only that branch's rows, in lists, forms,
counts and exports.
"""

import contextvars
import io
import math
from datetime import date
from datetime import datetime
from enum import Enum
from urllib.parse import quote
from urllib.parse import urlsplit

from flask import Response
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import session
from flask import stream_with_context
from flask import url_for
from flask_admin import AdminIndexView
from flask_admin import BaseView
from flask_admin import expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.contrib.sqla.validators import Unique
from flask_admin.helpers import flash_errors
from flask_admin.helpers import get_redirect_target
from flask_admin.model import filters
from flask_admin.model import typefmt
from flask_admin.model.fields import AjaxSelectField
from flask_admin.model.form import converts
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy import BigInteger
from sqlalchemy import func
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Query
from wtforms import fields
from wtforms.fields.choices import Choice
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from admin_views.export_cells import export_rows
from admin_views.export_cells import reads_plain_rows
from admin_views.fields import DeskDateField
from admin_views.file_exports import log_download
from admin_views.file_exports import queue_for_worker
from admin_views.filters import typed_filters
from admin_views.labels import BLANK_CHOICE
from admin_views.labels import COLUMN_LABELS
from admin_views.labels import PICKER_PLACEHOLDER
from admin_views.labels import labels_for
from app.extensions import db
from app.i18n import local_date
from app.i18n import local_datetime
from app.models import utcnow
from app.models.base import LabelledEnum
from app.services import planner_statistics
from app.services.access import CREATE
from app.services.access import DELETE
from app.services.access import EDIT
from app.services.access import VIEW
from app.services.access import can
from app.services.digits import ascii_digits
from app.services.errors import Refusal
from app.services.exports import IN_REQUEST_OBJECT_ROWS
from app.services.exports import IN_REQUEST_ROWS
from app.services.exports import MIMETYPES
from app.services.exports import count_up_to
from app.services.exports import csv_chunks
from app.services.exports import in_request
from app.services.exports import safe_cell
from app.services.exports import write_pdf
from app.services.exports import write_xlsx
from app.web import SESSION_EXPIRED
from app.web import kept_form_values


def local_target(url):
    """`url` if it is a path on this site (where to go after an action), else None."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc else None


def _deny(name=None):
    """Anonymous users go to the login page; signed-in users get 403."""
    if not current_user.is_authenticated:
        return redirect(url_for("security.login", next=request.full_path))
    return abort(403)


def user_branch_id():
    """The branch the current user is limited to, or None for all branches."""
    return getattr(current_user, "branch_id", None) if current_user.is_authenticated else None


def scope_to_branch(query, model):
    """Limit `query` over `model` to the user's branch, when both have one."""
    branch_id = user_branch_id()
    if branch_id is None:
        return query
    if model.__name__ == "Branch":
        return query.filter(model.id == branch_id)
    if hasattr(model, "branch_id"):
        return query.filter(model.branch_id == branch_id)
    return query


# --- input checks ---------------------------------------------------------------------
# Every id column is a 32-bit INTEGER. A larger number names no record, yet sent to
# the database it is an error rather than "not found" (PostgreSQL will not compare an
# INTEGER with it, SQLite's driver cannot bind it), and so is text on PostgreSQL.
MAX_ID = 2**31 - 1
# The converter for an id in a route's path: <{ID_PATH}:invoice_id> is a 404 beyond MAX_ID.
ID_PATH = f"int(max={MAX_ID})"
# Stands for the row id in links and buttons drawn once per page (SecuredModelView.get_url,
# row_actions_html): a number, as an <int:…> in a route's path needs one, which no record
# has (past MAX_ID) and nothing else on a page writes (nineteen digits in a row).
ROW_ID_MARK = "9081726354453627189"


def parse_id(value):
    """`value` (text from a URL or form, or an int) as a record id; None if it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        if not (text.isascii() and text.isdigit()):
            return None
        number = int(text)
    return number if 1 <= number <= MAX_ID else None


def id_arg(name):
    """The record id in the request's argument or form field `name`; None if missing or not an id."""
    return parse_id(request.values.get(name))


def _has_control_characters(text):
    return any(ord(character) < 32 or ord(character) == 127 for character in text)


def refuse_malformed_request():
    """400 for what no page of ours sends: a NUL character, or a return URL with control characters.

    PostgreSQL cannot store NUL in text, and a line break in the `url` a view
    redirects back to would break the Location header.
    """
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)
    if _has_control_characters(request.values.get("url") or ""):
        abort(400)


def _storable(value, column_type):
    """False for a filter value the column cannot hold: a number beyond its range, a date before 1000.

    PostgreSQL refuses to compare an INTEGER column with a number beyond 32 bits.
    """
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        bits = 63 if isinstance(column_type, BigInteger) else 31
        return -(2**bits) <= value < 2**bits
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 2**63
    if isinstance(value, date):
        # MariaDB's DATE and DATETIME start at the year 1000.
        return value.year >= 1000
    return True


class CheckedFilter:
    """A list filter whose value is checked before it reaches the database.

    Flask-Admin counts a value as valid when clean() raises no ValueError, but an
    unknown enum name raises KeyError, and a number or date beyond what the
    column holds passes clean() and fails in the database. Such a value is
    flashed as invalid and ignored, like any other bad filter value.
    """

    def validate(self, value):
        try:
            if not super().validate(value):
                return False
            cleaned = self.clean(value)
        except (ValueError, KeyError, TypeError, OverflowError):
            return False
        column_type = getattr(self.column, "type", None)
        values = cleaned if isinstance(cleaned, list | tuple) else [cleaned]
        return all(_storable(item, column_type) for item in values)


def _checked(filter_classes):
    return tuple(type(cls.__name__, (CheckedFilter, cls), {"__module__": __name__})
                 for cls in filter_classes)


class DeskFilterConverter(FilterConverter):
    """Flask-Admin's column filters, each checking its value (CheckedFilter).

    An enum filter offers the members' translated labels (Flask-Admin would
    offer the stored names: ACTIVE, CASH); the value sent is still the name.
    """

    strings = _checked(FilterConverter.strings)
    string_key_filters = _checked(FilterConverter.string_key_filters)
    int_filters = _checked(FilterConverter.int_filters)
    float_filters = _checked(FilterConverter.float_filters)
    bool_filters = _checked(FilterConverter.bool_filters)
    enum = _checked(FilterConverter.enum)
    # Dates typed dd/mm/yyyy as the picker writes them (ISO still read).
    date_filters = _checked(typed_filters(FilterConverter.date_filters))
    datetime_filters = _checked(typed_filters(FilterConverter.datetime_filters))
    time_filters = _checked(FilterConverter.time_filters)
    choice_type_filters = _checked(FilterConverter.choice_type_filters)
    uuid_filters = _checked(FilterConverter.uuid_filters)
    arrow_type_filters = _checked(FilterConverter.arrow_type_filters)

    @filters.convert("enum")
    def conv_enum(self, column, name, options=None, **kwargs):
        enum_class = getattr(column.type, "enum_class", None)
        if not options and enum_class is not None and issubclass(enum_class, LabelledEnum):
            # Called at each page view, so the labels are in the reader's language.
            options = enum_class.choices
        return super().conv_enum(column, name, options, **kwargs)


class DeskForm(FlaskForm):
    """A Flask-WTF form that remembers the record it edits.

    Flask-WTF because CSRFProtect already checks every POST of the app (list
    actions and deletes included) and admin forms should use the same token;
    `_obj` because Flask-Admin's Unique validator needs it to let a record keep
    its own email or number.
    """

    def __init__(self, *args, **kwargs):
        self._obj = kwargs.get("obj")
        formdata = args[0] if args else kwargs.get("formdata")
        if request.method == "GET" and formdata is None:
            # The form sent when the session had expired is shown again as it was typed.
            kept = kept_form_values(request.path)
            if kept is not None:
                args, kwargs = (kept, *args[1:]), {k: v for k, v in kwargs.items()
                                                   if k != "formdata"}
                if not any(str(message) == str(SESSION_EXPIRED)
                           for _category, message in session.get("_flashes", [])):
                    flash(str(SESSION_EXPIRED), "warning")
        super().__init__(*args, **kwargs)


class EnumSelectField(fields.SelectField):
    """A select over a LabelledEnum: translated labels, members in and out."""

    def __init__(self, label=None, validators=None, enum_class=None, allow_blank=False, **kwargs):
        self.enum_class = enum_class
        self.allow_blank = allow_blank
        kwargs.pop("choices", None)
        kwargs.pop("coerce", None)
        super().__init__(label, validators, coerce=self._coerce, **kwargs,
                         choices=lambda: [SelectChoice(v, lbl) for v, lbl in self._labelled_choices()])

    def _labelled_choices(self):
        blank = [("", str(BLANK_CHOICE))] if self.allow_blank else []
        return blank + [(name, str(label)) for name, label in self.enum_class.choices()]

    def _coerce(self, value):
        if value in (None, "") or isinstance(value, self.enum_class):
            return value or None
        return self.enum_class[value]

    def _value(self):
        return self.data.name if isinstance(self.data, self.enum_class) else ""

    def iter_choices(self):
        current = self._value()
        for name, label in self._labelled_choices():
            yield Choice(name, label, name == current, {})

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = self._coerce(valuelist[0])
            except KeyError as exc:
                raise ValueError(self.gettext("Not a valid choice.")) from exc

    def pre_validate(self, form):
        if self.data is None and not self.allow_blank:
            raise ValidationError(self.gettext("Not a valid choice."))


class PickedRecordField(AjaxSelectField):
    """An ajax picker that refuses a posted id its loader does not give.

    Flask-Admin leaves an optional picker empty when the id sent names no record
    the loader finds (another branch's client, a deleted or forged id), and the
    record would be saved without it. Here the form says so and nothing is saved.
    The loader's `not_found` option is the message.
    """

    def __init__(self, loader, label=None, validators=None, **kwargs):
        # Flask-Admin's placeholder asks to "select model"; ours says what to do.
        render_kw = {"data-placeholder": PICKER_PLACEHOLDER, **(kwargs.pop("render_kw", None) or {})}
        super().__init__(loader, label, validators, render_kw=render_kw, **kwargs)

    def pre_validate(self, form):
        if self.data is None and self._formdata not in (None, ""):
            message = self.loader.options.get("not_found") or self.gettext("Not a valid choice.")
            raise ValidationError(str(message))
        super().pre_validate(form)


class ModelConverter(AdminModelConverter):
    """Flask-Admin's converter, with translated selects for our enums."""

    def _model_select_field(self, prop, multiple, remote_model, **kwargs):
        loader = getattr(self.view, "_form_ajax_refs", {}).get(prop.key)
        if loader is not None and not multiple:
            return PickedRecordField(loader, **kwargs)
        if not multiple:
            # Flask-Admin's empty choice has no text, so WTForms shows its value, "__None".
            kwargs.setdefault("blank_text", BLANK_CHOICE)
        return super()._model_select_field(prop, multiple, remote_model, **kwargs)

    @converts("sqlalchemy.sql.sqltypes.Enum")
    def convert_enum(self, column, field_args, **extra):
        enum_class = column.type.enum_class
        if enum_class is None or not issubclass(enum_class, LabelledEnum):
            return super().convert_enum(column, field_args, **extra)
        field_args.pop("choices", None)
        field_args.pop("coerce", None)
        self._nullable_common(column, field_args)
        return EnumSelectField(enum_class=enum_class, allow_blank=column.nullable, **field_args)

    @converts("Date")
    def convert_date(self, field_args, **extra):
        # Typed and shown dd/mm/yyyy like every date on screen, not Flask-Admin's ISO.
        return DeskDateField(**field_args)


def _format_datetime(view, value, name=None):
    return local_datetime(value)


def _format_enum(view, value, name=None):
    return str(value.label) if isinstance(value, LabelledEnum) else value.name


def _format_bool(view, value, name=None):
    return _("Yes") if value else _("No")


def _format_bool_icon(view, value, name=None):
    """Flask-Admin's tick or dash, its tooltip saying yes or no in the reader's language."""
    icon = "fa-check-circle" if value else "fa-minus-circle"
    return Markup('<span class="fa %s" title="%s"></span><span class="sr-only">%s</span>') % (
        icon, _format_bool(view, value), _format_bool(view, value))


def _format_date(view, value, name=None):
    return local_date(value)


def _formatters(base, boolean):
    """Flask-Admin's formatters with dates in the branch timezone and one style, enums
    and yes/no translated.

    Flask-Admin picks the first formatter whose type matches, so Enum is
    replaced in place rather than shadowed by a later entry, and datetime
    (a subclass of date) comes before date.
    """
    formatters = dict(base)
    formatters[bool] = boolean
    formatters[Enum] = _format_enum
    formatters[datetime] = _format_datetime
    formatters[date] = _format_date
    return formatters


LIST_FORMATTERS = _formatters(typefmt.BASE_FORMATTERS, _format_bool_icon)
DETAIL_FORMATTERS = _formatters(typefmt.DETAIL_FORMATTERS, _format_bool)
EXPORT_FORMATTERS = _formatters(typefmt.EXPORT_FORMATTERS, _format_bool)

# Which permission each Flask-Admin endpoint needs, beyond seeing the view at all.
_ENDPOINT_ACTIONS = {
    "create_view": CREATE,
    "edit_view": EDIT,
    "ajax_update": EDIT,
    "delete_view": DELETE,
}


class CappedCount:
    """A list's count query that stops counting at `cap` + 1 rows.

    Flask-Admin counts every row a list's search and filters match, for its
    pager, before reading the page: over a million rentals that is a read of
    the whole table or index each time a page opens. Counting "up to
    `cap` + 1" reads at most that many; the list then says "more than …".
    Flask-Admin refines the query (filter, join) before asking for the
    number, so each refinement is passed through and kept capped.
    """

    def __init__(self, query, cap):
        self._query, self.cap = query, cap

    def __getattr__(self, name):
        attribute = getattr(self._query, name)
        if not callable(attribute):
            return attribute

        def refined(*args, **kwargs):
            result = attribute(*args, **kwargs)
            return CappedCount(result, self.cap) if isinstance(result, Query) else result
        return refined

    def scalar(self):
        # Asked by Flask-Admin before it reads the page; SecuredModelView.get_list may
        # have it wait (itself as the answer) until the page shows whether it is needed.
        return self if _count_after_page.get() else self.count()

    def count(self):
        rows = self._query.with_entities(literal_column("1")).limit(self.cap + 1).subquery()
        return db.session.execute(select(func.count()).select_from(rows)).scalar_one()


# Set while SecuredModelView.get_list reads page one before counting (see there).
_count_after_page = contextvars.ContextVar("count_after_page", default=False)


class SecuredModelView(ModelView):
    """A ModelView whose every ability comes from one permission module."""

    permission_module = None
    # Read-only views (the activity log) switch these off whatever the role says.
    allow_create = allow_edit = allow_delete = True
    # List actions need EDIT unless named here.
    action_permissions = {"delete": DELETE}
    # Extra @expose endpoints of a view and the action each needs.
    endpoint_permissions = {}

    form_base_class = DeskForm
    model_form_converter = ModelConverter
    filter_converter = DeskFilterConverter()
    export_types = ["csv", "xlsx", "pdf"]
    export_max_rows = 0
    can_view_details = True
    can_set_page_size = False
    page_size = 50
    # Loader options for what a row shows beyond its own columns and their direct relations,
    # which Flask-Admin joins itself (a payment's rental names its locker): read for the
    # page in one more query, not one per row (tests/test_list_statements.py).
    list_loads = ()
    # Lists count their rows up to this many and then say "more than …" (see CappedCount).
    count_cap = 10_000
    # The search box of a large list: a function of the typed text returning a WHERE
    # clause that reads indexes (client_search keys, exact numbers), instead of
    # Flask-Admin's pattern over every searchable column, which reads every row.
    search_condition = None
    column_type_formatters = LIST_FORMATTERS
    column_type_formatters_export = EXPORT_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    column_labels = COLUMN_LABELS

    def get_url(self, endpoint, **kwargs):
        """url_for, with each kind of row link built once per page and then given the row's id.

        A list page asks for the same few links for each of its 50 rows (view and edit,
        with the list's own address to come back to), which differ only in the id:
        hundreds of url_for calls a page otherwise.
        """
        row_id = kwargs.get("id")
        if row_id is None:
            return super().get_url(endpoint, **kwargs)
        try:
            key = (endpoint, frozenset((name, value) for name, value in kwargs.items()
                                       if name != "id"))
        except TypeError:  # an argument that cannot be a key (a list): built each time
            return super().get_url(endpoint, **kwargs)
        links = g.setdefault("row_links", {})
        if key not in links:
            links[key] = super().get_url(endpoint, **{**kwargs, "id": ROW_ID_MARK})
        return links[key].replace(ROW_ID_MARK, quote(str(row_id), safe=""))

    @pass_context
    def row_actions_html(self, context, actions, row_id, row):
        """The row's action buttons (view, edit, delete, print …), drawn once per page.

        Every action of a list row depends on the row's id alone, so the buttons are
        drawn for a marked id on the first row and given each later row's id; an id
        that is not a number (it would need quoting in a link) is drawn on its own.
        """
        row_id = str(row_id)  # Flask-Admin's get_pk_value gives the id as text
        if not (row_id.isascii() and row_id.isdigit()):
            return Markup("").join(action.render_ctx(context, row_id, row) for action in actions)
        drawn = g.setdefault("row_actions_drawn", {})
        key = (self.endpoint, tuple(map(id, actions)))
        if key not in drawn:
            # Runs of white space are one space to the browser: written once.
            drawn[key] = " ".join(Markup("").join(action.render_ctx(context, ROW_ID_MARK, None)
                                                  for action in actions).split())
        return Markup(drawn[key].replace(ROW_ID_MARK, row_id))

    @pass_context
    def row_cells_html(self, context, row, list_columns):
        """The row's cells, each value through get_list_value (formatters, escaping).

        What the list template's loop over the columns wrote, in one call per row
        instead of two template calls per cell: on a page of 50 rows that loop was
        a third of the page's time. Lists with editable columns keep the loop.
        """
        return Markup("".join(f'<td class="col-{escape(name)}">'
                              f'{escape(self.get_list_value(context, row, name))}</td>'
                              for name, _label in list_columns))

    def _get_filter_groups(self):
        """The filters' names, operations and options, translated once per language.

        Flask-Admin translates every filter of the list on every page; here that is
        done once per language and kept. Options read from the database (a callable,
        such as the clients' tags, which staff add while the app runs) are read again
        for each page.
        """
        kept = self.__dict__.setdefault("_filter_groups_by_language", {})
        language = str(get_locale())
        if language not in kept:
            kept[language] = super()._get_filter_groups()
        groups = kept[language]
        live = [index for index, flt in enumerate(self._filters or ()) if callable(flt.options)]
        if not groups or not live:
            return groups
        return {label: [{**item, "options": [(key, str(text)) for key, text in
                                             self._filters[item["index"]].get_options(self)]
                                             or None}
                        if item["index"] in live else item for item in items]
                for label, items in groups.items()}

    def __init__(self, model, db, **kwargs):
        # Labels first: Flask-Admin names the form fields and filters while it builds them.
        self.column_labels = labels_for(model.__name__, self.column_labels)
        # Flask-Admin takes the SQLAlchemy object (preferred) rather than a session.
        super().__init__(model, db, **kwargs)

    def permission_for(self, action):
        """The permission an action needs; by default `<module>-<action>`."""
        return f"{self.permission_module}-{action}"

    def allowed(self, action):
        """True if the current user has the permission for `action`."""
        return current_user.is_authenticated and current_user.has_permission(
            self.permission_for(action))

    def is_accessible(self):
        return self.allowed(VIEW)

    def inaccessible_callback(self, name, **kwargs):
        return _deny(name)

    @property
    def can_create(self):
        return self.allow_create and self.allowed(CREATE)

    @property
    def can_edit(self):
        return self.allow_edit and self.allowed(EDIT)

    @property
    def can_delete(self):
        return self.allow_delete and self.allowed(DELETE)

    @property
    def can_export(self):
        return self.allowed(VIEW)

    def _handle_view(self, name, **kwargs):
        denied = super()._handle_view(name, **kwargs)
        if denied is not None:
            return denied
        needed = self.endpoint_permissions.get(name, _ENDPOINT_ACTIONS.get(name))
        allowed = {CREATE: self.can_create, EDIT: self.can_edit, DELETE: self.can_delete,
                   VIEW: True}
        if needed is not None and not allowed[needed]:
            abort(403)
        refuse_malformed_request()
        return None

    def _get_list_extra_args(self):
        # Flask-Admin takes any integer as the page: -1 is a negative OFFSET and
        # 10**20 overflows it. Such a page shows the first page.
        view_args = super()._get_list_extra_args()
        if not 0 <= (view_args.page or 0) <= MAX_ID // self.page_size:
            view_args.page = 0
        return view_args

    def parse_pk(self, value):
        """`value` as this model's primary key, or None when no row could have it."""
        column = self.model.__mapper__.primary_key[0]
        if column.type.python_type is int:
            return parse_id(value)
        text = value if isinstance(value, str) else ""
        length = getattr(column.type, "length", None)
        return text if text and (length is None or len(text) <= length) else None

    def handle_action(self, return_view=None):
        """Flask-Admin's handle_action, giving the action its row ids parsed (see parse_pk).

        Flask-Admin passes the posted text on as it came: anything at all, and
        even a real id as text, which PostgreSQL will not compare with an integer
        column. A row id that cannot be a row refuses the whole action.
        """
        row_ids = [self.parse_pk(row_id) for row_id in request.form.getlist("rowid")]
        if None in row_ids:
            flash(_("Some of the selected rows do not exist. Nothing was changed."), "error")
            return redirect(self.get_url(".index_view"))
        form = self.action_form()
        if self.validate_form(form):
            handler = self._actions_data.get(form.action.data)
            if handler and self.is_action_allowed(form.action.data):
                response = handler[0](row_ids)
                if response is not None:
                    return response
        else:
            flash_errors(form, message="Failed to perform action. %(error)s")
        if return_view:
            return redirect(self.get_url("." + return_view))
        return redirect(get_redirect_target() or self.get_url(".index_view"))

    def is_action_allowed(self, name):
        # The built-in delete follows the view's own switch; other actions only
        # need their permission (a read-only list may still offer "Renew").
        if name == "delete":
            allowed = self.can_delete
        else:
            allowed = self.allowed(self.action_permissions.get(name, EDIT))
        return allowed and super().is_action_allowed(name)

    # --- branch scoping ---------------------------------------------------------
    # How a row reaches its branch when it has no branch_id of its own:
    # (relationship to join, branch column of the joined model).
    branch_join = None

    def _scoped(self, query):
        branch_id = user_branch_id()
        if branch_id is None or self.branch_join is None:
            return scope_to_branch(query, self.model)
        relationship, column = self.branch_join
        return query.join(relationship).filter(column == branch_id)

    def branch_of(self, obj):
        """The branch id a row belongs to, or None for rows shared by all branches."""
        if self.model.__name__ == "Branch":
            return obj.id
        if self.branch_join is not None:
            relationship, column = self.branch_join
            related = getattr(obj, relationship.key)
            return getattr(related, column.key) if related is not None else None
        return getattr(obj, "branch_id", None)

    def get_query(self):
        query = self._scoped(super().get_query())
        return query.options(*self.list_loads) if self.list_loads else query

    def get_count_query(self):
        return CappedCount(self._scoped(super().get_count_query()), self.count_cap)

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        """The count and rows of a list page; page one is read first, and when it is not
        full its rows are the count: a search then runs once, not twice."""
        size = self.page_size if page_size is None else page_size
        if not execute or page or not size:
            return super().get_list(page, sort_column, sort_desc, search, filters,
                                    execute=execute, page_size=page_size)
        token = _count_after_page.set(True)
        try:
            count, rows = super().get_list(page, sort_column, sort_desc, search, filters,
                                           execute=execute, page_size=page_size)
        finally:
            _count_after_page.reset(token)
        if isinstance(count, CappedCount):
            if len(rows) < size:
                count = len(rows)
            elif self._whole_table_past_cap(count):
                count = self.count_cap + 1
            else:
                count = count.count()
        return count, rows

    def _whole_table_past_cap(self, count):
        """True when the list shows a whole table (no search, filter or branch) that the
        planner's statistics put well past the cap: it says "more than …" without
        counting, as an admin of a large table does. A chain's office opens these lists
        most; on PostgreSQL counting to the cap read 10,001 index entries each time."""
        query = count._query
        if query.whereclause is not None or \
                query.statement.get_final_froms() != [self.model.__table__]:
            return False
        estimate = planner_statistics.estimated_rows(self.model.__tablename__)
        return estimate is not None and estimate > 2 * self.count_cap

    def get_one(self, id):
        # Flask-Admin hands the URL's text to the database as it came (see parse_pk).
        pk = self.parse_pk(id)
        obj = db.session.get(self.model, pk) if pk is not None else None
        branch_id = user_branch_id()
        if obj is None or branch_id is None:
            return obj
        return obj if self.branch_of(obj) in (None, branch_id) else None

    def _scope_form(self, form):
        """Offer only the user's branch in every related-record dropdown."""
        for field in form:
            if hasattr(field, "query_factory") and getattr(field, "query_factory", None):
                remote = field.query_factory().column_descriptions[0]["entity"]
                field.query_factory = (lambda q=field.query_factory, m=remote:
                                       scope_to_branch(q(), m))
        return form

    def create_form(self, obj=None):
        return self._scope_form(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._scope_form(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        # Forms only offer the user's branch; this refuses a forged POST too.
        branch_id = user_branch_id()
        if branch_id is not None and self.branch_of(model) not in (None, branch_id):
            abort(403)

    def get_export_value(self, model, name):
        # Every cell of every export format (Flask-Admin's _export_csv and
        # _export_tablib both ask here) passes through the one sanitizer, after
        # the column's formatter and type formatter: so a linked record shown
        # by its __str__ (a rental's client) or a formatter's text is covered.
        return safe_cell(super().get_export_value(model, name))

    # --- exports (SPEC Rep4) ----------------------------------------------------------
    # One path for every format: the rows of the list as filtered, searched and sorted,
    # read in batches (exports.stream_objects), each cell through get_export_value. A CSV
    # streams from the request at any size; an XLSX or PDF too large for a request is
    # written by a worker into the user's "My exports" (admin_views.exports.list_source
    # runs export_query and export_rows there, as this user).

    def export_headers(self):
        return [label for _name, label in self._export_columns]

    def export_query(self):
        """(rows counted up to count_cap + 1, the query of every row) of the list as requested."""
        view_args = self._get_list_extra_args()
        sort_column = self._get_column_by_idx(view_args.sort)
        return self.get_list(0, sort_column[0] if sort_column else None, view_args.sort_desc,
                             view_args.search, view_args.filters, execute=False, page_size=0)

    def _id_column(self):
        return getattr(self.model, self.model.__mapper__.primary_key[0].key)

    def export_rows(self, query):
        """Each row of `query` as its exported cells (what get_export_value gives), a batch
        of rows read at a time (admin_views.export_cells)."""
        return export_rows(self, query, self._id_column(), _format_datetime, _format_date)

    def get_export_name(self, export_type="csv"):
        # ASCII: a Bengali list name would be dropped from the file name by browsers' rules.
        return f"{self.endpoint}-{to_user_timezone(utcnow()):%Y-%m-%d_%H-%M}.{export_type}"

    @expose("/export/<export_type>/")
    def export(self, export_type):
        return_url = get_redirect_target() or self.get_url(".index_view")
        if not self.can_export or export_type not in self.export_types:
            flash(_("Permission denied."), "error")
            return redirect(return_url)
        count, query = self.export_query()
        limit = IN_REQUEST_ROWS[export_type]
        if export_type == "csv" and not reads_plain_rows(self):
            limit = IN_REQUEST_OBJECT_ROWS
        if count > self.count_cap and limit > self.count_cap:
            # The list stopped counting at its cap; this decision needs the count up to limit.
            count = count_up_to(query, self._id_column(), limit)
        file_name = self.get_export_name(export_type)
        if not in_request(export_type, count, limit):
            return queue_for_worker(
                source=f"list:{self.endpoint}", kind=export_type,
                args=request.args.to_dict(flat=False), title=self.name, file_name=file_name,
                rows=count, back=return_url)
        log_download(self.model.__name__, file_name, user_branch_id())
        headers = {"Content-Disposition": f"attachment; filename={file_name}"}
        rows = self.export_rows(query)
        if export_type == "csv":
            return Response(stream_with_context(csv_chunks(self.export_headers(), rows,
                                                           sanitized=True)),
                            headers=headers, mimetype=MIMETYPES["csv"])
        body = io.BytesIO()
        if export_type == "xlsx":
            write_xlsx(body, self.export_headers(), rows, title=self.name, sanitized=True)
        else:
            write_pdf(body, self.export_headers(), rows, title=self.name)
        return Response(body.getvalue(), headers=headers, mimetype=MIMETYPES[export_type])

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # Bengali digits typed in the search box find what ASCII digits find.
        search = ascii_digits(search)
        if self.search_condition is None:
            return super()._apply_search(query, count_query, joins, count_joins, search)
        condition = self.search_condition(search)
        count_query = count_query.filter(condition) if count_query is not None else None
        return query.filter(condition), count_query, joins, count_joins

    def validate_form(self, form):
        if not super().validate_form(form):
            return False
        if (request.endpoint or "").rsplit(".", 1)[-1] in ("create_view", "edit_view"):
            return self.check_record(form)
        return True

    def check_record(self, form):
        """Business checks on a submitted create/edit form; add field errors, return False."""
        return True

    def reject_duplicate(self, form, field_name, query, message):
        """Add `message` to the field when `query` finds another record (not the one edited)."""
        editing = request.args.get("id")
        for other in query:
            if editing is None or str(other.id) != editing:
                getattr(form, field_name).errors.append(message(other))
                return False
        return True

    def handle_view_exception(self, exc):
        if isinstance(exc, IntegrityError):
            flash(_("This would duplicate an existing record or break a link between "
                    "records. Nothing was saved."), "error")
            return True
        return super().handle_view_exception(exc)


class ServiceModelView(SecuredModelView):
    """A list of business records whose create, edit and delete call the area's service.

    Flask-Admin would write a submitted form straight into the model, skipping
    every rule the desk screens go through (a locker without its key, a client
    without the signed terms). Here the form's values go to the service the
    view names instead, as plain data: a related record becomes its id
    (`zone` → `zone_id`). An operation without a service is switched off, and
    a refusal is shown on the form with nothing saved.

        create_service(data, *, by_user_id) -> the new record
        update_service(record_id, data, *, by_user_id) -> the record
        delete_service(record_id, *, by_user_id)
    """

    create_service = update_service = delete_service = None

    def scaffold_form(self):
        # Flask-Admin adds its own "Already exists." check on unique columns; the service
        # checks the same (without case, naming the other record) and must be the one voice.
        form_class = super().scaffold_form()
        for unbound in vars(form_class).values():
            validators = getattr(unbound, "kwargs", {}).get("validators")
            if validators:
                validators[:] = [v for v in validators if not isinstance(v, Unique)]
        return form_class

    @property
    def can_create(self):
        return self.create_service is not None and super().can_create

    @property
    def can_edit(self):
        return self.update_service is not None and super().can_edit

    @property
    def can_delete(self):
        return self.delete_service is not None and super().can_delete

    @staticmethod
    def form_data(form):
        """The submitted values, related records as ids (`zone` → `zone_id`)."""
        data = {}
        for name, field in form._fields.items():
            if name == "csrf_token":
                continue
            value = field.data
            if isinstance(value, db.Model):
                data[f"{name}_id"] = value.id
            elif value is None and (hasattr(field, "query_factory") or hasattr(field, "loader")):
                data[f"{name}_id"] = None
            else:
                data[name] = value
        return data

    def _refused(self, form, refusal):
        field = getattr(form, refusal.field, None) if refusal.field else None
        if field is not None:
            field.errors = [*field.errors, str(refusal.message)]
        flash(str(refusal.message), "error")

    def create_model(self, form):
        try:
            model = self.create_service(self.form_data(form), by_user_id=current_user.id)
        except Refusal as exc:
            self._refused(form, exc)
            return False
        return model

    def update_model(self, form, model):
        try:
            self.update_service(model.id, self.form_data(form), by_user_id=current_user.id)
        except Refusal as exc:
            self._refused(form, exc)
            return False
        return True

    def delete_model(self, model):
        try:
            self.delete_service(model.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
            return False
        return True


class SecuredView(BaseView):
    """A custom admin page guarded by one permission."""

    permission_module = None
    permission_action = VIEW

    def is_accessible(self):
        return can(current_user, self.permission_module, self.permission_action)

    def inaccessible_callback(self, name, **kwargs):
        return _deny(name)

    def _handle_view(self, name, **kwargs):
        denied = super()._handle_view(name, **kwargs)
        if denied is not None:
            return denied
        refuse_malformed_request()
        return None


class OwnPagesView(SecuredView):
    """A page of the user's own things (My exports): every signed-in member of staff.

    What it shows is limited to the user's own rows by the page itself.
    """

    permission_module = None

    def is_accessible(self):
        return current_user.is_authenticated and current_user.is_active


class SecuredIndexView(AdminIndexView):
    """The admin home: any signed-in staff member, nobody else."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.is_active

    def inaccessible_callback(self, name, **kwargs):
        return _deny(name)

