"""Messages to clients on screen: templates with a live preview, the delivery log, costs (SPEC N1–N5).

Every action here goes through app.services.notifications: editing a template
is checked by its placeholder rules, "send again" and "send reminder now" write
and enqueue messages exactly as the jobs do, and a consent change is recorded
with its time, source and the staff member.
"""

from flask import abort
from flask import flash
from flask import jsonify
from flask import redirect
from flask import request
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms import TextAreaField

from admin_views.base import SecuredModelView
from admin_views.base import SecuredView
from admin_views.base import ServiceModelView
from admin_views.base import id_arg
from admin_views.base import local_target
from admin_views.base import parse_id
from admin_views.base import user_branch_id
from admin_views.filters import branch_day_filters
from admin_views.labels import COLUMN_LABELS
from admin_views.menu import MESSAGES
from app.extensions import db
from app.i18n import money
from app.i18n import number
from app.i18n import reads_bengali
from app.models import Campaign
from app.models import Channel
from app.models import Client
from app.models import MessageStatus
from app.models import MessageTemplate
from app.models import Notification
from app.models import Rental
from app.services import campaigns
from app.services import notifications
from app.services.access import CREATE
from app.services.access import EDIT
from app.services.access import can
from app.services.digits import bengali_digits
from app.services.errors import Refusal

LABELS = {
    **COLUMN_LABELS,
    "kind": _l("Message"),
    "body": _l("Message text"),
    "is_active": _l("In use"),
    "recipient": _l("Recipient"),
    "attempts": _l("Attempts"),
    "provider_id": _l("Provider's ID"),
    "cost_poisha": _l("Cost"),
    "error": _l("Reason"),
    "due_at": _l("Due"),
    "sent_at": _l("Sent"),
    "delivered_at": _l("Delivered"),
    "created_at": _l("Written"),
}
RETRYABLE = (MessageStatus.FAILED, MessageStatus.UNCERTAIN, MessageStatus.EXPIRED,
             MessageStatus.CANCELLED)


def _placeholders_help():
    return Markup("<br>").join(Markup("<code>{{ %s }}</code> — %s") % (name, label)
                               for name, label in notifications.PLACEHOLDERS.items())


class MessageTemplateView(ServiceModelView):
    """The words of every message, per kind, channel and language, with a preview."""

    permission_module = "messages"
    allow_create = allow_delete = False  # one per kind × channel × language, shipped
    update_service = staticmethod(notifications.update_template)
    column_labels = LABELS
    column_list = ["kind", "channel", "language", "subject", "is_active", "updated_at"]
    column_filters = ["kind", "channel", "language", "is_active"]
    column_default_sort = [("kind", False), ("channel", False), ("language", False)]
    column_sortable_list = ["kind", "channel", "language", "updated_at"]
    column_details_list = ["kind", "channel", "language", "subject", "body", "whatsapp_name",
                           "is_active", "updated_at"]
    form_columns = ["subject", "body", "whatsapp_name", "is_active"]
    form_overrides = {"body": TextAreaField}
    form_widget_args = {"body": {"rows": 8, "data-template-body": "1"},
                        "subject": {"data-template-subject": "1"}}
    edit_template = "admin/messages/template_edit.html"

    def on_form_prefill(self, form, id):
        model = self.get_one(id)
        if model is not None and model.channel is not Channel.EMAIL:
            del form.subject
        if model is not None and model.channel is not Channel.WHATSAPP:
            del form.whatsapp_name

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None:
            form.body.description = _placeholders_help()
            if obj.channel is not Channel.EMAIL:
                del form.subject
            if obj.channel is not Channel.WHATSAPP:
                del form.whatsapp_name
        return form

    @expose("/preview/", methods=("POST",))
    def preview_view(self):
        """JSON: the draft filled in for one client, with its SMS length and parts."""
        template = db.session.get(MessageTemplate, id_arg("id") or 0)
        if template is None:
            return jsonify(error=_("That template does not exist.")), 404
        client = _client_for_preview(request.form.get("client", ""))
        if client is None:
            return jsonify(error=_("No client with that phone number or ID in your branch.")), 400
        try:
            result = notifications.preview(request.form.get("body", ""),
                                           request.form.get("subject", ""), template.channel,
                                           client.id, template.kind)
        except Refusal as exc:
            return jsonify(error=str(exc.message)), 400
        result["summary"] = _("%(characters)s characters, %(parts)s SMS part(s) (%(encoding)s)",
                              characters=number(result["characters"]),
                              parts=number(result["parts"]), encoding=result["encoding"])
        result["client"] = str(client)
        return jsonify(result)

    endpoint_permissions = {"preview_view": EDIT}


