"""Reports (SPEC Rep1–Rep4): the catalogue of app.services.report_book on screen and in files.

Every report opens on this month so far at the user's branch; its filters
(days, branch, zone) are read by ReportParams.parse, which refuses a range
the wrong way round, a branch the user is not limited to or a zone of another
branch, with the reason beside the field and no table. The same table goes
to CSV, XLSX and PDF through app.services.exports; a file too large for a
request is written by a worker into My exports, like a list's.
"""

import io
from contextlib import contextmanager

from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from admin_views.base import SecuredView
from admin_views.base import id_arg
from admin_views.base import user_branch_id
from admin_views.file_exports import log_download
from admin_views.file_exports import queue_for_worker
from app.extensions import db
from app.i18n import local_date
from app.models import Branch
from app.models import ReportFrequency
from app.models import Zone
from app.models.base import local_name
from app.services import export_files
from app.services import exports
from app.services import report_book
from app.services import report_schedules
from app.services.errors import Refusal
from app.services.export_files import ExportRefused

FILTER_NAMES = ("start", "end", "branch_id", "zone_id")


def _subtitle(params):
    branch = db.session.get(Branch, params.branch_id) if params.branch_id else None
    zone = db.session.get(Zone, params.zone_id) if params.zone_id else None
    # In the reader's digits, as the dates in the table and the date fields are.
    parts = [f"{local_date(params.start)} – {local_date(params.end)}",
             branch.name if branch else _("All branches")]
    if zone is not None:
        parts.append(local_name(zone.name, zone.name_bn))
    return " · ".join(parts)


@contextmanager
def report_source(key, params):
    """(headers, rows, title, sanitized) of report `key` for a worker writing it (export_files)."""
    entry = report_book.report(key)
    if entry is None or not entry.allowed(current_user):
        raise ExportRefused(_l("You may no longer run this report."))
    parsed, errors = report_book.ReportParams.parse(params.get("args", {}), user_branch_id())
    if errors:
        raise ExportRefused(_l("The report's filters are no longer valid."))
    table = entry.run(parsed)
    yield [column.label for column in table.columns], table.file_rows(), entry.title, False


class ReportsView(SecuredView):
    """The reports a user may run, each with its filters, table and exports."""

    permission_module = "reports"

    def _report(self, key):
        entry = report_book.report(key)
        if entry is None:
            abort(404)
        if not entry.allowed(current_user):
            abort(403)
        return entry

    def _choices(self):
        branch_id = user_branch_id()
        branches = [] if branch_id is not None else db.session.execute(
            db.select(Branch).order_by(Branch.name)).scalars().all()
        zones = db.session.execute(
            db.select(Zone).where(Zone.branch_id == branch_id) if branch_id is not None
            else db.select(Zone)).scalars().all()
        return branches, sorted(zones, key=lambda zone: local_name(zone.name, zone.name_bn))

    @expose("/")
    def index(self):
        allowed = report_book.allowed_reports(current_user)
        sections = [(label, [entry for entry in allowed if entry.section == key])
                    for key, label in report_book.SECTIONS.items()]
        return self.render("admin/reports/index.html",
                           sections=[(label, entries) for label, entries in sections if entries],
                           schedules=[(schedule, report_book.report(schedule.report_key))
                                      for schedule in report_schedules.mine(current_user.id)])

    @expose("/<key>/schedule", methods=("POST",))
    def schedule(self, key):
        """Email this report to me every day, week or month (its branch and zone as chosen)."""
        entry = self._report(key)
        frequency = ReportFrequency.__members__.get(request.form.get("frequency", ""))
        try:
            report_schedules.add(current_user, entry.key, frequency, request.form.get("kind"),
                                 branch_id=request.form.get("branch_id") or None,
                                 zone_id=request.form.get("zone_id") or None)
        except Refusal as refusal:
            flash(str(refusal.message), "error")
            return redirect(url_for(".show", key=key))
        flash(_("The report will be emailed to %(email)s %(when)s.", email=current_user.email,
                when=str(frequency.label).lower()), "success")
        return redirect(url_for(".index"))

    @expose("/schedules/remove", methods=("POST",))
    def remove_schedule(self):
        if not report_schedules.remove(id_arg("schedule_id"), current_user.id):
            abort(404)
        flash(_("The scheduled report is stopped."), "success")
        return redirect(url_for(".index"))

    @expose("/<key>/")
    def show(self, key):
        entry = self._report(key)
        params, errors = report_book.ReportParams.parse(request.args, user_branch_id())
        table, too_long = entry.for_screen(params) if params is not None else (None, None)
        branches, zones = self._choices()
        args = {name: request.args.get(name, "") for name in FILTER_NAMES}
        response = self.render(
            "admin/reports/report.html", report=entry, table=table, errors=errors,
            params=params, args=args, branches=branches, zones=zones,
            subtitle=_subtitle(params) if params else "", kinds=exports.KINDS,
            filters=entry.filters, frequencies=list(ReportFrequency), too_long=too_long,
            schedule_kinds=report_schedules.KINDS)
        return (response, 400) if errors else response

    @expose("/<key>/export/<kind>/")
    def export(self, key, kind):
        entry = self._report(key)
        if kind not in exports.KINDS:
            abort(404)
        back = url_for(".show", key=key, **request.args)
        params, errors = report_book.ReportParams.parse(request.args, user_branch_id())
        if errors:
            flash(_("Correct the report's filters first."), "error")
            return redirect(back)
        table = entry.run(params)
        rows = len(table.rows) + (1 if table.totals else 0)
        file_name = f"{entry.key}-{params.start:%Y-%m-%d}-{params.end:%Y-%m-%d}.{kind}"
        if not exports.in_request(kind, rows):
            return queue_for_worker(source=f"report:{entry.key}", kind=kind,
                                    args=request.args.to_dict(), title=entry.title,
                                    file_name=file_name, rows=rows, back=back)
        log_download("Report", file_name, params.branch_id)
        headers = [column.label for column in table.columns]
        disposition = {"Content-Disposition": f"attachment; filename={file_name}"}
        if kind == "csv":
            body = b"".join(exports.csv_chunks(headers, table.file_rows()))
        else:
            buffer = io.BytesIO()
            if kind == "xlsx":
                exports.write_xlsx(buffer, headers, table.file_rows(), title=entry.title)
            else:
                exports.write_pdf(buffer, headers, table.file_rows(), title=entry.title,
                                  subtitle=_subtitle(params))
            body = buffer.getvalue()
        return Response(body, headers=disposition, mimetype=exports.MIMETYPES[kind])


def register(admin):
    """Add Reports to the menu and let their files be written by workers."""
    export_files.register_source("report", report_source)
    admin.add_view(ReportsView(name=_l("Reports"), endpoint="reports"))
