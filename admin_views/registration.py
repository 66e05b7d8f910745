"""Client registration, the client profile, terms & conditions and tags (SPEC C1, C2, S6).

The register page is one tablet-friendly form: details, photo and ID scan
(the tablet's cameras), the current terms and a signature pad. The profile
is the client's whole history on one page. Business rules live in
app.services.clients; these views collect input, check permissions and show
refusals next to the field they concern.
"""

from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy.orm import selectinload
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import FileField
from wtforms import HiddenField
from wtforms import SelectField
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms import TelField
from wtforms import TextAreaField
from wtforms.validators import Email
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from admin_views.base import ID_PATH
from admin_views.base import DeskForm
from admin_views.base import EnumSelectField
from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import parse_id
from admin_views.base import scope_to_branch
from admin_views.base import user_branch_id
from admin_views.fields import DeskDateField
from admin_views.labels import COLUMN_LABELS
from admin_views.menu import SYSTEM
from admin_views.validators import BangladeshMobile
from admin_views.validators import NotTaken
from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import ClientNote
from app.models import ClientStatus
from app.models import Gender
from app.models import Key
from app.models import KeyEvent
from app.models import Language
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import Tag
from app.models import TermsSignature
from app.models import TermsVersion
from app.services import clients
from app.services import notifications
from app.services import privacy
from app.services import rentals
from app.services import standing
from app.services import waivers
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import VIEW
from app.services.access import can
from app.services.errors import Refusal
from app.services.network import request_address

LABELS = {
    **COLUMN_LABELS,
    "referred_by_phone": _l("Referred by (client's phone)"),
    "tags": _l("Tags"),
    "photo": _l("Profile photo"),
    "id_scan": _l("ID document scan (photo or PDF)"),
    "signature": _l("Signature"),
    "version": _l("Version"),
    "title": _l("Title"),
    "body": _l("Text"),
    "published_at": _l("Published"),
    "published_by": _l("Published by"),
}


# Service field names that the form calls differently.
FORM_FIELDS = {"referred_by": "referred_by_phone"}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def profile_url(client_id):
    """Where a client's profile page lives."""
    return url_for("client_profile.index", id=client_id)


def already_registered(other):
    """'Already registered to <a>name</a>.' linking to that client's profile."""
    return Markup(_("Already registered to %(client)s.",
                    client=Markup('<a href="%s">%s</a>') % (profile_url(other.id),
                                                            escape(other.full_name))))


def _may_assign():
    return "rental_desk.assign_view" in current_app.view_functions and can(
        current_user, "rentals", CREATE)


def _require(action):
    if not can(current_user, "clients", action):
        abort(403)


def visible_client(client_id):
    """The client, or 404 if there is none or it belongs to a branch the user may not see."""
    client_id = parse_id(client_id)
    client = db.session.get(Client, client_id) if client_id else None
    branch_id = user_branch_id()
    if client is None or (branch_id is not None and client.branch_id != branch_id):
        abort(404)
    return client


def _all_tags():
    return db.session.execute(db.select(Tag).order_by(Tag.name)).scalars().all()


def _uploaded(name):
    """Bytes of an uploaded file, or None when nothing was chosen."""
    chosen = request.files.get(name)
    if chosen is None or not chosen.filename:
        return None
    return chosen.read()


# --- registration -----------------------------------------------------------------

