"""Locker analytics page (SPEC L5): the figures of the reports, for the last year at a glance."""

from flask import request
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.menu import LOCKERS
from app.services import figures


class LockerAnalyticsView(SecuredView):
    """Time on locker, turnover and lockers nobody has rented lately."""

    permission_module = "reports"

    @expose("/")
    def index(self):
        months = request.args.get("months", default=6, type=int)
        months = min(max(months, 1), 36)
        year = figures.locker_year(user_branch_id(), months)
        return self.render(
            "admin/locker_analytics.html", time_on_locker=year.time_on_locker,
            average_turnover=year.average_turnover, busiest=year.busiest, idle=year.idle,
            months=months)


def register(admin):
    """Add the analytics page to the Lockers menu."""
    admin.add_view(LockerAnalyticsView(name=_l("Locker analytics"), category=LOCKERS,
                                       endpoint="locker_analytics"))
