"""Invoices, taking payments, refunds, cancellations and the desk shift (SPEC P2, P3, P6).

The rules and their transactions live in app.services.billing; these screens
collect input, check permissions and show the service's refusals.
"""

import json

import sqlalchemy as sa
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.model.template import EndpointLinkRowAction
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import selectinload
from wtforms import IntegerField
from wtforms import SelectField
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from admin_views.base import ID_PATH
from admin_views.base import DeskForm
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import id_arg
from admin_views.base import local_target
from admin_views.base import user_branch_id
from admin_views.filters import branch_day_filters
from admin_views.labels import COLUMN_LABELS
from admin_views.labels import labels_for
from admin_views.maintenance import show_refusal
from admin_views.menu import MONEY
from app.extensions import db
from app.i18n import money
from app.models import Branch
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Payment
from app.models import PaymentMethod
from app.services import billing
from app.services import client_search
from app.services import clock
from app.services import notifications
from app.services import online_payments
from app.services import qr
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import can
from app.services.exports import taka_cell
from app.services.money import InvalidAmount
from app.services.money import parse_taka


def _state_column(view, context, model, name):
    # A list page's states are worked out together (InvoiceView.get_list), a detail's alone.
    state = g.get("invoice_states", {}).get(model.id) or billing.invoice_state(model)
    return state.label


def _money_column(view, context, model, name):
    return money(getattr(model, name))


def _invoices_found(text):
    """The invoice with the number typed, or a client's invoices."""
    return client_search.rows_found(
        Invoice.id, text, number=client_search.typed_exactly(Invoice.number, text))


# Where an invoice stands (billing's one definition), for the list's filter and the
# dashboard's paid / unpaid / overdue chart, whose segments open the list with it.
INVOICE_STATES = {
    "paid": _l("Paid"),
    "unpaid": _l("Unpaid, not yet due"),
    "overdue": _l("Overdue"),
}


def invoice_state_condition(state, today=None):
    """SQL: uncancelled invoices that are paid, owed but not yet due, or overdue on `today`."""
    today = today or clock.today()
    owed, late = billing.open_balance_sql() > 0, billing.overdue_sql(today)
    condition = {"paid": ~owed, "unpaid": sa.and_(owed, ~late), "overdue": late}[state]
    return sa.and_(Invoice.cancelled_at.is_(None), condition)


class InvoiceStateFilter(BaseSQLAFilter):
    """Paid / unpaid (not yet due) / overdue, as figures.invoice_states counts them."""

    def __init__(self):
        super().__init__(Invoice.id, _l("State"), options=list(INVOICE_STATES.items()))

    def clean(self, value):
        if value not in INVOICE_STATES:
            raise ValueError(value)
        return value

    def apply(self, query, value, alias=None):
        return query.filter(invoice_state_condition(value))

    def operation(self):
        return _l("is")


