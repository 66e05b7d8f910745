"""Key handover (SPEC K2), printable QR key labels, and the key-deposit ledger (SPEC P5).

One screen per locker does everything the desk does with its keys: issue a
key (taking the deposit), take it back (refunding it and ending the rental),
log a lost key (fee from the deposit or charged) and record the new key once
the locker is re-keyed. The rules, and the single transaction each action
runs in, live in app.services.handover; this module only collects input.
"""


import sqlalchemy as sa
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import defaultload
from werkzeug.routing import BuildError
from wtforms import BooleanField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import Length
from wtforms.validators import Optional

from admin_views.base import DeskForm
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import id_arg
from admin_views.base import local_target
from admin_views.base import parse_id
from admin_views.base import user_branch_id
from admin_views.filters import branch_day_filters
from admin_views.labels import COLUMN_LABELS
from admin_views.maintenance import show_refusal
from admin_views.menu import MONEY
from app.extensions import db
from app.i18n import money
from app.models import Client
from app.models import DepositEntry
from app.models import Key
from app.models import KeyEvent
from app.models import KeyState
from app.models import Locker
from app.models import LockerStatus
from app.models import Rental
from app.models import RentalStatus
from app.models import Zone
from app.services import billing
from app.services import client_search
from app.services import handover
from app.services import keys as key_registry
from app.services import settings
from app.services.access import EDIT
from app.services.access import can
from app.services.errors import Refusal
from app.services.exports import spreadsheet
from app.services.exports import taka_cell

# Lockers on one label sheet at most (a zone rarely has more than a few hundred).
MAX_LABEL_LOCKERS = 500
SEARCH_RESULTS = 50
RECENT_EVENTS = 15


class IssueForm(DeskForm):
    """Which key goes out, and the deposit taken for it."""

    key = SelectField(_l("Key"), coerce=int)
    deposit = StringField(_l("Deposit (৳)"), description=_l("In taka; 0 for no deposit."))


class ReturnForm(DeskForm):
    """The key coming back, the refund, and where the locker goes."""

    key = SelectField(_l("Key"), coerce=int)
    settle_dues = BooleanField(_l("Pay what the client owes on this locker from the deposit first"),
                               default=True)
    refund = StringField(_l("Refund (৳)"),
                         description=_l("At most the deposit held on this locker, less the dues paid "
                                        "from it."))
    locker_to = RadioField(_l("The locker afterwards"), default=LockerStatus.CLEANING.name,
                           choices=[(status.name, status.label)
                                    for status in handover.RETURN_TARGETS])


class LostForm(DeskForm):
    """Which key is lost, the fee, and how it is paid."""

    key = SelectField(_l("Key"), coerce=int)
    fee = StringField(_l("Lost-key fee (৳)"))
    settle = RadioField(_l("The fee is paid"), default=handover.SETTLE_DEPOSIT, choices=[
        (handover.SETTLE_DEPOSIT, _l("Taken from the deposit")),
        (handover.SETTLE_CHARGE, _l("Charged now, in cash")),
    ])
    note = StringField(_l("What happened"), validators=[Optional(), Length(max=255)])


class RekeyForm(DeskForm):
    """The new key (and whether the lock itself was replaced)."""

    tag = StringField(_l("New key tag"), validators=[Length(max=key_registry.MAX_TAG_LENGTH)])
    new_lock = BooleanField(_l("A new lock was fitted (not only re-keyed)"))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class RefundForm(DeskForm):
    """A deposit refunded without a key to take back."""

    client = SelectField(_l("Client"), coerce=int)
    amount = StringField(_l("Refund (৳)"))


FORMS = {"issue": IssueForm, "return": ReturnForm, "lost": LostForm, "rekey": RekeyForm,
         "refund": RefundForm}


