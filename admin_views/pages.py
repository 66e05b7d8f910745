"""Custom admin pages: home, financial report, settings."""


from flask_admin import expose
from flask_babel import format_date
from flask_login import current_user

from admin_views.base import SecuredIndexView
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.filters import home_links
from app.models import PaymentMethod
from app.services import backups
from app.services import health
from app.services import reports
from app.services.access import VIEW
from app.services.access import can


class HomeView(SecuredIndexView):
    """The first page after login: the branch at a glance."""

    @expose("/")
    def index(self):
        branch_id = user_branch_id()
        counts = reports.locker_status_counts(branch_id)
        return self.render(
            "admin/home.html",
            counts=counts,
            occupancy=reports.occupancy_percent(counts),
            expiring=reports.expiring_soon_count(branch_id),
            # Each card opens the list it counts, if the user may open that list.
            links=home_links(),
            # Told to whoever looks after backups, when the schedule's backup is missing.
            backup_late=(can(current_user, "backups", VIEW) and backups.late()),
            # Told to whoever reads the status page: reminders and messages wait meanwhile.
            workers_down=(can(current_user, "activity", VIEW)
                          and not health.check_workers()["ok"]),
            last_backup=backups.latest() if can(current_user, "backups", VIEW) else None,
        )


class FinancialReportView(SecuredView):
    """Collections by month and payment method (SPEC Rep1)."""

    permission_module = "reports"

    @expose("/")
    def index(self):
        from datetime import date

        rows = reports.collections_by_month(user_branch_id())
        labelled = [(format_date(date(year, month, 1), "MMMM y"), by_method, total)
                    for year, month, by_method, total in rows]
        return self.render("admin/financial_report.html", rows=labelled,
                           methods=list(PaymentMethod))