class InvoiceView(SecuredModelView):
    """Invoices, read-only: they are issued by the rental flow and paid on the payment page."""

    permission_module = "payments"
    allow_create = allow_edit = allow_delete = False
    details_template = "admin/billing/invoice_details.html"
    column_list = ["number", "client", "issued_at", "due_on", "total_poisha", "state"]
    column_details_list = ["number", "client", "branch", "rental", "issued_at", "due_on",
                           "subtotal_poisha", "discount_poisha", "vat_poisha", "total_poisha",
                           "state", "cancelled_at", "cancel_reason", "issued_by"]
    column_searchable_list = ["number", "client.phone"]
    column_filters = [InvoiceStateFilter(),
                      *branch_day_filters(Invoice.issued_at, Invoice.branch_id, _l("Issued"))]
    search_condition = staticmethod(_invoices_found)
    column_default_sort = ("issued_at", True)
    column_sortable_list = ["number", "issued_at", "due_on", "total_poisha"]
    # An unpaid invoice's state asks for its instalments' dates and its branch's day.
    list_loads = (selectinload(Invoice.instalments), selectinload(Invoice.branch))
    column_labels = {**COLUMN_LABELS, "number": _l("Number"), "client": _l("Client"),
                     "issued_at": _l("Issued"), "due_on": _l("Due"), "total_poisha": _l("Total"),
                     "subtotal_poisha": _l("Subtotal"), "discount_poisha": _l("Discount"),
                     "vat_poisha": _l("VAT"), "state": _l("State"),
                     "cancelled_at": _l("Cancelled at"), "cancel_reason": _l("Reason"),
                     "issued_by": _l("Issued by")}
    # The state is derived (billing.invoice_state), so it is shown, not filtered in SQL.
    column_formatters = {"state": _state_column, "total_poisha": _money_column,
                         "subtotal_poisha": _money_column, "discount_poisha": _money_column,
                         "vat_poisha": _money_column}
    column_formatters_export = {"state": _state_column,
                                "total_poisha": lambda v, c, m, n: taka_cell(m.total_poisha)}

    def get_list_row_actions(self):
        return [*super().get_list_row_actions(),
                EndpointLinkRowAction("fa fa-print", "documents.invoice", id_arg="invoice_id",
                                      title=_l("Print invoice"))]

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        if isinstance(rows, list):
            # Each row's state needs its payments: read for the page at once, not row by row.
            g.invoice_states = billing.states_of(rows)
        return count, rows

    @expose("/details/")
    def details_view(self):
        invoice = self.get_one(request.args.get("id", ""))
        if invoice is not None:
            self._template_args.update(invoice_facts(invoice))
        return super().details_view()


def _exchanges_column(view, context, model, name):
    # The ledger's raw record of each call, secrets already redacted by the client.
    return Markup("<pre class=\"small mb-0\">{}</pre>").format(
        json.dumps(model.exchanges or [], ensure_ascii=False, indent=1, default=str))


def _gateway_transactions_found(text):
    """The attempt with our reference, the gateway's session or its transaction id, exactly."""
    return client_search.any_of(GatewayTransaction.id, *(
        sa.select(GatewayTransaction.id).where(client_search.typed_exactly(column, text))
        for column in (GatewayTransaction.reference, GatewayTransaction.transaction_id,
                       GatewayTransaction.gateway_reference)))


class GatewayTransactionView(SecuredModelView):
    """The ledger of online payment attempts, read-only: gateways and the job write it."""

    permission_module = "payments"
    allow_create = allow_edit = allow_delete = False
    can_view_details = True
    column_list = ["created_at", "gateway", "invoice", "client", "amount_poisha", "status",
                   "transaction_id", "reference"]
    column_details_list = ["created_at", "updated_at", "gateway", "status", "invoice", "client",
                           "branch", "amount_poisha", "currency", "reference",
                           "gateway_reference", "transaction_id", "payment", "link", "checks",
                           "next_check_at", "error", "exchanges"]
    column_filters = ["gateway", "status",
                      *branch_day_filters(GatewayTransaction.created_at,
                                          GatewayTransaction.branch_id, _l("Started"))]
    column_searchable_list = ["reference", "transaction_id", "gateway_reference"]
    search_condition = staticmethod(_gateway_transactions_found)
    column_default_sort = ("id", True)
    column_sortable_list = ["created_at", "amount_poisha"]
    column_labels = labels_for("GatewayTransaction")
    column_formatters = {"amount_poisha": _money_column, "exchanges": _exchanges_column,
                         "error": lambda v, c, m, n: m.reason}
    column_formatters_export = {"amount_poisha": lambda v, c, m, n: taka_cell(m.amount_poisha),
                                "error": lambda v, c, m, n: m.reason}
    column_export_exclude_list = ["exchanges"]


def invoice_facts(invoice):
    """What the invoice pages show: its state, running balance, payments and what the user may do.

    Also its online side: the payment link that still works (with its QR code
    for the client's phone) and every attempt to pay through a gateway.
    """
    received = billing.totals(invoice)
    payments = list(db.session.execute(db.select(Payment).where(Payment.invoice_id == invoice.id)
                                       .order_by(Payment.paid_at, Payment.id)).scalars())
    link = online_payments.current_link(invoice.id)
    link_url = online_payments.link_url(link) if link is not None else None
    return {"invoice": invoice, "state": billing.invoice_state(invoice), "received": received,
            "payments": [(p, billing.refundable(p)) for p in payments],
            "may_pay": can(current_user, "payments", CREATE),
            "may_edit": can(current_user, "payments", EDIT),
            "payment_link": link, "payment_link_url": link_url,
            "payment_link_qr": (qr.svg(link_url, css_class="payment-link-qr",
                                       label=_("Payment link")) if link_url else None),
            "gateways_on_offer": online_payments.gateways_on_offer(),
            "may_send_link": can(current_user, "messages", CREATE),
            "gateway_attempts": online_payments.attempts_of(invoice.id)}


