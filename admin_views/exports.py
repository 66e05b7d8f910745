"""My exports: each user's files written by a worker, and how a list's export reaches one.

A list's export (SecuredModelView.export) streams a CSV of any size from the
request; an XLSX or PDF too large for a request is asked for from
app.services.export_files and built by a worker through `list_source` below,
with the list's own columns, filters, search and sort, as the user who asked.
"""

from contextlib import contextmanager

from flask import abort
from flask import jsonify
from flask import redirect
from flask import send_file
from flask import url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin_views.base import ID_PATH
from admin_views.base import OwnPagesView
from admin_views.base import id_arg
from admin_views.menu import admin_view
from app.models import ExportStatus
from app.services import export_files
from app.services.export_files import ExportRefused

WORKING = (ExportStatus.QUEUED, ExportStatus.RUNNING)


@contextmanager
def list_source(endpoint, params):
    """(headers, rows, title, sanitized) of the list `endpoint` as the current user sees it.

    Runs in the request context export_files.build made from the list's URL, so
    the list's filters, search and sort are read from it as in the request.
    """
    view = admin_view(endpoint)
    if view is None or not hasattr(view, "export_rows") or not view.can_export:
        raise ExportRefused(_l("You may no longer export this list."))
    _count, query = view.export_query()
    yield view.export_headers(), view.export_rows(query), view.name, True


class MyExportsView(OwnPagesView):
    """The signed-in user's own exports: progress, download, remove."""

    def is_visible(self):
        # Reached from the user menu and from the message after an export is asked for.
        return False

    @expose("/")
    def index(self):
        mine = export_files.mine(current_user.id)
        return self.render("admin/my_exports.html", exports=mine,
                           working=any(export.status in WORKING for export in mine))

    @expose("/progress")
    def progress(self):
        """The state of the user's exports, for the page's refresh while one is being written."""
        return jsonify([{"id": e.id, "status": e.status.name, "rows": e.rows_done}
                        for e in export_files.mine(current_user.id)])

    @expose(f"/<{ID_PATH}:export_id>/download")
    def download(self, export_id):
        export = export_files.owned(export_id, current_user.id)
        path = export_files.path_of(export) if export is not None else None
        if path is None:
            abort(404)
        return send_file(path, as_attachment=True, download_name=export.file_name,
                         mimetype=export_files.exports.MIMETYPES[export.kind])

    @expose("/remove", methods=("POST",))
    def remove(self):
        export = export_files.owned(id_arg("export_id"), current_user.id)
        if export is None:
            abort(404)
        export_files.remove(export)
        return redirect(url_for(".index"))


def register(admin):
    """Add My exports (linked from the user menu) and let lists be exported by workers."""
    export_files.register_source("list", list_source)
    admin.add_view(MyExportsView(name=_l("My exports"), endpoint="my_exports",
                                 url="/admin/my-exports"))
