"""The pricing matrix, discount rules, coupons and a price check page (SPEC P1).

Only staff who may edit settings (Super Admin) change prices; staff who see
payments (Accountant, Manager, Front Desk) may read them and check a price.
"""

from flask_admin import expose
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms import StringField
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from admin_views.base import DeskForm
from admin_views.base import EnumSelectField
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import scope_to_branch
from admin_views.base import user_branch_id
from admin_views.labels import COLUMN_LABELS
from admin_views.menu import MONEY
from admin_views.validators import NotTaken
from app.extensions import db
from app.i18n import money
from app.models import Client
from app.models import Coupon
from app.models import CouponKind
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Locker
from app.models import PriceRule
from app.models import RentalTerm
from app.services import pricing
from app.services.access import VIEW
from app.services.exports import taka_cell
from app.services.money import InvalidAmount
from app.services.money import parse_taka
from app.services.money import plain_taka
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile

LABELS = {
    **COLUMN_LABELS,
    "zone_kind": _l("Zone type"),
    "price": _l("Price (taka)"),
    "effective_from": _l("Effective from"),
    "effective_to": _l("Effective to"),
    "percent": _l("Percent"),
    "percent_bp": _l("Percent"),
    "position": _l("Order"),
    "stackable": _l("Combines with other discounts"),
    "amount": _l("Amount (taka)"),
    "value": _l("Value"),
    "valid_from": _l("Valid from"),
    "valid_to": _l("Valid to"),
    "usage_limit": _l("Usage limit"),
    "per_client_limit": _l("Uses per client"),
    "times_used": _l("Times used"),
}


def _price_column(view, context, model, name):
    return money(model.price_poisha)


def _percent_column(view, context, model, name):
    return pricing.percent_text(model.percent_bp) + " %"


def _coupon_value(view, context, model, name):
    if model.kind is CouponKind.PERCENT:
        return pricing.percent_text(model.percent_bp or 0) + " %"
    return money(model.amount_poisha)


def _upper(value):
    return value.strip().upper() if value else value


class PricingModelView(SecuredModelView):
    """Readable with payments-view (or settings-view); every change needs settings-edit."""

    permission_module = "settings"

    def permission_for(self, action):
        # Prices are read at the desk and by the accountant; only a Super Admin changes them.
        return "payments-view" if action == VIEW else "settings-edit"

    def _date_order(self, form, start, end):
        """Refuse an end date before the start date."""
        first, last = getattr(form, start).data, getattr(form, end).data
        if first is not None and last is not None and last < first:
            getattr(form, end).errors.append(_("The end date cannot be before the start date."))
            return False
        return True

    def _parsed(self, form, name, parse):
        """Parse a typed field; on refusal add the message to the field and return None."""
        try:
            return parse(getattr(form, name).data)
        except (InvalidAmount, pricing.PricingError) as exc:
            getattr(form, name).errors.append(str(exc.message))
            return None


class PriceRuleView(PricingModelView):
    """The pricing matrix: category × zone type × term, from a date on."""

    column_list = ["branch", "category", "zone_kind", "term", "price_poisha", "effective_from",
                   "effective_to"]
    column_filters = ["term", "zone_kind", "category.name", "branch.name", "effective_from"]
    column_default_sort = [("term", False), ("effective_from", True)]
    column_labels = LABELS
    column_formatters = {"price_poisha": _price_column}
    column_formatters_detail = {"price_poisha": _price_column}
    column_formatters_export = {"price_poisha": lambda v, c, m, n: taka_cell(m.price_poisha)}
    # The price is typed in taka and stored in poisha.
    form_columns = ["branch", "category", "zone_kind", "term", "price", "effective_from",
                    "effective_to"]
    form_extra_fields = {"price": StringField(_l("Price (taka)"), validators=[InputRequired()])}

    def _scoped(self, query):
        # Staff of one branch see that branch's prices and the ones for every branch.
        branch_id = user_branch_id()
        if branch_id is None:
            return query
        return query.filter(db.or_(PriceRule.branch_id.is_(None), PriceRule.branch_id == branch_id))

    def on_form_prefill(self, form, id):
        rule = self.get_one(id)
        if rule is not None:
            form.price.data = plain_taka(rule.price_poisha)

    def check_record(self, form):
        price = self._parsed(form, "price", lambda text: parse_taka(text, required=True))
        dates = self._date_order(form, "effective_from", "effective_to")
        return price is not None and dates

    def on_model_change(self, form, model, is_created):
        model.price_poisha = parse_taka(form.price.data, required=True)
        super().on_model_change(form, model, is_created)