class PayForm(DeskForm):
    """The invoice, the amount in taka and how it was paid."""

    invoice = StringField(_l("Invoice number"), validators=[Length(max=40)])
    amount = StringField(_l("Amount (৳)"))
    # Not an EnumSelectField over every method: "from the key deposit" is only for a key return.
    method = SelectField(_l("Method"), default=PaymentMethod.CASH.name, choices=lambda: [
        SelectChoice(method.name, str(method.label)) for method in billing.DESK_METHODS])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=64)])


class RefundForm(DeskForm):
    """How much goes back, and why."""

    amount = StringField(_l("Refund (৳)"))
    reason = StringField(_l("Reason"), validators=[Length(max=255)])


class GatewayRefundForm(RefundForm):
    """A payment a gateway brought in: back through the gateway, or handed back at the desk."""

    returned = SelectField(_l("How the money goes back"), default="gateway")


class CancelForm(DeskForm):
    """Why the invoice is cancelled."""

    reason = StringField(_l("Reason"), validators=[Length(max=255)])


class OpenShiftForm(DeskForm):
    """The branch whose desk the shift runs."""

    branch = SelectField(_l("Branch"), coerce=int)


class CloseShiftForm(DeskForm):
    """What the desk counted at the end of the shift."""

    cash = StringField(_l("Cash counted (৳)"))
    keys = IntegerField(_l("Keys counted in the office"), validators=[NumberRange(min=0)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=255)])


def _amount(form, field_name):
    """The typed taka as poisha, or None with the error on the field."""
    field = getattr(form, field_name)
    try:
        return parse_taka(field.data, required=True)
    except InvalidAmount as exc:
        field.errors = [*field.errors, str(exc.message)]
        return None


def _visible(record):
    """404 unless the record exists and is in the user's branch."""
    branch_id = user_branch_id()
    if record is None or (branch_id is not None and record.branch_id != branch_id):
        abort(404)
    return record


def _find_invoice(number):
    stmt = db.select(Invoice).where(db.func.upper(Invoice.number) == (number or "").strip().upper())
    return db.session.execute(stmt).scalar_one_or_none()