class RegistrationForm(DeskForm):
    """Everything the desk asks a new client (SPEC C1)."""

    branch = SelectField(LABELS["branch"], coerce=int, validators=[InputRequired()])
    full_name = StringField(LABELS["full_name"], filters=[_strip],
                            validators=[InputRequired(), Length(max=120)])
    phone = TelField(LABELS["phone"], validators=[BangladeshMobile()])
    email = EmailField(LABELS["email"], filters=[_strip],
                       validators=[Optional(), Email(), Length(max=255)])
    nid = StringField(LABELS["nid"], filters=[_strip], validators=[Optional(), Length(max=32)])
    address = StringField(LABELS["address"], filters=[_strip],
                          validators=[Optional(), Length(max=255)])
    gender = EnumSelectField(LABELS["gender"], enum_class=Gender, allow_blank=True)
    date_of_birth = DeskDateField(LABELS["date_of_birth"], validators=[Optional()])
    emergency_contact_name = StringField(LABELS["emergency_contact_name"], filters=[_strip],
                                         validators=[Optional(), Length(max=120)])
    emergency_contact_phone = TelField(LABELS["emergency_contact_phone"],
                                       validators=[BangladeshMobile(required=False)])
    tier = StringField(LABELS["tier"], filters=[_strip], validators=[Optional(), Length(max=40)])
    referred_by_phone = TelField(LABELS["referred_by_phone"],
                                 validators=[BangladeshMobile(required=False)])
    preferred_language = EnumSelectField(LABELS["preferred_language"], enum_class=Language,
                                         default=Language.BENGALI)
    opt_in_email = BooleanField(LABELS["opt_in_email"], default=True)
    opt_in_sms = BooleanField(LABELS["opt_in_sms"], default=True)
    opt_in_whatsapp = BooleanField(LABELS["opt_in_whatsapp"], default=False)
    tags = SelectMultipleField(LABELS["tags"], coerce=int, choices=[], validate_choice=True)
    notes = TextAreaField(LABELS["notes"], filters=[_strip], validators=[Optional()])
    photo = FileField(LABELS["photo"])
    id_scan = FileField(LABELS["id_scan"])
    terms_version_id = HiddenField()
    signature = HiddenField()
    # Straight on to assigning it, its price shown, once the client is registered.
    locker_number = StringField(_l("Locker to assign now (optional)"), filters=[_strip],
                                validators=[Optional(), Length(max=20)])


class RegisterClientView(SecuredView):
    """One page to register a client at the desk, signature included."""

    permission_module = "clients"
    permission_action = CREATE

    def _form(self):
        form = RegistrationForm()
        branches = db.session.execute(scope_to_branch(
            db.select(Branch).where(Branch.is_active.is_(True)).order_by(Branch.name), Branch)
        ).scalars().all()
        form.branch.choices = [(branch.id, branch.name) for branch in branches]
        if request.method == "GET" and form.branch.data is None:
            form.branch.data = user_branch_id() or (branches[0].id if len(branches) == 1 else None)
        form.tags.choices = [(tag.id, tag.local_name) for tag in _all_tags()]
        return form

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = self._form()
        terms = clients.current_terms()
        if form.validate_on_submit():
            client = self._register(form)
            if client is not None:
                flash(_("%(name)s is registered.", name=client.full_name), "success")
                if form.locker_number.data and _may_assign():
                    return redirect(url_for("rental_desk.assign_view", client_id=client.id,
                                            locker_number=form.locker_number.data))
                return redirect(profile_url(client.id))
        if terms is not None and str(form.terms_version_id.data or "") != str(terms.id):
            # The page now shows this version: a signature given for another text is void.
            form.terms_version_id.data = terms.id
            form.signature.data = ""
        tiers = db.session.execute(db.select(Client.tier).where(Client.tier.is_not(None))
                                   .distinct().order_by(Client.tier)).scalars().all()
        return self.render("admin/clients/register.html", form=form, terms=terms, tiers=tiers,
                           posted=request.method == "POST", may_assign=_may_assign())

    def _register(self, form):
        """Call the service; put a refusal on its field. Returns the client or None."""
        referred_by_id = None
        if form.referred_by_phone.data:
            referrer = clients.find_by_phone(form.referred_by_phone.data, branch_id=user_branch_id())
            if referrer is None:
                form.referred_by_phone.errors.append(_("No client has that phone number."))
                return None
            referred_by_id = referrer.id
        try:
            return clients.register_client(
                branch_id=form.branch.data, full_name=form.full_name.data, phone=form.phone.data,
                email=form.email.data, nid=form.nid.data, address=form.address.data,
                notes=form.notes.data, gender=form.gender.data,
                date_of_birth=form.date_of_birth.data,
                emergency_contact_name=form.emergency_contact_name.data,
                emergency_contact_phone=form.emergency_contact_phone.data, tier=form.tier.data,
                referred_by_id=referred_by_id, preferred_language=form.preferred_language.data,
                opt_in_email=form.opt_in_email.data, opt_in_sms=form.opt_in_sms.data,
                opt_in_whatsapp=form.opt_in_whatsapp.data, tag_ids=form.tags.data,
                photo=_uploaded("photo"), id_scan=_uploaded("id_scan"),
                signature=form.signature.data, terms_version_id=form.terms_version_id.data,
                by_user_id=current_user.id, ip=request_address(),
            )
        except clients.DuplicateClient as exc:
            getattr(form, exc.field).errors.append(already_registered(exc.other))
        except clients.ClientError as exc:
            field = getattr(form, FORM_FIELDS.get(exc.field, exc.field or ""), None)
            if field is not None:
                field.errors.append(str(exc.message))
            else:
                flash(str(exc.message), "error")
        return None

    @expose("/referrer")
    def referrer(self):
        """Who has this phone: the name shown under 'Referred by' as the desk types."""
        client = clients.find_by_phone(request.args.get("phone", ""), branch_id=user_branch_id())
        if client is None:
            return jsonify(found=False)
        return jsonify(found=True, name=client.full_name, id=client.id)


