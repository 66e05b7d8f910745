"""Custom admin pages: home, financial report, settings."""

import json

from flask_admin import expose
from flask_babel import format_date
from wtforms import StringField
from wtforms.validators import ValidationError

from admin_views.base import SecuredIndexView
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from app.models import PaymentMethod
from app.services import reports
from app.services import settings as settings_service


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


class SettingView(SecuredModelView):
    """Business settings: each value is checked against its type before saving."""

    permission_module = "settings"
    allow_create = allow_delete = False
    column_list = ["label", "value", "updated_at"]
    column_default_sort = "key"
    form_columns = ["value"]
    # Values are JSON in the database; on screen they are typed as text and
    # converted by the settings service.
    form_overrides = {"value": StringField}
    column_formatters = {
        "label": lambda v, c, m, n: settings_service.SETTINGS[m.key].label
        if m.key in settings_service.SETTINGS else m.key,
    }
    column_export_list = ["key", "value", "updated_at"]

    def on_form_prefill(self, form, id):
        value = form.value.data
        form.value.data = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else (
            "" if value is None else str(value))

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        try:
            model.value = settings_service.coerce(model.key, form.value.data)
        except settings_service.InvalidSetting as exc:
            raise ValidationError(str(exc.args[0])) from exc