class PaymentDeskView(SecuredView):
    """Take a payment against an invoice; refund a payment or cancel an invoice (payments-edit)."""

    permission_module = "payments"
    permission_action = CREATE

    def _require_edit(self):
        if not can(current_user, "payments", EDIT):
            abort(403)

    @expose("/", methods=("GET", "POST"))
    def index(self):
        """The payment form, with the chosen invoice's running balance."""
        form = PayForm()
        invoice = None
        invoice_id = id_arg("invoice_id")
        if invoice_id is not None and not form.is_submitted():
            invoice = _visible(db.session.get(Invoice, invoice_id))
            form.invoice.data = invoice.number
        elif form.invoice.data:
            invoice = _find_invoice(form.invoice.data)
            branch_id = user_branch_id()
            if invoice is not None and branch_id is not None and invoice.branch_id != branch_id:
                invoice = None
        if form.validate_on_submit():
            amount = _amount(form, "amount")
            if invoice is None:
                form.invoice.errors = [*form.invoice.errors, _("No invoice has this number.")]
            elif amount is not None:
                try:
                    payment = billing.record_payment(invoice.id, amount, form.method.data,
                                                     by_user_id=current_user.id,
                                                     reference=form.reference.data)
                except billing.BillingError as exc:
                    show_refusal(form, exc)
                else:
                    flash(_("Payment of %(amount)s taken on %(number)s; balance %(balance)s.",
                            amount=money(payment.amount_poisha), number=invoice.number,
                            balance=money(billing.balance(invoice))), "success")
                    return redirect(local_target(request.form.get("next"))
                                    or self.get_url(".index", invoice_id=invoice.id,
                                                    paid=payment.id))
        facts = invoice_facts(invoice) if invoice is not None else {}
        return self.render("admin/billing/pay.html", form=form, next=request.form.get("next"),
                           **facts)

    @expose(f"/refund/<{ID_PATH}:payment_id>/", methods=("GET", "POST"))
    def refund(self, payment_id):
        """Refund (part of) a payment, with a reason."""
        self._require_edit()
        payment = _visible(db.session.get(Payment, payment_id))
        attempt = online_payments.attempt_of_payment(payment.id)
        form = RefundForm() if attempt is None else GatewayRefundForm()
        if attempt is not None:
            form.returned.choices = [
                ("gateway", _("Through %(gateway)s, to the client's account",
                              gateway=attempt.gateway.label)),
                ("desk", _("Handed back at the desk (or refunded in %(gateway)s's own panel)",
                           gateway=attempt.gateway.label))]
        if form.validate_on_submit():
            amount = _amount(form, "amount")
            if amount is not None:
                try:
                    # Money a gateway took goes back through that gateway unless staff say not.
                    online_payments.refund(
                        payment.id, amount, form.reason.data, by_user_id=current_user.id,
                        through_gateway=attempt is None or form.returned.data == "gateway")
                except (billing.BillingError, online_payments.PaymentError) as exc:
                    show_refusal(form, exc)
                else:
                    flash(_("Refunded %(amount)s.", amount=money(amount)), "success")
                    return redirect(self._back(payment.invoice_id))
        return self.render("admin/billing/refund.html", form=form, payment=payment,
                           refundable=billing.refundable(payment))

    @expose(f"/cancel/<{ID_PATH}:invoice_id>/", methods=("GET", "POST"))
    def cancel(self, invoice_id):
        """Cancel an invoice that has no net payment, with a reason."""
        self._require_edit()
        invoice = _visible(db.session.get(Invoice, invoice_id))
        form = CancelForm()
        if form.validate_on_submit():
            try:
                billing.cancel_invoice(invoice.id, form.reason.data, by_user_id=current_user.id)
            except billing.BillingError as exc:
                show_refusal(form, exc)
            else:
                flash(_("Invoice %(number)s is cancelled.", number=invoice.number), "success")
                return redirect(self._back(invoice.id))
        return self.render("admin/billing/cancel.html", form=form, invoice=invoice)

    @expose(f"/link/<{ID_PATH}:invoice_id>/", methods=("POST",))
    def make_link(self, invoice_id):
        """A new payment link for what is open on the invoice, shown with its QR code."""
        invoice = _visible(db.session.get(Invoice, invoice_id))
        try:
            online_payments.create_link(invoice.id, by_user_id=current_user.id)
        except online_payments.PaymentError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Payment link made: the client can open it or scan its QR code."), "success")
        return redirect(self._back(invoice.id))

    @expose(f"/send-link/<{ID_PATH}:invoice_id>/", methods=("POST",))
    def send_link(self, invoice_id):
        """Send the client the payment link by the channels they allow (takes messages-create too)."""
        if not can(current_user, "messages", CREATE):
            abort(403)
        invoice = _visible(db.session.get(Invoice, invoice_id))
        try:
            written = online_payments.send_link(invoice.id, by_user_id=current_user.id)
        except online_payments.PaymentError as exc:
            flash(str(exc.message), "error")
        else:
            notifications.enqueue_after_commit()
            flash(_("Payment link sent to %(client)s by %(channels)s.",
                    client=invoice.client.full_name,
                    channels=", ".join(str(message.channel.label) for message in written)),
                  "success")
        return redirect(self._back(invoice.id))

    @expose(f"/check/<{ID_PATH}:attempt_id>/", methods=("POST",))
    def check_attempt(self, attempt_id):
        """Ask the gateway now about an attempt it has not settled (the job does it too)."""
        attempt = _visible(db.session.get(GatewayTransaction, attempt_id))
        try:
            status = online_payments.settle(attempt.id, by_user_id=current_user.id)
        except online_payments.PaymentError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("%(gateway)s says: %(status)s.", gateway=attempt.gateway.label,
                    status=status.label), "info")
        return redirect(self._back(attempt.invoice_id))

    @expose(f"/refund-unapplied/<{ID_PATH}:attempt_id>/", methods=("POST",))
    def refund_unapplied(self, attempt_id):
        """Send back, through the gateway, money it took that the invoice no longer owed."""
        self._require_edit()
        attempt = _visible(db.session.get(GatewayTransaction, attempt_id))
        try:
            online_payments.refund_unapplied(attempt.id, by_user_id=current_user.id)
        except online_payments.PaymentError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Refunded %(amount)s through %(gateway)s.", amount=money(attempt.amount_poisha),
                    gateway=attempt.gateway.label), "success")
        return redirect(self._back(attempt.invoice_id))

    def _back(self, invoice_id):
        return self.get_url(".index", invoice_id=invoice_id) if invoice_id else self.get_url(".index")