# --- profile --------------------------------------------------------------------

class ClientPage(SecuredView):
    """A page about one client (?id=N) opened from their profile or a list; not in the menu."""

    permission_module = "clients"

    def is_visible(self):
        return False

    @staticmethod
    def requested_client():
        """The client ?id= names (404 if this user may not see them); None when there is no id.

        Without an id the page has nobody to show: callers send the reader to the clients.
        """
        client_id = request.args.get("id")
        return None if client_id is None else visible_client(client_id)


# Rows a section of the profile's history shows at a time.
HISTORY_PAGE = 20


class ClientProfileView(ClientPage):
    """A client's details and whole history on one page (SPEC C2)."""

    @expose("/")
    def index(self):
        client = self.requested_client()
        if client is None:
            return redirect(url_for("clients.index_view"))
        history = self._history(client)
        may_see_money = can(current_user, "payments", VIEW)
        client_standing = (standing.of(client.id) if may_see_money or can(current_user, "rentals", VIEW)
                           else None)
        # Once anonymised the profile is what the law keeps: money and history, no details.
        anonymised = privacy.is_anonymised(client.id)
        return self.render(
            "admin/clients/profile.html", client=client, tags=_all_tags(),
            client_anonymised=anonymised, statuses=list(ClientStatus),
            may_edit=can(current_user, "clients", EDIT) and not anonymised,
            may_edit_rentals=can(current_user, "rentals", EDIT),
            may_assign=can(current_user, "rentals", CREATE) and client.status is ClientStatus.ACTIVE,
            may_pay=can(current_user, "payments", CREATE), may_see_money=may_see_money,
            may_hand_keys=can(current_user, "keys", EDIT),
            standing=client_standing, renewal_totals=self._renewal_totals(client_standing),
            may_message=can(current_user, "messages", CREATE),
            consents=notifications.consent_of(client), consent_sources=notifications.CONSENT_SOURCES,
            messages=(notifications.recent_for(client.id)
                      if can(current_user, "messages", VIEW) else None),
            **history)

    @staticmethod
    def _renewal_totals(client_standing):
        """{rental id: price of one more term} for the one-press "renew and take cash"."""
        if client_standing is None or not (can(current_user, "rentals", EDIT)
                                           and can(current_user, "payments", CREATE)):
            return {}
        totals = {}
        for holding in client_standing.holdings:
            if holding.rental.status in (RentalStatus.ACTIVE, RentalStatus.EXPIRED):
                try:
                    totals[holding.rental.id] = rentals.renewal_quote(holding.rental.id).total_poisha
                except Refusal:
                    continue  # the renew page says why
        return totals

    @staticmethod
    def _history(client):
        """Each section of the history, newest first, a page at a time, for the sections the user may see.

        A client of ten years has a thousand rentals and payments: each section
        shows HISTORY_PAGE rows with "Older" and "Newer" links (`<section>_page`
        in the URL) and reads what its rows show in one more query, so the page
        sends as many statements for a long history as for a short one.
        """
        pages = {}

        def page_of(name, module, query, *loads):
            if module is not None and not can(current_user, module, VIEW):
                return None
            page = max(request.args.get(f"{name}_page", 0, type=int), 0)
            found = db.session.execute(query.options(*loads).limit(HISTORY_PAGE + 1)
                                       .offset(page * HISTORY_PAGE)).scalars().all()
            pages[name] = {"page": page, "older": len(found) > HISTORY_PAGE}
            return found[:HISTORY_PAGE]

        return {
            "rentals": page_of("rentals", "rentals", db.select(Rental)
                               .where(Rental.client_id == client.id)
                               .order_by(Rental.starts_at.desc(), Rental.id.desc()),
                               selectinload(Rental.locker)),
            "payments": page_of("payments", "payments", db.select(Payment)
                                .where(Payment.client_id == client.id)
                                .order_by(Payment.paid_at.desc(), Payment.id.desc())),
            "key_events": page_of("key_events", "keys", db.select(KeyEvent).join(Key)
                                  .where(KeyEvent.client_id == client.id)
                                  .order_by(KeyEvent.at.desc(), KeyEvent.id.desc()),
                                  selectinload(KeyEvent.key).selectinload(Key.locker),
                                  selectinload(KeyEvent.staff)),
            "tickets": page_of("tickets", "maintenance", db.select(MaintenanceTicket)
                               .where(MaintenanceTicket.client_id == client.id)
                               .order_by(MaintenanceTicket.opened_at.desc(),
                                         MaintenanceTicket.id.desc()),
                               selectinload(MaintenanceTicket.locker)),
            "lost_items": page_of("lost_items", "lost_found", db.select(LostItem)
                                  .where(LostItem.client_id == client.id)
                                  .order_by(LostItem.cleaned_out_on.desc(), LostItem.id.desc()),
                                  selectinload(LostItem.locker)),
            "signatures": page_of("signatures", None, db.select(TermsSignature)
                                  .where(TermsSignature.client_id == client.id)
                                  .order_by(TermsSignature.signed_at.desc(),
                                            TermsSignature.id.desc()),
                                  selectinload(TermsSignature.terms_version),
                                  selectinload(TermsSignature.staff)),
            "notes": page_of("notes", None, db.select(ClientNote)
                             .where(ClientNote.client_id == client.id)
                             .order_by(ClientNote.created_at.desc(), ClientNote.id.desc()),
                             selectinload(ClientNote.author)),
            "history_pages": pages,
        }

    def _back(self, client):
        return redirect(profile_url(client.id))

    def _act(self, action, client, *args, success, **kwargs):
        """Run a service call for the profile's forms; flash its outcome and go back."""
        try:
            action(client.id, *args, by_user_id=current_user.id, **kwargs)
        except clients.ClientError as exc:
            flash(str(exc.message), "error")
        else:
            flash(success, "success")
        return self._back(client)

    @expose("/status", methods=("POST",))
    def status(self):
        """Set Active / Inactive / Banned (a ban needs a reason)."""
        _require(EDIT)
        client = visible_client(request.args.get("id", type=int))
        return self._act(clients.set_status, client, request.form.get("status", ""),
                         reason=request.form.get("ban_reason"), success=_("Status saved."))

    @expose("/note", methods=("POST",))
    def note(self):
        """Add a dated note to the timeline."""
        _require(EDIT)
        client = visible_client(request.args.get("id", type=int))
        return self._act(clients.add_note, client, request.form.get("body", ""),
                         success=_("Note added."))

    @expose("/tags", methods=("POST",))
    def tags(self):
        """Replace the client's tags."""
        _require(EDIT)
        client = visible_client(request.args.get("id", type=int))
        tag_ids = [parse_id(value) for value in request.form.getlist("tags")]
        if None in tag_ids:
            abort(400)
        return self._act(clients.set_tags, client, tag_ids, success=_("Tags saved."))

    @expose(f"/waiver/<{ID_PATH}:signature_id>")
    def waiver(self, signature_id):
        """The signed terms as a PDF download."""
        signature = db.session.get(TermsSignature, signature_id)
        if signature is None:
            abort(404)
        visible_client(signature.client_id)
        response = Response(waivers.waiver_pdf(signature.id), mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{waivers.waiver_filename(signature.id)}"')
        response.headers["Cache-Control"] = "private, no-store"
        return response


# --- terms & tags ----------------------------------------------------------------

class PublishTermsForm(DeskForm):
    """A new version of the terms: its title and full text."""

    title = StringField(LABELS["title"], filters=[_strip],
                        validators=[InputRequired(), Length(max=120)])
    body = TextAreaField(LABELS["body"], validators=[InputRequired()])


def _terms_body(view, context, model, name):
    return Markup('<div class="terms-text">%s</div>') % model.body


class TermsVersionView(SecuredModelView):
    """Published versions of the terms & conditions (SPEC S6).

    A published version is never edited or deleted: signatures point to the
    text their client read. A new version is published (settings-edit) and is
    the one shown at registration from then on.
    """

    permission_module = "settings"
    allow_create = allow_edit = allow_delete = False
    column_list = ["version", "title", "published_at", "published_by"]
    column_details_list = ["version", "title", "body", "published_at", "published_by"]
    column_export_list = ["version", "title", "body", "published_at", "published_by"]
    column_default_sort = ("version", True)
    column_searchable_list = ["title"]
    column_formatters_detail = {"body": _terms_body}
    column_labels = LABELS
    list_template = "admin/clients/terms_list.html"

    @property
    def can_publish(self):
        """Publishing a version is editing the settings."""
        return self.allowed(EDIT)

    @expose("/publish/", methods=("GET", "POST"))
    def publish_view(self):
        """Publish a new version, starting from the current text."""
        if not self.can_publish:
            abort(403)
        form = PublishTermsForm()
        current = clients.current_terms()
        if request.method == "GET" and current is not None:
            form.title.data, form.body.data = current.title, current.body
        if form.validate_on_submit():
            try:
                terms = clients.publish_terms(form.title.data, form.body.data,
                                              by_user_id=current_user.id)
            except clients.ClientError as exc:
                getattr(form, exc.field or "title").errors.append(str(exc.message))
            else:
                flash(_("Version %(version)d of the terms is published. New registrations sign it.",
                        version=terms.version), "success")
                return redirect(url_for(".index_view"))
        return self.render("admin/clients/terms_publish.html", form=form, current=current)


class TagView(SecuredModelView):
    """Labels for clients (VIP, Corporate …), chosen at registration and on the profile."""

    permission_module = "clients"
    column_list = ["name", "name_bn", "created_at"]
    column_searchable_list = ["name", "name_bn"]
    column_default_sort = "name"
    form_columns = ["name", "name_bn"]
    column_labels = {**LABELS, "name": _l("Name (English)"), "name_bn": _l("Name (Bengali)")}
    form_args = {"name": {
        "filters": [_strip],
        "validators": [InputRequired(), Length(max=40), NotTaken(
            Tag.name, lambda other: _("The tag %(name)s already exists.", name=other.name))],
    }}


def register(admin):
    """Add this area's views to `admin`."""
    admin.add_view(RegisterClientView(name=_l("Register client"), endpoint="register_client"))
    admin.add_view(ClientProfileView(name=_l("Client profile"), endpoint="client_profile"))
    admin.add_view(TermsVersionView(TermsVersion, db, name=_l("Terms & conditions"),
                                    category=SYSTEM, endpoint="terms"))
    admin.add_view(TagView(Tag, db, name=_l("Tags"), category=SYSTEM, endpoint="tags"))