class DiscountRuleView(PricingModelView):
    """Automatic discounts (yearly −10 %, tag Corporate −5 %), applied in order."""

    column_list = ["position", "name", "kind", "term", "tag", "percent_bp", "stackable", "active"]
    column_default_sort = [("position", False), ("id", False)]
    column_labels = LABELS
    column_formatters = {"percent_bp": _percent_column}
    column_formatters_detail = {"percent_bp": _percent_column}
    column_formatters_export = {"percent_bp": lambda v, c, m, n: pricing.percent_text(m.percent_bp)}
    column_descriptions = {
        "stackable": _l("A discount that does not combine is used alone: the first such "
                        "discount in order wins over all others."),
    }
    form_columns = ["name", "kind", "term", "tag", "percent", "position", "stackable", "active"]
    form_extra_fields = {"percent": StringField(_l("Percent"), validators=[InputRequired()])}
    form_args = {"position": {"validators": [InputRequired(), NumberRange(min=0, max=9999)]}}

    def on_form_prefill(self, form, id):
        rule = self.get_one(id)
        if rule is not None:
            form.percent.data = pricing.percent_text(rule.percent_bp)

    def check_record(self, form):
        ok = self._parsed(form, "percent", pricing.parse_percent) is not None
        if form.kind.data is DiscountKind.TERM and form.term.data is None:
            form.term.errors.append(_("Choose the term this discount is for."))
            ok = False
        if form.kind.data is DiscountKind.TAG and form.tag.data is None:
            form.tag.errors.append(_("Choose the client tag this discount is for."))
            ok = False
        return ok

    def on_model_change(self, form, model, is_created):
        model.percent_bp = pricing.parse_percent(form.percent.data)
        # A rule looks at one thing only, so the other field is cleared.
        if model.kind is DiscountKind.TERM:
            model.tag = None
        else:
            model.term = None
        super().on_model_change(form, model, is_created)