class ShiftView(SecuredView):
    """Open my shift; close it by counting cash and keys (end-of-shift reconciliation)."""

    permission_module = "payments"
    permission_action = CREATE

    def _branches(self):
        stmt = db.select(Branch).order_by(Branch.name, Branch.id)
        branch_id = user_branch_id()
        if branch_id is not None:
            stmt = stmt.where(Branch.id == branch_id)
        return list(db.session.execute(stmt).scalars())

    def _page(self, open_form=None, close_form=None):
        shift = billing.open_shift_of(current_user.id)
        open_form = open_form or OpenShiftForm(formdata=None)
        open_form.branch.choices = [(b.id, b.name) for b in self._branches()]
        expected = billing.shift_expectations(shift.id) if shift is not None else None
        return self.render("admin/billing/shift.html", shift=shift, expected=expected,
                           open_form=open_form,
                           method_labels={m.name: m.label for m in PaymentMethod},
                           close_form=close_form or CloseShiftForm(formdata=None))

    @expose("/")
    def index(self):
        """My open shift with what the app expects, or the form to open one."""
        return self._page()

    @expose("/open/", methods=("POST",))
    def open_view(self):
        """Open a shift at a branch the user may work in."""
        form = OpenShiftForm()
        form.branch.choices = [(b.id, b.name) for b in self._branches()]
        if form.validate_on_submit():
            try:
                billing.open_shift(form.branch.data, by_user_id=current_user.id)
            except billing.BillingError as exc:
                show_refusal(form, exc)
            else:
                flash(_("Your shift is open."), "success")
                return redirect(self.get_url(".index"))
        return self._page(open_form=form)

    @expose("/close/", methods=("POST",))
    def close_view(self):
        """Close my shift with the counted cash and keys."""
        shift = billing.open_shift_of(current_user.id)
        if shift is None:
            flash(_("You have no open shift."), "error")
            return redirect(self.get_url(".index"))
        form = CloseShiftForm()
        if form.validate_on_submit():
            cash = _amount(form, "cash")
            if cash is not None:
                try:
                    closed = billing.close_shift(shift.id, cash, form.keys.data,
                                                 by_user_id=current_user.id, note=form.note.data)
                except billing.BillingError as exc:
                    show_refusal(form, exc)
                else:
                    flash(_("Shift closed. Cash difference: %(cash)s; keys difference: %(keys)d.",
                            cash=money(closed.counted_cash_poisha - closed.expected_cash_poisha),
                            keys=closed.counted_keys - closed.expected_keys), "success")
                    return redirect(self.get_url(".index"))
        return self._page(close_form=form)


def register(admin):
    """Add the invoice list, the payment desk and the shift page to the admin."""
    admin.add_view(InvoiceView(Invoice, db, name=_l("Invoices"), category=MONEY,
                               endpoint="invoices"))
    admin.add_view(PaymentDeskView(name=_l("Take payment"), category=MONEY,
                                   endpoint="take_payment"))
    admin.add_view(GatewayTransactionView(GatewayTransaction, db, name=_l("Online payments"),
                                          category=MONEY, endpoint="online_payments"))
    admin.add_view(ShiftView(name=_l("Shift"), category=MONEY, endpoint="shift"))