def _client_for_preview(text):
    """The client a preview is for: typed as a phone number or a client ID, in the user's branch."""
    from app.services import clients

    client = None
    client_id = parse_id(text)
    if client_id is not None and len(text.strip()) < 9:
        client = db.session.get(Client, client_id)
    if client is None and text.strip():
        client = clients.find_by_phone(text, branch_id=user_branch_id())
    if client is None or user_branch_id() not in (None, client.branch_id):
        return None
    return client


def _client_column(view, context, model, name):
    return str(model.client) if model.client is not None else ""


def _cost_column(view, context, model, name):
    return money(model.cost_poisha) if model.cost_poisha else ""


class NotificationView(SecuredModelView):
    """Every message written: to whom, on which channel, its words, and what became of it (N4)."""

    permission_module = "messages"
    allow_create = allow_edit = allow_delete = False
    action_permissions = {"retry": CREATE}
    column_labels = LABELS
    column_list = ["created_at", "client", "kind", "channel", "recipient", "status",
                   "attempts", "sent_at", "cost_poisha", "error"]
    column_details_list = ["created_at", "client", "kind", "channel", "language", "recipient",
                           "subject", "body", "status", "due_at", "attempts", "sent_at",
                           "delivered_at", "provider_id", "cost_poisha", "error"]
    column_export_list = ["created_at", "client", "kind", "channel", "language", "recipient",
                          "status", "attempts", "sent_at", "delivered_at", "provider_id",
                          "cost_poisha", "error"]
    column_filters = ["status", "channel", "kind", "client.phone",
                      *branch_day_filters(Notification.created_at, Notification.branch_id,
                                          _l("Written"))]
    column_sortable_list = ["created_at", "status", "channel", "sent_at"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_formatters = {"client": _client_column, "cost_poisha": _cost_column,
                         "attempts": lambda v, c, m, n: number(m.attempts)}
    column_formatters_detail = column_formatters
    column_formatters_export = {"client": _client_column,
                                "cost_poisha": lambda v, c, m, n: m.cost_poisha or ""}
    list_template = "admin/messages/log_list.html"

    @action("retry", _l("Send again"),
            _l("Send each chosen failed, uncertain or expired message again?"))
    def action_retry(self, ids):
        wanted = [row_id for row_id in ids if row_id is not None]
        chosen = self.get_query().filter(Notification.id.in_(wanted)).all()
        sent = 0
        for message in chosen:
            if message.status not in RETRYABLE:
                flash(_("%(message)s is %(status)s and is not sent again.", message=str(message),
                        status=message.status.label), "warning")
                continue
            try:
                notifications.retry(message.id, by_user_id=current_user.id)
            except Refusal as exc:
                flash(str(exc.message), "error")
                continue
            sent += 1
        notifications.enqueue_after_commit()
        if sent:
            flash(_("%(count)s message(s) will be sent again.", count=number(sent)), "success")

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["monthly_costs"] = _monthly_costs()
            kwargs["channels"] = list(Channel)
            kwargs["channels_on"] = [(channel, notifications.channel_on(channel))
                                     for channel in Channel]
        return super().render(template, **kwargs)


def _monthly_costs():
    """Rows for the costs table: month, then (count, cost) per channel, then the month's total."""
    from datetime import date

    from flask_babel import format_date

    rows = []
    for year, month, by_channel in notifications.monthly_costs(branch_id=user_branch_id()):
        cells = [(number(by_channel.get(channel, (0, 0))[0]),
                  money(by_channel.get(channel, (0, 0))[1])) for channel in Channel]
        total = sum(cost for _count, cost in by_channel.values())
        month_name = format_date(date(year, month, 1), "MMMM y")
        rows.append((bengali_digits(month_name) if reads_bengali() else month_name, cells,
                     money(total)))
    return rows


class CampaignView(ServiceModelView):
    """Campaigns: drafted with their audience, previewed with recipients and cost, sent once."""

    permission_module = "messages"
    allow_delete = False  # a campaign sent is history; a draft is simply never sent
    column_labels = LABELS
    column_list = ["name", "channel", "branch", "zone", "status", "recipients", "started_at"]
    column_details_list = ["name", "channel", "branch", "zone", "expiring_within_days",
                           "holders_only", "subject", "body_bn", "body_en", "per_minute",
                           "status", "recipients", "started_at"]
    column_filters = ["status", "channel"]
    column_default_sort = ("created_at", True)
    form_columns = ["name", "channel", "branch", "zone", "expiring_within_days", "holders_only",
                    "subject", "body_bn", "body_en", "per_minute"]
    form_overrides = {"body_bn": TextAreaField, "body_en": TextAreaField}
    form_widget_args = {"body_bn": {"rows": 4}, "body_en": {"rows": 4}}
    details_template = "admin/messages/campaign_details.html"
    endpoint_permissions = {"send_view": EDIT, "cancel_view": EDIT}

    def permission_for(self, action):
        # Drafting and sending to many clients is a manager's decision (messages-edit).
        return f"{self.permission_module}-{EDIT if action in ('create', 'edit') else action}"

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.body_bn.description = form.body_en.description = _placeholders_help()
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form.body_bn.description = form.body_en.description = _placeholders_help()
        return form

    @staticmethod
    def create_service(data, *, by_user_id):
        return campaigns.save_draft(data, by_user_id=by_user_id)

    @staticmethod
    def update_service(record_id, data, *, by_user_id):
        return campaigns.save_draft(data, by_user_id=by_user_id, campaign_id=record_id)

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if template == self.details_template and model is not None:
            kwargs["preview"] = campaigns.preview(model.id)
            kwargs["progress"] = campaigns.progress(model.id)
        return super().render(template, **kwargs)

    def _campaign_action(self, service, done_message):
        campaign = self.get_one(request.args.get("id", ""))
        if campaign is None:
            abort(404)
        try:
            service(campaign.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
        else:
            flash(done_message % {"name": campaign.name}, "success")
            notifications.send_due_quietly()
        return redirect(self.get_url(".details_view", id=campaign.id))

    @expose("/send/", methods=("POST",))
    def send_view(self):
        """Send the drafted campaign now."""
        return self._campaign_action(campaigns.send, _("Campaign %(name)s is being sent."))

    @expose("/cancel/", methods=("POST",))
    def cancel_view(self):
        """Stop the campaign: what has not gone yet never goes."""
        return self._campaign_action(campaigns.cancel, _("Campaign %(name)s was stopped."))


class MessageDeskView(SecuredView):
    """The desk's buttons: send a reminder now, and a client's yes or no to a channel (N3, N5)."""

    permission_module = "messages"

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(self.get_url("notifications.index_view"))

    def _back(self):
        return redirect(local_target(request.form.get("next")) or self.get_url(
            "notifications.index_view"))

    @expose("/remind/", methods=("POST",))
    def remind(self):
        """Send the reminder of one rental (rental_id) or of every locker a client holds now."""
        if not can(current_user, "messages", CREATE):
            abort(403)
        rental_id, client_id = id_arg("rental_id"), id_arg("client_id")
        try:
            if rental_id is not None:
                rental = _in_branch(db.session.get(Rental, rental_id))
                written = notifications.remind_now(rental.id, by_user_id=current_user.id)
            else:
                client = _in_branch(db.session.get(Client, client_id or 0))
                written = notifications.remind_client_now(client.id, by_user_id=current_user.id)
        except Refusal as exc:
            flash(str(exc.message), "error")
            return self._back()
        notifications.enqueue_after_commit()
        channels = ", ".join(sorted({str(message.channel.label) for message in written}))
        flash(_("Reminder on its way (%(channels)s).", channels=channels), "success")
        return self._back()

    @expose("/consent/", methods=("POST",))
    def consent(self):
        """Record a client's yes or no to messages on one channel."""
        if not can(current_user, "clients", EDIT):
            abort(403)
        client = _in_branch(db.session.get(Client, id_arg("client_id") or 0))
        try:
            channel = Channel[request.form.get("channel", "")]
        except KeyError:
            flash(_("Choose a channel."), "error")
            return self._back()
        opted_in = request.form.get("opted_in") == "1"
        notifications.set_consent(client.id, channel, opted_in, source="desk",
                                  by_user_id=current_user.id)
        message = (_("%(client)s now gets messages by %(channel)s.") if opted_in else
                   _("%(client)s gets no more messages by %(channel)s."))
        flash(message % {"client": client.full_name, "channel": channel.label}, "success")
        return self._back()


def _in_branch(record):
    """`record` when it exists in the user's branch; else 404."""
    if record is None or user_branch_id() not in (None, record.branch_id):
        abort(404)
    return record


def register(admin):
    """Add the templates, the delivery log and the desk's message buttons to the admin."""
    admin.add_view(NotificationView(Notification, db, name=_l("Delivery log"), category=MESSAGES,
                                    endpoint="notifications"))
    admin.add_view(MessageTemplateView(MessageTemplate, db, name=_l("Message templates"),
                                       category=MESSAGES, endpoint="message_templates"))
    admin.add_view(CampaignView(Campaign, db, name=_l("Campaigns"), category=MESSAGES,
                                endpoint="campaigns"))
    admin.add_view(MessageDeskView(name=_l("Send messages"), endpoint="messages"))

