"""Locker analytics page (SPEC L5)."""

from flask import request
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.menu import LOCKERS
from app.services import analytics


class LockerAnalyticsView(SecuredView):
    """Time on locker, turnover and lockers nobody has rented lately."""

    permission_module = "reports"

    @expose("/")
    def index(self):
        months = request.args.get("months", default=6, type=int)
        months = min(max(months, 1), 36)
        branch_id = user_branch_id()
        average_turnover, busiest = analytics.turnover(branch_id)
        return self.render(
            "admin/locker_analytics.html",
            time_on_locker=analytics.time_on_locker(branch_id),
            average_turnover=average_turnover, busiest=busiest,
            idle=analytics.never_rented(branch_id, months), months=months,
        )


def register(admin):
    """Add the analytics page to the Lockers menu."""
    admin.add_view(LockerAnalyticsView(name=_l("Locker analytics"), category=LOCKERS,
                                       endpoint="locker_analytics"))
