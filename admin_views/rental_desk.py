"""Rental screens of the desk: assign, reserve, renew, release (SPEC R1–R3)."""

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from admin_views import billing as billing_views
from admin_views.base import DeskForm
from admin_views.base import SecuredView
from admin_views.base import id_arg
from admin_views.base import parse_id
from admin_views.base import scope_to_branch
from app.extensions import db
from app.i18n import local_datetime
from app.models import Client
from app.models import Key
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalStatus
from app.models import RentalTerm
from app.services import billing
from app.services import client_search
from app.services import handover
from app.services import pricing
from app.services import rentals
from app.services import settings
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import can
from app.services.errors import Refusal
from app.services.money import plain_taka


def _term_choices():
    return [SelectChoice(term.name, str(term.label)) for term in RentalTerm]


def _default_term():
    """The term the form starts on: the one the gym sells most, per the settings."""
    return settings.get("default_term")


class RentalForm(DeskForm):
    """Who gets which locker, for how long."""

    locker_number = StringField(_l("Locker number"), validators=[InputRequired(), Length(max=20)])
    client_query = StringField(_l("Client (phone or name)"), validators=[Optional(), Length(max=120)])
    client_id = HiddenField()
    term = SelectField(_l("Term"), choices=_term_choices, default=_default_term)
    days = IntegerField(_l("Days (custom term)"), validators=[Optional(), NumberRange(1, 730)])
    coupon_code = StringField(_l("Coupon code"), validators=[Optional(), Length(max=40)])
    override_reason = TextAreaField(_l("Reason for the override"),
                                    validators=[Optional(), Length(max=200)])


class ReserveForm(RentalForm):
    """A hold on a locker until a deadline."""

    hours = IntegerField(_l("Hold for (hours)"), validators=[Optional(), NumberRange(1, 24 * 14)])


class ReleaseForm(DeskForm):
    """Ending a rental now."""

    locker_to = SelectField(_l("The locker afterwards"), choices=lambda: [
        SelectChoice(LockerStatus.CLEANING.name, str(LockerStatus.CLEANING.label)),
        SelectChoice(LockerStatus.AVAILABLE.name, str(LockerStatus.AVAILABLE.label))])
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(max=200)])


