"""Custom admin pages: home, financial report, settings."""


from flask import flash
from flask import redirect
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from admin_views import dashboard
from admin_views.base import SecuredIndexView
from app.services import backups
from app.services import dashboard as dashboard_service
from app.services import health
from app.services.access import VIEW
from app.services.access import can


class HomeView(SecuredIndexView):
    """The first page after login: the user's own dashboard (admin_views.dashboard)."""

    @expose("/")
    def index(self):
        widgets = dashboard.layout(current_user)
        shown = {item["key"] for item in widgets}
        return self.render(
            "admin/home.html",
            widgets=[dashboard.render_widget(item["key"], item["size"], on_page=True)
                     for item in widgets],
            addable=[(key, dashboard.WIDGETS[key].title)
                     for key in dashboard.allowed_widgets(current_user) if key not in shown],
            # Told to whoever looks after backups, when the schedule's backup is missing.
            backup_late=(can(current_user, "backups", VIEW) and backups.late()),
            # Told to whoever reads the status page: reminders and messages wait meanwhile.
            workers_down=(can(current_user, "activity", VIEW)
                          and not health.check_workers()["ok"]),
            last_backup=backups.latest() if can(current_user, "backups", VIEW) else None,
        )

    @expose("/widget/<key>")
    def widget(self, key):
        """One widget's HTML (added, resized or refreshed); 403 when the role may not see it."""
        return dashboard.widget_response(key)

    @expose("/feed")
    def feed(self):
        """The activity feed's entries after the newest one a screen shows."""
        return dashboard.feed_response()

    @expose("/dashboard/layout", methods=("POST",))
    def save_layout(self):
        """Keep the user's arrangement (order, sizes) as the page sends it."""
        return dashboard.save_response()

    @expose("/dashboard/reset", methods=("POST",))
    def reset_layout(self):
        """Back to the role's default dashboard."""
        dashboard_service.reset_layout(current_user.id)
        flash(_("Your dashboard is back to your role's default."), "success")
        return redirect(url_for(".index"))