def _url_or_none(endpoint, **values):
    """The URL of another area's screen, or None while that screen is not there."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _key_choice(key):
    suffix = f" · {_('spare')}" if key.is_spare else ""
    return key.id, f"{key.tag}{suffix} ({key.state.label})"


class KeyDeskView(SecuredView):
    """The key handover screen: one locker, its keys, its client, and every key action."""

    permission_module = "keys"

    # --- loading ---------------------------------------------------------------------

    def _require_edit(self):
        if not can(current_user, "keys", EDIT):
            abort(403)

    def _locker_or_404(self, value):
        """The locker, if it exists and the user's branch may see it."""
        locker_id = parse_id(value)
        locker = db.session.get(Locker, locker_id) if locker_id is not None else None
        branch_id = user_branch_id()
        if locker is None or (branch_id is not None and locker.branch_id != branch_id):
            abort(404)
        return locker

    def _scoped(self, stmt):
        branch_id = user_branch_id()
        return stmt if branch_id is None else stmt.where(Locker.branch_id == branch_id)

    def _situation(self, locker):
        """Everything the screen and its forms need to know about the locker now."""
        rental = db.session.execute(db.select(Rental).where(
            Rental.holding_locker_id == locker.id)).scalar_one_or_none()
        keys = list(db.session.execute(db.select(Key).where(Key.locker_id == locker.id)
                                       .order_by(Key.tag, Key.id)).scalars())
        out = next((key for key in keys if key.state is KeyState.WITH_CLIENT), None)
        out_client_id = handover.issued_to(out.id) if out is not None else None
        client = rental.client if rental is not None else None
        holders = handover.held_on_locker_by_client(locker.id)
        return {
            "rental": rental,
            "client": client,
            "keys": keys,
            "key_out": out,
            "key_out_client": db.session.get(Client, out_client_id)
            if out_client_id is not None else None,
            "out_held": handover.held_on_locker(out_client_id, locker.id)
            if out_client_id is not None else 0,
            "out_owed": billing.owed_on_locker(locker.id, out_client_id)
            if out_client_id is not None else 0,
            "client_balance": handover.deposit_balance(client.id) if client else 0,
            "client_held": handover.held_on_locker(client.id, locker.id) if client else 0,
            "holders": holders,
        }

    def _forms(self, locker, facts, submitted=None):
        """The five forms, prefilled; only `submitted` reads the posted data."""
        forms = {}
        for name, form_class in FORMS.items():
            kwargs = {"prefix": name}
            if name != submitted:
                kwargs["formdata"] = None
            forms[name] = form_class(**kwargs)
        keys = facts["keys"]
        issue, back, lost, rekey, refund = (forms[name] for name in FORMS)
        issue.key.choices = [_key_choice(k) for k in keys if k.state is KeyState.IN_OFFICE]
        back.key.choices = [_key_choice(k) for k in keys if k.state is KeyState.WITH_CLIENT]
        lost.key.choices = [_key_choice(k) for k in keys
                            if k.state in (KeyState.WITH_CLIENT, KeyState.IN_OFFICE)]
        refund.client.choices = [(client.id, f"{client.full_name} ({money(held)})")
                                 for client, held in facts["holders"]]
        if submitted != "issue":
            default = settings.get("key_deposit_poisha")
            issue.deposit.data = handover.taka_text(max(0, default - facts["client_held"]))
        if submitted != "return":
            # The dues come out of the deposit first (the box is ticked), then the rest goes back.
            back.settle_dues.data = True
            back.refund.data = handover.taka_text(
                facts["out_held"] - min(facts["out_held"], facts["out_owed"]))
        if submitted != "lost":
            # A key lost in the office has no client to pay a fee.
            fee = settings.get("lost_key_fee_poisha") if facts["key_out"] is not None else 0
            lost.fee.data = handover.taka_text(fee)
            lost.settle.data = (handover.SETTLE_DEPOSIT if facts["out_held"] >= fee
                                else handover.SETTLE_CHARGE)
            if facts["key_out"] is not None:
                lost.key.data = facts["key_out"].id
        if submitted != "rekey":
            rekey.tag.data = key_registry.suggested_tag(locker)
        return forms

    def _screen(self, locker, facts=None, forms=None):
        facts = facts or self._situation(locker)
        forms = forms or self._forms(locker, facts)
        events = list(db.session.execute(
            db.select(KeyEvent).join(Key).where(Key.locker_id == locker.id)
            .order_by(KeyEvent.at.desc(), KeyEvent.id.desc()).limit(RECENT_EVENTS)).scalars())
        rental = facts["rental"]
        links = {
            "assign": _url_or_none("rental_desk.assign_view", locker_id=locker.id)
            if rental is None else None,
            "release": _url_or_none("rental_desk.release_view", rental_id=rental.id)
            if rental is not None else None,
            "profile": _url_or_none("client_profile.index", id=facts["client"].id)
            if facts["client"] is not None else None,
            "locker": _url_or_none("lockers.details_view", id=locker.id),
        }
        return self.render("admin/key_desk/index.html", locker=locker, forms=forms,
                           events=events, links=links, may_edit=can(current_user, "keys", EDIT),
                           active=rental is not None and rental.status is RentalStatus.ACTIVE,
                           **facts)

    # --- pages -----------------------------------------------------------------------

    @expose("/")
    def index(self):
        """The locker's handover screen, or the picker when no locker is chosen."""
        locker_id = request.args.get("locker_id", "").strip()
        if locker_id:
            return self._screen(self._locker_or_404(locker_id))
        return self._picker((request.args.get("q") or "").strip())

    def _picker(self, text):
        """Find a locker by its number or a key tag (a scanned QR label types the tag)."""
        lockers, waiting = [], []
        if text:
            exact = db.session.execute(self._scoped(
                db.select(Locker).join(Key, Key.locker_id == Locker.id)
                .where(db.func.upper(Key.tag) == text.upper()))).scalars().first()
            if exact is not None:
                return redirect(self.get_url(".index", locker_id=exact.id))
            pattern = f"%{text.upper()}%"
            tagged = db.select(Key.locker_id).where(db.func.upper(Key.tag).like(pattern))
            lockers = list(db.session.execute(self._scoped(
                db.select(Locker).where(db.or_(db.func.upper(Locker.number).like(pattern),
                                               Locker.id.in_(tagged)))
                .order_by(Locker.number, Locker.id).limit(SEARCH_RESULTS))).scalars())
            if len(lockers) == 1:
                return redirect(self.get_url(".index", locker_id=lockers[0].id))
        else:
            waiting = list(db.session.execute(self._scoped(
                db.select(Locker).where(Locker.needs_rekey.is_(True))
                .order_by(Locker.number, Locker.id))).scalars())
        return self.render("admin/key_desk/picker.html", text=text, lockers=lockers,
                           waiting=waiting)

    # --- actions ---------------------------------------------------------------------

    def _action(self, name, run, success):
        """Check, validate and run one of the screen's forms; back to the screen either way."""
        self._require_edit()
        locker = self._locker_or_404(request.args.get("locker_id"))
        facts = self._situation(locker)
        forms = self._forms(locker, facts, submitted=name)
        form = forms[name]
        if form.validate_on_submit():
            try:
                result = run(locker, form)
            except Refusal as exc:
                show_refusal(form, exc)
            else:
                flash(success(result), "success")
                # The rental summary hands a key over with one press and comes back.
                return redirect(local_target(request.form.get("next"))
                                or self.get_url(".index", locker_id=locker.id))
        # The refused action's form keeps what was typed; the rest are fresh.
        forms = {**self._forms(locker, self._situation(locker), submitted=name), name: form}
        return self._screen(locker, forms=forms)

    @expose("/issue/", methods=("POST",))
    def issue(self):
        """Hand a key to the client of the locker's active rental."""
        def run(locker, form):
            deposit = handover.parse_taka(form.deposit.data, "deposit")
            key = handover.issue_key(locker.id, form.key.data, deposit_poisha=deposit,
                                     by_user_id=current_user.id)
            return key, deposit

        return self._action("issue", run, lambda result: _(
            "Key %(tag)s issued; deposit taken: %(amount)s.", tag=result[0].tag,
            amount=money(result[1])))

    @expose("/return/", methods=("POST",))
    def return_(self):
        """Take a key back, refund the deposit and end the rental."""
        def run(locker, form):
            refund = handover.parse_taka(form.refund.data, "refund")
            return handover.return_key(form.key.data, refund_poisha=refund,
                                       by_user_id=current_user.id,
                                       locker_to=LockerStatus[form.locker_to.data],
                                       settle_dues=form.settle_dues.data)

        def success(result):
            text = _("Key %(tag)s returned; refunded: %(amount)s.", tag=result.key.tag,
                     amount=money(result.refunded_poisha))
            if result.settled_poisha:
                text += " " + _("Dues paid from the deposit: %(amount)s.",
                                amount=money(result.settled_poisha))
            if result.released is not None:
                text += " " + _("The rental has ended; the locker is %(status)s.",
                                status=result.released.locker.status.label)
            if result.still_owed_poisha:
                flash(_("The client still owes %(amount)s on this locker.",
                        amount=money(result.still_owed_poisha)), "warning")
            return text

        return self._action("return", run, success)

    @expose("/lost/", methods=("POST",))
    def lost(self):
        """Log a lost key, take the fee, and ask for the locker to be re-keyed."""
        def run(locker, form):
            fee = handover.parse_taka(form.fee.data, "fee")
            return handover.report_lost_key(form.key.data, fee_poisha=fee,
                                            settle=form.settle.data, note=form.note.data,
                                            by_user_id=current_user.id)

        def success(result):
            text = _("Key %(tag)s is marked compromised; the locker needs a new key or lock "
                     "(ticket #%(ticket)s).", tag=result.key.tag, ticket=result.ticket.id)
            if result.settled == handover.SETTLE_DEPOSIT:
                text += " " + _("Fee of %(amount)s taken from the deposit.",
                                amount=money(result.fee_poisha))
            elif result.settled == handover.SETTLE_CHARGE:
                text += " " + _("Fee of %(amount)s charged in cash.",
                                amount=money(result.fee_poisha))
            return text

        return self._action("lost", run, success)

    @expose("/rekey/", methods=("POST",))
    def rekey(self):
        """Record the locker's new key after re-keying or a new lock."""
        def run(locker, form):
            return handover.rekey_locker(locker.id, form.tag.data, new_lock=form.new_lock.data,
                                         note=form.note.data, by_user_id=current_user.id)

        return self._action("rekey", run, lambda result: _(
            "New key %(tag)s recorded; the locker can be rented again.", tag=result.key.tag))

    @expose("/refund/", methods=("POST",))
    def refund(self):
        """Refund a deposit still held on the locker when there is no key to take back."""
        def run(locker, form):
            amount = handover.parse_taka(form.amount.data, "amount")
            handover.refund_deposit(locker.id, form.client.data, amount,
                                    by_user_id=current_user.id)
            return amount

        return self._action("refund", run, lambda amount: _(
            "Deposit refunded: %(amount)s.", amount=money(amount)))

    # --- labels ----------------------------------------------------------------------

    @expose("/labels/")
    def labels(self):
        """A printable sheet of QR key labels for some lockers, or for a zone."""
        stmt = db.select(Locker)
        zone_id = id_arg("zone_id")
        wanted = [locker_id for locker_id in map(parse_id, (request.args.get("locker_ids") or "")
                                                 .split(",")) if locker_id is not None]
        zone = None
        if zone_id is not None:
            zone = db.session.get(Zone, zone_id)
            stmt = stmt.where(Locker.zone_id == zone_id)
        elif wanted:
            stmt = stmt.where(Locker.id.in_(wanted))
        else:
            flash(_("Choose the lockers or the zone to print key labels for."), "error")
            return redirect(self.get_url(".index"))
        lockers = list(db.session.execute(self._scoped(
            stmt.order_by(Locker.number, Locker.id).limit(MAX_LABEL_LOCKERS))).scalars())
        if not lockers:
            abort(404)
        usable = (KeyState.IN_OFFICE, KeyState.WITH_CLIENT)
        labels = [(key, locker, handover.key_label_svg(key.tag))
                  for locker in lockers for key in locker.keys if key.state in usable]
        return self.render("admin/key_desk/labels.html", labels=labels, lockers=lockers,
                           zone=zone)


