"""Privacy (SPEC S5): deletion requests, a client's data export and their consent log.

"Privacy requests" (System menu, permission module "privacy") lists the
deletion requests with what each waits for; a manager records one from the
profile, cancels one, or has a due one carried out now instead of by the
nightly job. The export downloads everything held about one client. The
consent log is open to whoever may see the client's profile. Rules live in
app.services.privacy and privacy_export; these views collect input, check
permissions and branches, and show refusals.
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import send_file
from flask import url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import Length
from wtforms.validators import Optional

from admin_views.base import ID_PATH
from admin_views.base import DeskForm
from admin_views.base import EnumSelectField
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from admin_views.fields import DeskDateField
from admin_views.labels import MODEL_LABELS
from admin_views.menu import SYSTEM
from admin_views.registration import ClientPage
from admin_views.registration import profile_url
from admin_views.registration import visible_client
from app.extensions import db
from app.models import DeletionRequest
from app.models import RequestChannel
from app.models import Requester
from app.services import clock
from app.services import notifications
from app.services import privacy
from app.services import privacy_export
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import VIEW
from app.services.access import can

LABELS = MODEL_LABELS["DeletionRequest"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _visible_request(request_id):
    row = db.session.get(DeletionRequest, request_id)
    branch_id = user_branch_id()
    if row is None or (branch_id is not None and row.branch_id != branch_id):
        abort(404)
    return row


def _require(action):
    if not can(current_user, "privacy", action):
        abort(403)


class DeletionRequestForm(DeskForm):
    """Who asked for the client's data to be deleted, how and when."""

    requested_by = EnumSelectField(LABELS["requested_by"], enum_class=Requester,
                                   default=Requester.CLIENT)
    representative = StringField(_l("Name of who asked, when not the client"), filters=[_strip],
                                 validators=[Optional(), Length(max=120)])
    received_via = EnumSelectField(LABELS["received_via"], enum_class=RequestChannel,
                                   default=RequestChannel.IN_PERSON)
    requested_on = DeskDateField(LABELS["requested_on"], validators=[Optional()])


class PrivacyView(SecuredView):
    """Deletion requests (pending first, with what each waits for) and the data export."""

    permission_module = "privacy"

    @expose("/")
    def index(self):
        return self.render("admin/privacy/requests.html",
                           states=privacy.requests(branch_id=user_branch_id()),
                           retention_days=privacy.retention_days(),
                           may_edit=can(current_user, "privacy", EDIT))

    @expose("/new/", methods=("GET", "POST"))
    def new(self):
        """Record a client's deletion request (from their profile)."""
        _require(CREATE)
        client = visible_client(request.args.get("client_id"))
        form = DeletionRequestForm()
        if request.method == "GET" and form.requested_on.data is None:
            form.requested_on.data = clock.branch_today(client.branch_id)
        if form.validate_on_submit():
            try:
                privacy.request_deletion(
                    client.id, requested_by=form.requested_by.data,
                    received_via=form.received_via.data, requested_on=form.requested_on.data,
                    representative=form.representative.data, by_user_id=current_user.id)
            except privacy.PrivacyError as exc:
                field = getattr(form, exc.field or "", None)
                if field is not None:
                    field.errors.append(str(exc.message))
                else:
                    flash(str(exc.message), "error")
            else:
                flash(_("The deletion request is recorded. The client's personal data will be "
                        "removed after %(days)d days, once nothing stands in the way.",
                        days=privacy.retention_days()), "success")
                return redirect(profile_url(client.id))
        return self.render("admin/privacy/new.html", form=form, client=client,
                           retention_days=privacy.retention_days())

    @expose(f"/<{ID_PATH}:request_id>/cancel", methods=("POST",))
    def cancel(self, request_id):
        """Cancel a waiting request: the client changed their mind."""
        _require(EDIT)
        row = _visible_request(request_id)
        try:
            privacy.cancel_request(row.id, reason=request.form.get("reason"),
                                   by_user_id=current_user.id)
        except privacy.PrivacyError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("The deletion request is cancelled; the client's data stays."), "success")
        return redirect(self.get_url(".index"))

    @expose(f"/<{ID_PATH}:request_id>/anonymise", methods=("POST",))
    def anonymise(self, request_id):
        """Carry out a due request now rather than at the nightly run."""
        _require(EDIT)
        row = _visible_request(request_id)
        try:
            privacy.anonymise(row.id, by_user_id=current_user.id)
        except privacy.PrivacyError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("The client's personal data is removed. Invoices, payments and the deposit "
                    "ledger are kept."), "success")
        return redirect(self.get_url(".index"))

    @expose(f"/export/<{ID_PATH}:client_id>")
    def export(self, client_id):
        """Everything held about the client as a ZIP archive (logged as a download)."""
        client = visible_client(client_id)
        try:
            archive = privacy_export.export_client(client.id, by_user_id=current_user.id)
        except privacy.PrivacyError:
            abort(404)
        # Opened, then unlinked: the file is gone from the disk once the response is sent.
        handle = archive.path.open("rb")
        archive.path.unlink()
        response = send_file(handle, mimetype="application/zip", as_attachment=True,
                             download_name=archive.filename)
        response.headers["Cache-Control"] = "private, no-store"
        return response


class ClientConsentsView(ClientPage):
    """A client's consent log: every yes or no to a channel and every terms signature."""

    @expose("/")
    def index(self):
        client = self.requested_client()
        if client is None:
            return redirect(url_for("clients.index_view"))
        timezone_name = clock.branch_timezone(client.branch_id)
        return self.render("admin/privacy/consents.html", client=client,
                           entries=privacy.consent_history(client.id),
                           consents=notifications.consent_of(client),
                           sources=notifications.CONSENT_SOURCES, timezone=timezone_name,
                           when=lambda value: privacy.branch_time(value, timezone_name),
                           profile=profile_url(client.id))


def privacy_request_of(client_id):
    """For the profile: the client's latest deletion request with its state, if the user may see it."""
    if not can(current_user, "privacy", VIEW):
        return None
    return privacy.latest_request(client_id)


def register(admin):
    """Add the Privacy requests page (System menu) and the consent log."""
    admin.add_view(PrivacyView(name=_l("Privacy requests"), category=SYSTEM, endpoint="privacy"))
    admin.add_view(ClientConsentsView(name=_l("Consent log"), endpoint="client_consents"))
    admin.app.add_template_global(privacy_request_of, "privacy_request_of")
