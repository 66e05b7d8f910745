"""The settings screen: every business setting, typed and grouped by topic (SPEC S7).

One form per topic. What is typed goes to `settings.update`, which checks every
value and stores all of them or none; money is typed in taka, secrets are never
sent back to the browser, and the company logo is uploaded like a client's photo.
"""

import json

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import BooleanField
from wtforms import FileField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField

from admin_views.base import DeskForm
from admin_views.base import SecuredView
from app.extensions import db
from app.i18n import money as shown_money
from app.i18n import number
from app.models import Language
from app.models import LockerCategory
from app.models import RentalTerm
from app.services import secret_box
from app.services import settings
from app.services import uploads
from app.services.access import EDIT
from app.services.access import can
from app.services.errors import Refusal

PRICES = "rental_prices_taka"
LOGO = "company_logo"


def _field(key):
    """The form field that types setting `key`."""
    spec = settings.SETTINGS[key]
    label = spec.label
    if spec.money:
        label = _l("%(label)s (taka)", label=spec.label)
    if spec.boolean:
        return BooleanField(label)
    if spec.choices:
        return SelectField(label, choices=[(value, str(text)) for value, text in
                                           settings.choices(key)])
    if spec.secret:
        return PasswordField(label)
    if spec.multiline:
        return TextAreaField(label, render_kw={"rows": 3})
    if spec.kind is int:
        # Text, not a number input: Bengali digits typed on a Bengali keyboard are taken.
        return StringField(label, render_kw={"inputmode": "decimal" if spec.money else "numeric"})
    return StringField(label)


def group_form(name):
    """The form of topic `name`: the stored values, or on a POST what was typed."""
    keys = [key for key in settings.GROUP_KEYS[name] if key not in (PRICES, LOGO)]
    fields = {key: _field(key) for key in keys}
    if LOGO in settings.GROUP_KEYS[name]:
        fields["logo_image"] = FileField(_l("Company logo (on invoices and receipts)"),
                                         description=_l("JPEG, PNG or WebP."))
        fields["logo_remove"] = BooleanField(_l("Remove the current logo"))
    form_class = type(f"{name.title()}SettingsForm", (DeskForm,), fields)
    data = {key: _shown(key) for key in keys}
    form = form_class(data=data)
    for key in keys:
        spec = settings.SETTINGS[key]
        if spec.secret:
            stored = secret_box.masked(settings.get(key))
            form[key].description = (_("Set (%(masked)s). Leave empty to keep it.", masked=stored)
                                      if stored else _("Not set."))
    return form


def _shown(key):
    value = settings.shown(key)
    return bool(value) if settings.SETTINGS[key].boolean else value


def price_rows():
    """The price grid's rows: every other category first, then each locker category."""
    table = settings.get(PRICES)
    # The English name is the key of a category's prices; the desk reads its own language.
    shown = {category.name: category.local_name for category in db.session.execute(
        db.select(LockerCategory).order_by(LockerCategory.name)).scalars()}
    categories = ["*"] + list(shown) + sorted(set(table) - set(shown) - {"*"})
    rows = []
    for category in categories:
        prices = table.get(category, {})
        label = _("Every other category") if category == "*" else shown.get(category, category)
        rows.append({"category": category, "label": label, "cells": [
            (term, _cell(prices.get(term))) for term in settings.TERMS]})
    return rows


def _cell(taka):
    return "" if taka is None else str(taka)


def _typed_price_cells(form):
    """{(category, term): text} from the grid's inputs price-<row>-<term> and price-<row>-category."""
    cells = {}
    row = 0
    while f"price-{row}-category" in form:
        category = form[f"price-{row}-category"]
        for term in settings.TERMS:
            cells[(category, term)] = form.get(f"price-{row}-{term}", "")
        row += 1
    return cells