class DepositHolderFilter(BaseSQLAFilter):
    """Only the lines of clients who still have a deposit held."""

    def __init__(self):
        super().__init__(DepositEntry.client_id, _l("Deposit held"),
                         options=[("1", _l("Clients with a deposit held"))])

    def apply(self, query, value, alias=None):
        return query.filter(handover.clients_with_deposit_condition())

    def operation(self):
        return _l("is")


def _money_column(view, context, model, name):
    return money(getattr(model, name))


def _taka_export(view, context, model, name):
    # A number, not text: a text "-500.00" would be escaped as a formula.
    return taka_cell(getattr(model, name))


def _deposit_entries_found(text):
    """A client's deposit lines, or those of the key whose tag was typed."""
    keys = sa.select(Key.id).where(client_search.typed_exactly(Key.tag, text))
    return client_search.rows_found(DepositEntry.id, text, key=DepositEntry.key_id.in_(keys))


class DepositEntryView(SecuredModelView):
    """The key-deposit ledger, read-only: lines are written by the key handover only."""

    permission_module = "payments"
    allow_create = allow_edit = allow_delete = False
    list_template = "admin/key_desk/deposits_list.html"
    column_labels = {**COLUMN_LABELS, "kind": _l("Entry"), "key": _l("Key"),
                     "key.locker": _l("Locker"), "staff": _l("Staff"), "note": _l("Note"),
                     "amount_poisha": _l("Amount")}
    column_list = ["at", "client", "key.locker", "key", "kind", "amount_poisha", "rental",
                   "staff", "note", "branch"]
    column_export_list = ["at", "client", "client.phone", "key.locker", "key", "kind",
                          "amount_poisha", "rental", "staff", "note", "branch"]
    column_searchable_list = ["client.full_name", "client.phone", "key.tag"]
    search_condition = staticmethod(_deposit_entries_found)
    column_filters = ["kind", *branch_day_filters(DepositEntry.at, DepositEntry.branch_id,
                                                   _l("Time")),
                      "client.full_name", "client.phone", "branch.name", DepositHolderFilter()]
    column_sortable_list = ["at", "kind", "amount_poisha", ("client", "client.full_name")]
    column_default_sort = ("at", True)
    column_formatters = {"amount_poisha": _money_column}
    column_formatters_detail = {"amount_poisha": _money_column}
    column_formatters_export = {"amount_poisha": _taka_export}
    list_loads = (defaultload(DepositEntry.key).selectinload(Key.locker),
                  defaultload(DepositEntry.rental).selectinload(Rental.locker))

    def render(self, template, **kwargs):
        # Every ledger page says what is held in total (for the user's branch).
        kwargs.setdefault("deposits_total", handover.deposits_total(user_branch_id()))
        return super().render(template, **kwargs)

    @expose("/balances/")
    def balances_view(self):
        """What each client holds, with CSV/XLSX export."""
        rows = handover.client_balances(user_branch_id())
        export = request.args.get("export")
        if export in ("csv", "xlsx"):
            return self._export_balances(rows, export)
        return self.render("admin/key_desk/balances.html", rows=rows,
                           total=sum(held for _client, held in rows))

    def _export_balances(self, rows, kind):
        # spreadsheet() puts every cell through the exports' one sanitizer.
        body, mimetype = spreadsheet(
            [_l("Client"), _l("Phone"), _l("Branch"), _l("Deposit held")],
            [(client.full_name, client.phone, client.branch, taka_cell(held))
             for client, held in rows], kind)
        return Response(body, mimetype=mimetype, headers={
            "Content-Disposition": f"attachment; filename=deposit_balances.{kind}"})


def register(admin):
    """Add the key handover screen and the deposit ledger to `admin`."""
    admin.add_view(KeyDeskView(name=_l("Key handover"), endpoint="key_desk"))
    admin.add_view(DepositEntryView(DepositEntry, db, name=_l("Key deposits"), category=MONEY,
                                    endpoint="deposits"))
