"""Locker analytics page (SPEC L5): the figures of the reports, for the last year at a glance."""

from datetime import timedelta

from flask import request
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.menu import LOCKERS
from app.services import clock
from app.services import figures

BUSIEST = 20


class LockerAnalyticsView(SecuredView):
    """Time on locker, turnover and lockers nobody has rented lately."""

    permission_module = "reports"

    @expose("/")
    def index(self):
        months = request.args.get("months", default=6, type=int)
        months = min(max(months, 1), 36)
        branch_id = user_branch_id()
        today = clock.branch_today(branch_id)
        year_ago = today - timedelta(days=365)
        turnover = figures.turnover(branch_id, year_ago, today)
        average_turnover = round(sum(row.clients for row in turnover) / len(turnover), 2) \
            if turnover else 0
        idle_since = clock.day_start_utc(today - timedelta(days=30 * months),
                                         clock.branch_timezone(branch_id))
        return self.render(
            "admin/locker_analytics.html",
            time_on_locker=figures.average_rental_length(branch_id, year_ago, today),
            average_turnover=average_turnover,
            busiest=[row for row in turnover if row.clients][:BUSIEST],
            idle=figures.lockers_never_rented(branch_id, since=idle_since), months=months,
        )


def register(admin):
    """Add the analytics page to the Lockers menu."""
    admin.add_view(LockerAnalyticsView(name=_l("Locker analytics"), category=LOCKERS,
                                       endpoint="locker_analytics"))