class RentalDeskView(SecuredView):
    """The desk's rental actions; every one goes through app.services.rentals."""

    permission_module = "rentals"

    def _require(self, action):
        if not can(current_user, "rentals", action):
            abort(403)

    def _locker(self, locker_id=None, number=None):
        query = scope_to_branch(db.session.query(Locker), Locker)
        if locker_id:
            return query.filter(Locker.id == locker_id).first()
        if number:
            return query.filter(db.func.upper(Locker.number) == number.strip().upper()).first()
        return None

    def _rental(self, rental_id):
        rental = db.session.get(Rental, rental_id) if rental_id else None
        if rental is None or self._locker(rental.locker_id) is None:
            abort(404)
        return rental

    def _clients_for(self, form):
        """The client chosen on the form, or the candidates the query matches."""
        if form.client_id.data:
            client_id = parse_id(form.client_id.data)
            client = scope_to_branch(db.session.query(Client), Client).filter(
                Client.id == client_id).first() if client_id is not None else None
            return client, []
        query = (form.client_query.data or "").strip()
        if not query:
            return None, []
        found = scope_to_branch(db.session.query(Client), Client).filter(
            client_search.search_condition(query)).order_by(Client.full_name).limit(10).all()
        return (found[0], []) if len(found) == 1 else (None, found)

    def _form(self, form_class):
        form = form_class(request.form if request.method == "POST" else None)
        if request.method == "GET":
            locker = self._locker(id_arg("locker_id"))
            if locker is not None:
                form.locker_number.data = locker.number
            elif request.args.get("locker_number"):
                # Typed at registration: checked (and refused on its field) like one typed here.
                form.locker_number.data = request.args["locker_number"].strip()[:20]
                if self._locker(number=form.locker_number.data) is None:
                    form.locker_number.errors = [_("There is no locker with that number.")]
            client_id = id_arg("client_id")
            if client_id is not None:
                form.client_id.data = str(client_id)
        return form

    def _rent(self, form_class, template, action_label, do_it):
        self._require(CREATE)
        form = self._form(form_class)
        locker = self._locker(number=form.locker_number.data) if form.locker_number.data else None
        client, candidates = self._clients_for(form)
        if client is not None:
            form.client_id.data = str(client.id)
        warning = None
        may_override = can(current_user, "rentals", "delete")
        quote = quote_error = None
        if locker is not None and client is not None:
            warning = rentals.gender_mismatch(locker, client)
            if form_class is RentalForm:
                try:
                    quote = pricing.quote(locker.id, client.id, RentalTerm[form.term.data],
                                          days=form.days.data,
                                          coupon_code=(form.coupon_code.data or "").strip() or None)
                except Refusal as exc:
                    quote_error = exc.message
                except KeyError:
                    quote = None
        if (request.method == "POST" and form.validate() and request.form.get("confirm")
                and quote_error is None):
            if locker is None:
                form.locker_number.errors.append(_("There is no locker with that number."))
            elif client is None:
                form.client_query.errors.append(
                    _("Choose one client.") if candidates else _("No client found."))
            else:
                try:
                    rental = do_it(locker, client, form, quote)
                except rentals.NeedsOverride as exc:
                    warning = exc.message
                    flash(str(exc.message), "warning")
                except Refusal as exc:
                    flash(str(exc.message), "error")
                else:
                    return self._after(rental, action_label)
        return self.render(template, form=form, locker=locker, client=client,
                           candidates=candidates, warning=warning, may_override=may_override,
                           quote=quote, quote_error=quote_error,
                           may_pay=can(current_user, "payments", CREATE))

    def _after(self, rental, action_label):
        flash(_("%(action)s: locker %(number)s for %(client)s.", action=action_label,
                number=rental.locker.number, client=rental.client.full_name), "success")
        if rental.status is RentalStatus.ACTIVE:
            return redirect(url_for(".summary_view", rental_id=rental.id))
        return redirect(url_for("client_profile.index", id=rental.client_id))

    @staticmethod
    def _pay_now():
        """Cash with the rental when the desk pressed "… and take cash" and may take payments."""
        if request.form.get("confirm") != "cash":
            return None
        if not can(current_user, "payments", CREATE):
            abort(403)
        return PaymentMethod.CASH

    @expose("/rental/")
    def summary_view(self):
        """After assigning or renewing: the invoice, taking the payment, printing, the key."""
        rental = self._rental(id_arg("rental_id"))
        invoice = billing.invoice_of(rental.id)
        may_pay = can(current_user, "payments", CREATE)
        facts = billing_views.invoice_facts(invoice) if invoice is not None else {}
        pay_form = None
        if invoice is not None and may_pay and facts["received"].balance > 0:
            pay_form = billing_views.PayForm(formdata=None, invoice=invoice.number,
                                             amount=plain_taka(facts["received"].balance))
        key_in_office = db.session.execute(db.select(Key).where(
            Key.locker_id == rental.locker_id, Key.state == KeyState.IN_OFFICE)
            .order_by(Key.is_spare, Key.tag, Key.id).limit(1)).scalar_one_or_none()
        key_out = db.session.execute(db.select(Key.id).where(
            Key.locker_id == rental.locker_id, Key.state == KeyState.WITH_CLIENT).limit(1)
        ).scalar_one_or_none()
        may_issue_key = (rental.status is RentalStatus.ACTIVE and key_out is None
                         and key_in_office is not None and can(current_user, "keys", EDIT)
                         and not rental.locker.needs_rekey)
        # The deposit the key desk would propose: the setting, less what is held already.
        deposit = max(0, settings.get("key_deposit_poisha")
                      - handover.held_on_locker(rental.client_id, rental.locker_id))
        return self.render("admin/rental_desk/summary.html", rental=rental, pay_form=pay_form,
                           key_to_issue=key_in_office if may_issue_key else None,
                           deposit_poisha=deposit, deposit_text=plain_taka(deposit),
                           back_here=url_for(".summary_view", rental_id=rental.id), **facts)

    @expose("/")
    def index(self):
        return redirect(url_for(".assign_view"))

    @expose("/assign/", methods=("GET", "POST"))
    def assign_view(self):
        """Give a locker to a client for a term, with the price shown first."""
        def do_it(locker, client, form, quote):
            return rentals.assign(
                locker.id, client.id, RentalTerm[form.term.data], days=form.days.data,
                by_user_id=current_user.id, override_reason=form.override_reason.data,
                coupon_code=(form.coupon_code.data or "").strip() or None,
                expected_total_poisha=quote.total_poisha, pay_now=self._pay_now())
        return self._rent(RentalForm, "admin/rental_desk/assign.html", _("Assigned"), do_it)

    @expose("/reserve/", methods=("GET", "POST"))
    def reserve_view(self):
        """Hold a locker for a client who has not paid yet."""
        def do_it(locker, client, form, quote):
            return rentals.reserve(locker.id, client.id, by_user_id=current_user.id,
                                   hours=form.hours.data, override_reason=form.override_reason.data)
        return self._rent(ReserveForm, "admin/rental_desk/reserve.html", _("Reserved"), do_it)

    @expose("/renew/", methods=("GET", "POST"))
    def renew_view(self):
        """One more term of the same length, after a confirmation showing the price."""
        self._require(EDIT)
        rental = self._rental(id_arg("rental_id"))
        quote = rentals.renewal_quote(rental.id)
        if request.method == "POST":
            DeskForm().validate_on_submit() or abort(400)
            try:
                # The price the desk saw on the button; a price changed since is refused.
                seen = request.form.get("expected_total", type=int)
                renewal = rentals.renew(rental.id, by_user_id=current_user.id,
                                        expected_total_poisha=quote.total_poisha if seen is None
                                        else seen, pay_now=self._pay_now())
            except Refusal as exc:
                flash(str(exc.message), "error")
            else:
                flash(_("Renewed until %(date)s.", date=local_datetime(renewal.ends_at)), "success")
                return redirect(url_for(".summary_view", rental_id=renewal.id))
        return self.render("admin/rental_desk/renew.html", rental=rental, form=DeskForm(),
                           quote=quote, may_pay=can(current_user, "payments", CREATE))

    @expose("/release/", methods=("GET", "POST"))
    def release_view(self):
        """End a rental now; the locker goes to Cleaning or Available."""
        self._require(EDIT)
        rental = self._rental(id_arg("rental_id"))
        form = ReleaseForm()
        if form.validate_on_submit():
            try:
                rentals.release(rental.id, by_user_id=current_user.id,
                                locker_to=LockerStatus[form.locker_to.data], reason=form.reason.data)
            except Refusal as exc:
                flash(str(exc.message), "error")
            else:
                flash(_("Locker %(number)s released.", number=rental.locker.number), "success")
                return redirect(url_for("client_profile.index", id=rental.client_id))
        return self.render("admin/rental_desk/release.html", rental=rental, form=form)


def register(admin):
    """Add the rental desk ('Assign locker' in the menu)."""
    admin.add_view(RentalDeskView(name=_l("Assign locker"), endpoint="rental_desk"))

