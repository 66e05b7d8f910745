"""Custom admin pages: home, financial report, settings."""

import json

from flask import url_for
from flask_admin import expose
from flask_admin.helpers import get_form_data
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import BooleanField
from wtforms import FileField
from wtforms import StringField
from wtforms.validators import ValidationError

from admin_views.base import DeskForm
from admin_views.base import SecuredIndexView
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.filters import home_links
from app.extensions import db
from app.i18n import money
from app.i18n import number
from app.models import Language
from app.models import PaymentMethod
from app.models import RentalTerm
from app.models import Setting
from app.services import backups
from app.services import reports
from app.services import secret_box
from app.services import settings as settings_service
from app.services import uploads
from app.services.access import VIEW
from app.services.access import can
from app.services.errors import Refusal


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


class ImageSettingForm(DeskForm):
    """The edit form of an image setting (the company logo): a file, or removing the one set."""

    image = FileField(_l("Image (JPEG, PNG or WebP)"))
    remove = BooleanField(_l("Remove the current image"))

    def populate_obj(self, obj):
        """Nothing is copied: SettingView stores the file and sets the value to its path."""


def _setting_value(view, context, model, name):
    """A setting's value as the list shows it; an image setting as a small picture."""
    spec = settings_service.SETTINGS.get(model.key)
    if spec is not None and spec.secret:
        # Never shown back: only whether one is set, and its last characters.
        return secret_box.masked(settings_service.get(model.key)) or _("Not set")
    if spec is not None and spec.upload_folder is not None and model.value:
        return Markup('<img src="%s" alt="" class="setting-image" height="40">') % url_for(
            "web.upload", relative=model.value, thumb=1)
    return setting_value(model.key, model.value)


def setting_value(key, value):
    """A setting's value as a person reads it: yes/no, a language, taka, a price table."""
    if key == "receipt_bengali_digits" or isinstance(value, bool):
        return _("Yes") if value else _("No")
    if key == "default_language" and value in {member.value for member in Language}:
        return str(Language(value).label)
    if key.endswith("_poisha") and isinstance(value, int):
        return money(value)
    if isinstance(value, int):
        return number(value)
    if isinstance(value, dict) and key == "rental_prices_taka":
        return _price_table(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _price_table(table):
    """{"*": {"MONTHLY": 800}} as rows of category, term and taka."""
    terms = {term.name: term for term in RentalTerm}
    rows = []
    for category, prices in table.items():
        name = _("Every other category") if category == "*" else category
        for term_name, taka in prices.items():
            term = terms.get(term_name)
            rows.append(Markup("<tr><td>%s</td><td>%s</td><td>%s</td></tr>") % (
                name, term.label if term else term_name, money(round(taka * 100))))
    return Markup('<table class="table table-sm mb-0">%s</table>') % Markup("").join(rows)


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
        "value": _setting_value,
    }
    column_formatters_detail = column_formatters
    column_export_list = ["key", "value", "updated_at"]

    @staticmethod
    def _image_spec(model):
        """The spec of `model`'s setting when it holds an uploaded image, else None."""
        spec = settings_service.SETTINGS.get(model.key) if model is not None else None
        return spec if spec is not None and spec.upload_folder is not None else None

    def edit_form(self, obj=None):
        if self._image_spec(obj) is None:
            return super().edit_form(obj)
        return ImageSettingForm(get_form_data(), obj=obj)

    def on_form_prefill(self, form, id):
        if "value" not in form:
            return
        spec = settings_service.SETTINGS.get(self.get_one(id).key if self.get_one(id) else "")
        if spec is not None and spec.secret:
            form.value.data = ""
            form.value.description = _("Leave empty to keep the one set now.")
            return
        value = form.value.data
        form.value.data = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else (
            "" if value is None else str(value))

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        spec = self._image_spec(model)
        try:
            secret = settings_service.SETTINGS.get(model.key)
            if secret is not None and secret.secret and not (form.value.data or "").strip():
                # An empty secret field keeps the secret: it is never sent to the browser.
                with db.session.no_autoflush:
                    model.value = db.session.execute(db.select(Setting.value).where(
                        Setting.key == model.key)).scalar_one_or_none() or ""
            elif spec is None:
                model.value = settings_service.coerce(model.key, form.value.data)
            elif form.image.data:
                form.replaced = model.value
                model.value = settings_service.coerce(
                    model.key, uploads.store_image(form.image.data, spec.upload_folder))
            elif form.remove.data:
                form.replaced = model.value
                model.value = ""
        except Refusal as exc:
            raise ValidationError(str(exc.message)) from exc

    def after_model_change(self, form, model, is_created):
        # The image replaced or removed is not printed any more.
        uploads.discard(getattr(form, "replaced", None))