class SettingsView(SecuredView):
    """The settings, one topic at a time; saving needs the settings edit permission."""

    permission_module = "settings"

    @expose("/")
    def index(self):
        return self._page(settings.GROUPS[0][0])

    @expose("/<group>/", methods=("GET", "POST"))
    def group(self, group):
        if group not in settings.GROUP_KEYS:
            abort(404)
        if request.method == "POST":
            return self._save(group)
        return self._page(group)

    def _page(self, group, form=None, errors=None, cells=None):
        form = form or group_form(group)
        errors = errors or {}
        keys = settings.GROUP_KEYS[group]
        return self.render(
            "admin/settings.html", groups=settings.GROUPS, current=group, form=form,
            heading=dict((name, heading) for name, heading, _keys in settings.GROUPS)[group],
            may_edit=can(current_user, "settings", EDIT),
            prices=price_rows() if PRICES in keys else None,
            typed_prices=cells, terms=[RentalTerm[term] for term in settings.TERMS],
            price_error=errors.get(PRICES), logo=settings.get(LOGO) if LOGO in keys else None,
            logo_error=errors.get(LOGO))

    def _save(self, group):
        if not can(current_user, "settings", EDIT):
            abort(403)
        form = group_form(group)
        if not form.validate():
            # Only the CSRF token is checked by the form; the values by the service.
            return self._page(group, form=form), 400
        keys = settings.GROUP_KEYS[group]
        values = {key: form[key].data for key in keys if key not in (PRICES, LOGO)}
        errors, cells, stored_logo = {}, None, None
        if PRICES in keys and "price-0-category" in request.form:
            cells = _typed_price_cells(request.form)
            try:
                values[PRICES] = settings.price_table_from_cells(cells)
            except Refusal as exc:
                errors[PRICES] = exc.message
        replaced = settings.get(LOGO) if LOGO in keys else None
        if LOGO in keys and form.logo_image.data:
            try:
                stored_logo = uploads.store_image(form.logo_image.data, "company")
                values[LOGO] = stored_logo
            except Refusal as exc:
                errors[LOGO] = exc.message
        elif LOGO in keys and form.logo_remove.data:
            values[LOGO] = ""
        try:
            if errors:
                raise settings.InvalidSettings(errors)
            changed = settings.update(values, by_user_id=current_user.id)
        except settings.InvalidSettings as exc:
            uploads.discard(stored_logo)  # not kept: nothing of the form was saved
            for key, message in {**errors, **exc.errors}.items():
                if key in form:
                    form[key].errors = [str(message)]
            flash(str(exc.message), "error")
            return self._page(group, form=form, errors={**errors, **exc.errors},
                              cells=cells), 400
        if LOGO in changed:
            uploads.discard(replaced)  # the old logo is printed no more
        if changed:
            flash(_("Saved: %(settings)s.", settings=", ".join(
                str(settings.SETTINGS[key].label) for key in changed)), "success")
        else:
            flash(_("Nothing was changed."), "info")
        return redirect(self.get_url(".group", group=group))


def setting_value(key, value):
    """A stored setting value as a person reads it: yes/no, a language, taka, a price table."""
    spec = settings.SETTINGS.get(key)
    if spec is not None and spec.secret:
        return _("(secret, not shown)") if value else "—"
    if spec is not None and spec.boolean:
        return _("Yes") if value else _("No")
    if key == "default_language" and value in {member.value for member in Language}:
        return str(Language(value).label)
    if spec is not None and spec.money and isinstance(value, int):
        return shown_money(value)
    if spec is not None and spec.choices:
        labels = dict(settings.choices(key))
        return str(labels.get(value, value))
    if isinstance(value, int):
        return number(value)
    if isinstance(value, dict) and key == PRICES:
        return _price_table(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _price_table(table):
    """{"*": {"MONTHLY": 800}} as rows of category, term and taka."""
    from decimal import Decimal

    terms = {term.name: term for term in RentalTerm}
    rows = []
    for category, prices in table.items():
        name = _("Every other category") if category == "*" else category
        for term_name, taka in prices.items():
            term = terms.get(term_name)
            rows.append(Markup("<tr><td>%s</td><td>%s</td><td>%s</td></tr>") % (
                name, term.label if term else term_name,
                shown_money(int(Decimal(str(taka)) * 100))))
    return Markup('<table class="table table-sm mb-0">%s</table>') % Markup("").join(rows)
