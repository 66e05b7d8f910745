"""The activity log: read-only for everyone, filterable, exportable to CSV."""

from flask_babel import gettext as _
from markupsafe import Markup
from markupsafe import escape

from admin_views.base import SecuredModelView


def _changes_table(view, context, model, name):
    """Before → after for updates; the values for creates and deletes."""
    changes = model.changes or {}
    if not changes:
        return ""
    rows = []
    for field, value in sorted(changes.items()):
        if isinstance(value, list) and len(value) == 2:
            cells = Markup("<td>%s</td><td>%s</td>") % (value[0], value[1])
        else:
            cells = Markup('<td colspan="2">%s</td>') % (value,)
        rows.append(Markup("<tr><th>%s</th>%s</tr>") % (field, cells))
    head = Markup("<tr><th></th><th>%s</th><th>%s</th></tr>") % (_("Before"), _("After"))
    return Markup('<table class="table table-sm table-bordered mb-0">%s%s</table>') % (
        head, Markup("").join(rows))


def _changes_export(view, context, model, name):
    changes = model.changes or {}
    return "; ".join(
        f"{field}: {value[0]} → {value[1]}" if isinstance(value, list) and len(value) == 2
        else f"{field}: {value}"
        for field, value in sorted(changes.items())
    )


class ActivityLogView(SecuredModelView):
    """Who did what, when, from where."""

    permission_module = "activity"
    allow_create = allow_edit = allow_delete = False
    export_types = ["csv"]
    column_list = ["at", "user_email", "action", "model", "object_id", "summary", "ip"]
    column_details_list = ["at", "user_email", "action", "model", "object_id", "summary",
                           "changes", "ip", "user_agent", "branch"]
    column_export_list = ["at", "user_email", "action", "model", "object_id", "summary",
                          "changes", "ip", "user_agent"]
    column_searchable_list = ["user_email", "summary", "object_id"]
    column_filters = ["user_email", "action", "model", "at", "branch.name"]
    column_default_sort = ("at", True)
    column_formatters = {"summary": lambda v, c, m, n: escape(m.summary or "")}
    column_formatters_detail = {"changes": _changes_table}
    column_formatters_export = {"changes": _changes_export}