class CouponView(PricingModelView):
    """Coupon codes: percent or amount, dates, usage limits."""

    column_list = ["code", "kind", "value", "valid_from", "valid_to", "usage_limit",
                   "per_client_limit", "times_used", "active"]
    column_searchable_list = ["code"]
    column_filters = ["kind", "active", "valid_to"]
    column_default_sort = "code"
    column_labels = LABELS
    # Details show the value as the list does, not the raw basis points and poisha.
    column_details_list = column_list
    column_formatters = {"value": _coupon_value}
    column_formatters_detail = {"value": _coupon_value}
    column_formatters_export = {"value": _coupon_value}
    # times_used is counted by redemptions, never typed.
    form_columns = ["code", "kind", "percent", "amount", "valid_from", "valid_to", "usage_limit",
                    "per_client_limit", "active"]
    form_extra_fields = {
        "percent": StringField(_l("Percent")),
        "amount": StringField(_l("Amount (taka)")),
    }
    form_args = {
        "code": {"filters": [_upper], "validators": [
            InputRequired(), Length(max=40),
            NotTaken(Coupon.code, lambda other: _("Coupon %(code)s already exists.", code=other.code))]},
        "usage_limit": {"validators": [Optional(), NumberRange(min=1)]},
        "per_client_limit": {"validators": [Optional(), NumberRange(min=1)]},
    }

    def on_form_prefill(self, form, id):
        coupon = self.get_one(id)
        if coupon is None:
            return
        if coupon.percent_bp is not None:
            form.percent.data = pricing.percent_text(coupon.percent_bp)
        if coupon.amount_poisha is not None:
            form.amount.data = plain_taka(coupon.amount_poisha)

    def _positive_taka(self, text):
        poisha = parse_taka(text, required=True)
        if poisha <= 0:
            raise InvalidAmount(_l("A coupon amount must be more than 0."))
        return poisha

    def check_record(self, form):
        ok = self._date_order(form, "valid_from", "valid_to")
        percent_text, amount_text = (form.percent.data or "").strip(), (form.amount.data or "").strip()
        if form.kind.data is CouponKind.PERCENT:
            ok = self._parsed(form, "percent", pricing.parse_percent) is not None and ok
            if amount_text:
                form.amount.errors.append(_("A percent coupon has no amount; leave it empty."))
                ok = False
        elif form.kind.data is CouponKind.AMOUNT:
            ok = self._parsed(form, "amount", self._positive_taka) is not None and ok
            if percent_text:
                form.percent.errors.append(_("An amount coupon has no percentage; leave it empty."))
                ok = False
        return ok

    def on_model_change(self, form, model, is_created):
        if model.kind is CouponKind.PERCENT:
            model.percent_bp, model.amount_poisha = pricing.parse_percent(form.percent.data), None
        else:
            model.percent_bp, model.amount_poisha = None, self._positive_taka(form.amount.data)
        if is_created:
            model.times_used = 0
        super().on_model_change(form, model, is_created)


class PriceCheckForm(DeskForm):
    """What the desk asks to see a price: locker, client, term, maybe a coupon."""

    locker = QuerySelectField(_l("Locker"), validators=[InputRequired()])
    phone = StringField(_l("Client phone"), validators=[InputRequired(), Length(max=30)])
    term = EnumSelectField(_l("Term"), enum_class=RentalTerm)
    days = IntegerField(_l("Days (custom term)"), validators=[Optional(), NumberRange(1, 730)])
    coupon = StringField(_l("Coupon code"), validators=[Optional(), Length(max=40)])


class PriceCheckView(SecuredView):
    """Price a locker for a client before renting, every line explained."""

    permission_module = "payments"

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = PriceCheckForm()
        form.locker.query_factory = lambda: scope_to_branch(
            db.session.query(Locker), Locker).order_by(Locker.branch_id, Locker.number)
        result, error = None, None
        if form.validate_on_submit():
            client = self._client(form)
            if client is not None:
                try:
                    result = pricing.quote(form.locker.data.id, client.id, form.term.data,
                                           days=form.days.data, coupon_code=form.coupon.data)
                except pricing.PricingError as exc:
                    error = str(exc.message)
        return self.render("admin/pricing/price_check.html", form=form, quote=result, error=error)

    def _client(self, form):
        """The client with the typed phone (in the user's branch), or None with a field error."""
        try:
            phone = normalise_bd_mobile(form.phone.data)
        except InvalidPhone as exc:
            form.phone.errors.append(str(exc.message))
            return None
        client = scope_to_branch(db.session.query(Client), Client).filter(
            Client.phone == phone).one_or_none()
        if client is None:
            form.phone.errors.append(_("No client has the phone %(phone)s.", phone=phone))
        return client


def register(admin):
    """Add the price matrix, discounts, coupons and the price check under Money."""
    admin.add_view(PriceRuleView(PriceRule, db, name=_l("Price matrix"), category=MONEY,
                                 endpoint="price_rules"))
    admin.add_view(DiscountRuleView(DiscountRule, db, name=_l("Discounts"), category=MONEY,
                                    endpoint="discount_rules"))
    admin.add_view(CouponView(Coupon, db, name=_l("Coupons"), category=MONEY, endpoint="coupons"))
    admin.add_view(PriceCheckView(name=_l("Price check"), category=MONEY, endpoint="price_check"))
