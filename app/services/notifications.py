"""Messages to clients: what triggers them, their words, and their delivery (SPEC N1–N4, U6).

A desk action that should tell the client something (a registration, an
assignment, a payment …) records a domain event; in that same transaction
`_on_recorded` writes one Notification row per channel the client can and
wants to be reached on. After the commit the rows are handed to RQ workers
(`deliver`), and a sweeper (`send_due`, every minute) hands out again whatever
is due and not on its way: a message written while Redis was down, one whose
channel had no credentials yet, one waiting out quiet hours or a retry.

Delivering is idempotent on the notification's id. A worker claims the row with
a conditional UPDATE (only one worker can move it from Queued to Sending), sends,
and records the outcome. A worker that dies mid-send leaves the row in Sending;
when its lease runs out the message is tried again only on a channel where the
provider refuses a second copy of the same reference (SSL Wireless's csms_id).
On the others (SMTP, WhatsApp) it may already have gone out, so it becomes
Uncertain and waits for staff (a later WhatsApp status callback settles it).

Reminders and overdue notices are written by `sweep_reminders` from the
schedule in the settings, under a key per rental, expiry, channel and day, so a
second run, or two sweepers at once, write nothing new.
"""

import contextvars
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from jinja2 import StrictUndefined
from jinja2 import TemplateSyntaxError
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from rq import Retry
from sqlalchemy.orm import aliased

from app import integrations
from app.extensions import db
from app.extensions import rq
from app.integrations import email as email_channel
from app.integrations import sms as sms_channel
from app.integrations import whatsapp as whatsapp_channel
from app.models import Branch
from app.models import Campaign
from app.models import Channel
from app.models import Client
from app.models import ClientStatus
from app.models import ConsentChange
from app.models import Invoice
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import Language
from app.models import MessageKind
from app.models import MessageStatus
from app.models import MessageTemplate
from app.models import Notification
from app.models import Payment
from app.models import Rental
from app.models import RentalStatus
from app.models import utcnow
from app.services import audit
from app.services import billing
from app.services import clock
from app.services import events
from app.services import money
from app.services import settings
from app.services.digits import bengali_digits
from app.services.errors import Refusal
from app.services.transactions import desk_action

log = logging.getLogger(__name__)
S = MessageStatus

# The words a template may use, and what each stands for (shown beside the editor).
PLACEHOLDERS = {
    "client_name": _l("The client's name"),
    "locker_number": _l("Locker number"),
    "key_tag": _l("Key tag"),
    "expiry_date": _l("Expiry date of the rental"),
    "amount": _l("Amount: paid (receipt), owed (overdue) or to renew (reminder)"),
    "invoice_number": _l("Invoice number"),
    "receipt_link": _l("Link to the receipt (PDF)"),
    "payment_link": _l("Link to pay what is owed online (empty when no gateway is set up)"),
    "days": _l("Days to expiry, or days overdue"),
    "deadline": _l("Until when a locker is held (waitlist offer)"),
    "gym_name": _l("The gym's name"),
    "gym_address": _l("The gym's address"),
    "gym_hours": _l("Opening hours"),
}
# How a consent change came to be recorded (ConsentChange.source).
CONSENT_SOURCES = {"registration": _l("at registration"), "desk": _l("at the desk"),
                   "client form": _l("in the client's details"), "import": _l("imported")}
# Which domain event tells the client what.
TRIGGERS = {
    events.CLIENT_REGISTERED: MessageKind.WELCOME,
    events.RENTAL_ASSIGNED: MessageKind.ASSIGNMENT,
    events.PAYMENT_RECORDED: MessageKind.RECEIPT,
    events.RENTAL_LAPSED: MessageKind.RESERVATION_LAPSED,
    events.WAITLIST_OFFERED: MessageKind.WAITLIST_OFFER,
    events.RENTAL_ABANDONED: MessageKind.ABANDONED,
}
OPT_IN = {Channel.EMAIL: Client.opt_in_email, Channel.SMS: Client.opt_in_sms,
          Channel.WHATSAPP: Client.opt_in_whatsapp}
CHANNELS = {Channel.EMAIL: email_channel, Channel.SMS: sms_channel,
            Channel.WHATSAPP: whatsapp_channel}
# Channels whose provider refuses a second copy of one reference, so a retry cannot send twice.
IDEMPOTENT_CHANNELS = {Channel.SMS}
FINAL = {S.SENT, S.DELIVERED, S.READ, S.FAILED, S.UNCERTAIN, S.EXPIRED, S.CANCELLED}
# A worker holds a claimed message this long; a claim older than that was cut short.
LEASE = timedelta(minutes=3)
JOB_TIMEOUT = 90
# RQ retries a temporary failure after these pauses; the sweeper catches anything after.
RETRY_PAUSES = (30, 120, 600, 1800)
MAX_ATTEMPTS = 8
# A message enqueued this long ago and still queued is enqueued again (Redis lost it).
REENQUEUE_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 500
RECEIPT_LINK_DAYS = 90
# "Send reminder now" pressed again this soon (a double click, a second tab) sends nothing.
MANUAL_REMINDER_GAP = timedelta(minutes=10)
_silenced = contextvars.ContextVar("notifications_silenced", default=False)


class TemplateError(Refusal):
    """A template that cannot be saved; the message says why."""


class NothingToSend(Refusal):
    """"Send now" found no channel on which the client can be reached."""


# --- templates ---------------------------------------------------------------------------

_sandbox = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_PLAIN_PLACEHOLDER = re.compile(r"{{\s*([a-z_]+)\s*}}")


def check_template(body, channel, subject=""):
    """Refuse a template that does not parse, uses an unknown placeholder, or (WhatsApp) logic."""
    for text in (body or "", subject or ""):
        try:
            parsed = _sandbox.parse(text)
        except TemplateSyntaxError as exc:
            raise TemplateError(_l("The template cannot be read (line %(line)d): %(error)s",
                                   line=exc.lineno, error=exc.message)) from exc
        unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLACEHOLDERS))
        if unknown:
            raise TemplateError(_l("Unknown placeholder: %(names)s. Use only: %(known)s.",
                                   names=", ".join(unknown), known=", ".join(PLACEHOLDERS)))
    if not (body or "").strip():
        raise TemplateError(_l("Write the message."))
    # Filled with sample values, so what the sandbox refuses is refused now, not when sending.
    sample = {name: name for name in PLACEHOLDERS}
    for text in (body, subject or ""):
        render(text, sample)
    if channel is Channel.WHATSAPP and ("{%" in body or "{{" in _PLAIN_PLACEHOLDER.sub("", body)):
        raise TemplateError(_l("A WhatsApp template takes plain placeholders only, such as "
                               "{{ client_name }}: Meta fills them in order."))


@desk_action
def update_template(template_id, data, *, by_user_id):
    """Staff change a template's words (the template editor); refused if it would not render."""
    template = db.session.get(MessageTemplate, template_id, with_for_update=True)
    if template is None:
        raise TemplateError(_l("That template does not exist."))
    body = (data.get("body") or "").strip()
    subject = (data.get("subject") or "").strip() if template.channel is Channel.EMAIL else None
    name = (data.get("whatsapp_name") or "").strip() if template.channel is Channel.WHATSAPP \
        else None
    active = bool(data.get("is_active"))
    try:
        check_template(body, template.channel, subject)
    except TemplateError as exc:
        raise TemplateError(exc.message, field="body") from exc
    if template.channel is Channel.WHATSAPP and active and not name:
        raise TemplateError(_l("Name the WhatsApp template as Meta approved it."),
                            field="whatsapp_name")
    template.body, template.subject, template.is_active = body, subject or None, active
    template.whatsapp_name = name or None
    return template


def whatsapp_parameters(body):
    """The placeholders of a WhatsApp template's body, in the order Meta numbers them."""
    return _PLAIN_PLACEHOLDER.findall(body)


def render(text, context):
    """`text` with the placeholders filled in, in the sandbox."""
    try:
        return _sandbox.from_string(text or "").render(**context).strip()
    except (UndefinedError, SecurityError, TemplateSyntaxError, TypeError, ValueError) as exc:
        raise TemplateError(_l("The template cannot be filled in: %(error)s", error=str(exc))) \
            from exc


def template_for(kind, channel, language):
    """The active template of this kind and channel, in `language` if there is one, else the other."""
    rows = db.session.execute(db.select(MessageTemplate).where(
        MessageTemplate.kind == kind, MessageTemplate.channel == channel,
        MessageTemplate.is_active.is_(True))).scalars().all()
    by_language = {row.language: row for row in rows}
    return by_language.get(language) or next(iter(by_language.values()), None)


def _active_templates():
    """{(kind, channel)} that have an active template, read once per transaction."""
    session = db.session()
    transaction, cached = session.info.get("active_templates", (None, None))
    if cached is None or transaction is not session.get_transaction():
        cached = set(db.session.execute(db.select(MessageTemplate.kind, MessageTemplate.channel)
                                        .where(MessageTemplate.is_active.is_(True))).all())
        # Kept with the transaction it was read in: a later one reads again.
        session.info["active_templates"] = (session.get_transaction(), cached)
    return cached


# --- what the placeholders stand for ------------------------------------------------------

@dataclass
class Facts:
    """What a message is about, loaded once for its placeholders."""

    client: Client
    branch: Branch | None
    rental: Rental | None
    payment: Payment | None
    invoice: Invoice | None
    extra: dict


def _facts(notification):
    rental = db.session.get(Rental, notification.rental_id) if notification.rental_id else None
    payment = db.session.get(Payment, notification.payment_id) if notification.payment_id else None
    invoice = db.session.get(Invoice, notification.invoice_id) if notification.invoice_id else None
    branch = db.session.get(Branch, notification.branch_id) if notification.branch_id else None
    return Facts(client=notification.client, branch=branch, rental=rental, payment=payment,
                 invoice=invoice, extra=notification.facts or {})


def _key_tag(rental):
    return db.session.execute(
        db.select(Key.tag).join(KeyEvent, KeyEvent.key_id == Key.id)
        .where(Key.locker_id == rental.locker_id, KeyEvent.client_id == rental.client_id,
               KeyEvent.kind == KeyEventKind.ISSUED, KeyEvent.at >= rental.starts_at)
        .order_by(KeyEvent.at.desc(), KeyEvent.id.desc()).limit(1)).scalar_one_or_none()


def receipt_token(payment_id):
    """A signed token that opens one payment's receipt without signing in."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="receipt").dumps(
        payment_id)


def payment_of_token(token):
    """The payment id a receipt token opens, or None when it is forged or too old."""
    try:
        return int(URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="receipt").loads(
            token, max_age=RECEIPT_LINK_DAYS * 86400))
    except (BadSignature, TypeError, ValueError):
        return None


def _receipt_link(payment_id):
    # Built by hand: a worker has no request to build a URL from (app.public.receipt).
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    return f"{base}/r/{receipt_token(payment_id)}"


def context(notification, language, *, make_links=True):
    """The placeholders' values for `notification`, written for a reader of `language`.

    With `make_links`, a message about money owed carries a payment link (the
    invoice's current one, or a new one); a preview makes none.
    """
    facts = _facts(notification)
    bengali = language is Language.BENGALI
    branch = facts.branch or facts.client.branch
    timezone = branch.timezone if branch is not None else None
    company = settings.company(branch)

    def digits(text):
        return bengali_digits(str(text)) if bengali else str(text)

    def taka(poisha):
        if notification.channel is Channel.SMS and not bengali:
            # "৳" alone would make an English SMS UCS-2: 70 characters a part instead of 160.
            return f"Tk {money.taka_figure(poisha)}"
        return money.format_taka(poisha, bengali=bengali)

    def day(value):
        return digits(clock.local_day(value, timezone).strftime("%d/%m/%Y")) if value else ""

    values = dict.fromkeys(PLACEHOLDERS, "")
    values.update(client_name=facts.client.full_name, gym_name=company["name"],
                  gym_address=company["address"], gym_hours=digits(settings.get("gym_hours")))
    rental = facts.rental
    if rental is not None:
        values.update(locker_number=rental.locker.number, expiry_date=day(rental.ends_at),
                      key_tag=_key_tag(rental) or "")
        owed = billing.owed_on_locker(rental.locker_id, rental.client_id)
        if notification.kind is MessageKind.REMINDER:
            owed = owed or _renewal_price(rental)
        values["amount"] = taka(owed) if owed else ""
    if facts.payment is not None:
        values["amount"] = taka(facts.payment.amount_poisha)
        values["receipt_link"] = _receipt_link(facts.payment.id)
        facts.invoice = facts.invoice or facts.payment.invoice
    if facts.invoice is not None:
        values["invoice_number"] = facts.invoice.number
        if notification.kind is MessageKind.PAYMENT_LINK:
            values["amount"] = taka(billing.balance(facts.invoice))
    if make_links and notification.kind is not MessageKind.RECEIPT:
        values["payment_link"] = _payment_link(facts)
    if "days" in facts.extra:
        values["days"] = digits(abs(int(facts.extra["days"])))
    if facts.extra.get("deadline"):
        deadline = clock.to_local(datetime.fromisoformat(facts.extra["deadline"]), timezone)
        values["deadline"] = digits(deadline.strftime("%d/%m/%Y %H:%M"))
    return values


def _payment_link(facts):
    """A link to pay the invoice the message is about (or the oldest owed on the rental)."""
    from app.services import online_payments

    invoice = facts.invoice
    if invoice is None and facts.rental is not None:
        owed = billing.open_invoices_on_locker(facts.rental.locker_id, facts.rental.client_id)
        invoice = owed[0] if owed else None
    if invoice is None:
        return ""
    link = online_payments.link_for_message(invoice.id)
    return online_payments.link_url(link) if link is not None else ""


def _renewal_price(rental):
    from app.services import pricing

    try:
        return pricing.quote(rental.locker_id, rental.client_id, rental.term).total_poisha
    except Refusal:
        return 0


def _examples(language):
    """Sample values for placeholders a previewed client has no record for."""
    bengali = language is Language.BENGALI
    soon = clock.today() + timedelta(days=3)

    def digits(text):
        return bengali_digits(text) if bengali else text

    return {"locker_number": "M-014", "key_tag": "K-0142",
            "expiry_date": digits(soon.strftime("%d/%m/%Y")),
            "amount": money.format_taka(80000, bengali=bengali),
            "invoice_number": "INV-2026-000123",
            "receipt_link": current_app.config.get("PUBLIC_URL", "") + "/r/…",
            "payment_link": current_app.config.get("PUBLIC_URL", "") + "/pay/…",
            "days": digits("3"), "deadline": digits(soon.strftime("%d/%m/%Y 18:00"))}


def preview(body, subject, channel, client_id, kind):
    """{"subject", "body", "characters", "parts", "encoding"} of a draft for one client.

    The placeholders are filled from the client's latest rental and payment,
    so staff see the message as that client would get it.
    """
    check_template(body, channel, subject)
    client = db.session.get(Client, client_id)
    if client is None:
        raise TemplateError(_l("Choose a client to preview the message for."))
    rental = db.session.execute(db.select(Rental).where(Rental.client_id == client.id)
                                .order_by(Rental.starts_at.desc()).limit(1)).scalar_one_or_none()
    payment = db.session.execute(db.select(Payment).where(Payment.client_id == client.id)
                                 .order_by(Payment.id.desc()).limit(1)).scalar_one_or_none()
    draft = Notification(kind=kind, channel=channel, client=client, client_id=client.id,
                         branch_id=client.branch_id, rental_id=rental.id if rental else None,
                         payment_id=payment.id if payment else None, facts={"days": 3})
    language = client.preferred_language or Language.BENGALI
    with force_locale(language.value):
        values = context(draft, language, make_links=False)
    # What this client has no record of (no locker yet) is shown by an example, so the
    # draft reads, and is counted, as a real message would.
    for name, example in _examples(language).items():
        values[name] = values[name] or example
    text = render(body, values)
    characters, parts, encoding = sms_channel.segments(text)
    return {"subject": render(subject, values) if subject else "", "body": text,
            "characters": characters, "parts": parts, "encoding": encoding}


# --- who can be reached where -------------------------------------------------------------

def address_of(client, channel):
    """Where `client` gets messages on `channel` ("" when they cannot, or do not want to)."""
    if client.status is ClientStatus.BANNED:
        return ""
    if channel is Channel.EMAIL:
        return client.email or "" if client.opt_in_email else ""
    if channel is Channel.SMS:
        return client.phone if client.opt_in_sms else ""
    return client.phone if client.opt_in_whatsapp else ""


def channels_on():
    """The channels that have their credentials now."""
    return [channel for channel in Channel if channel_on(channel)]


def channel_on(channel):
    """Whether `channel` has the credentials it needs (else its messages wait)."""
    return CHANNELS[channel].configured() is not None


# --- writing notifications in the desk's transaction ---------------------------------------

@contextmanager
def silenced():
    """Within this block no notifications are written (the demo's made-up history)."""
    token = _silenced.set(True)
    try:
        yield
    finally:
        _silenced.reset(token)


_CHECKED_EVENTS = "notifications_checked_events"
_TO_ENQUEUE = "notifications_to_enqueue"


def _on_recorded(row):
    """In the event's transaction: write the notifications it triggers."""
    kind = TRIGGERS.get(row.name)
    if kind is None:
        return
    db.session.flush()
    # on_events() then enqueues a job only for events that wrote a message.
    checked = db.session.info.setdefault(_CHECKED_EVENTS, {})
    checked[row.id] = False
    if row.client_id is None or _silenced.get():
        return
    data = row.data or {}
    if row.name == events.PAYMENT_RECORDED and data.get("method") == "DEPOSIT":
        return  # dues settled from the deposit at key return: the return slip says so
    facts = {"deadline": data["deadline"]} if data.get("deadline") else None
    written = write(kind, row.client_id, branch_id=row.branch_id, rental_id=row.rental_id,
                    invoice_id=data.get("invoice_id"), payment_id=data.get("payment_id"),
                    event_id=row.id, dedupe=f"event:{row.id}", facts=facts)
    checked[row.id] = bool(written)


def write(kind, client_id, *, dedupe, branch_id=None, rental_id=None, invoice_id=None,
          payment_id=None, event_id=None, facts=None, channels=None, quiet=False,
          by_user_id=None):
    """Add one Notification per channel the client is reached on; returns them (unflushed)."""
    client = db.session.get(Client, client_id)
    active = _active_templates()
    written = []
    for channel in channels or Channel:
        if (kind, channel) not in active or not address_of(client, channel):
            continue
        notification = Notification(
            dedupe_key=f"{dedupe}:{channel.value}"[:120], kind=kind, channel=channel,
            language=client.preferred_language or Language.BENGALI,
            branch_id=branch_id or client.branch_id, client_id=client.id, rental_id=rental_id,
            invoice_id=invoice_id, payment_id=payment_id, event_id=event_id, facts=facts,
            respects_quiet_hours=quiet, due_at=after_quiet_hours(utcnow()) if quiet else utcnow(),
            by_user_id=by_user_id)
        db.session.add(notification)
        written.append(notification)
    return written


def after_quiet_hours(moment):
    """`moment`, or the first moment after it that is neither in the quiet hours nor on a holiday.

    A reminder asks the client to come to the desk: on a day the gym is closed
    (settings "holidays") it waits for the end of the quiet hours of the next
    open day, or for midnight when there are no quiet hours.
    """
    closed = settings.holidays()
    hours = settings.quiet_hours()
    local = clock.to_local(moment)
    if local.date() in closed:
        day = local.date()
        while day in closed:
            day += timedelta(days=1)
        opens = (hours[1][0], hours[1][1]) if hours is not None else (0, 0)
        return clock.day_start_utc(day) + timedelta(hours=opens[0], minutes=opens[1])
    if hours is None:
        return moment
    (start_h, start_m), (end_h, end_m) = hours
    start, end, now = time(start_h, start_m), time(end_h, end_m), local.time()
    inside = (start <= now or now < end) if start > end else (start <= now < end)
    if not inside:
        return moment
    end_day = local.date() if now < end else local.date() + timedelta(days=1)
    if end_day in closed:
        return after_quiet_hours(clock.day_start_utc(end_day))
    return clock.day_start_utc(end_day) + timedelta(hours=end_h, minutes=end_m)


# --- handing notifications to the workers ----------------------------------------------------

def _enqueue(ids):
    """Put a delivery job on the notifications queue for each id; raises if Redis is down."""
    from jobs.notifications import deliver_notification

    queue = rq.queue("notifications")
    for notification_id in ids:
        queue.enqueue(deliver_notification, notification_id, job_timeout=JOB_TIMEOUT,
                      retry=Retry(max=len(RETRY_PAUSES), interval=list(RETRY_PAUSES)))
    if ids:
        with db.engine.begin() as connection:
            connection.execute(sa.update(Notification.__table__)
                               .where(Notification.__table__.c.id.in_(ids))
                               .values(enqueued_at=utcnow()))


def on_events(batch):
    """Subscriber of the domain events: have a worker hand out the notifications they wrote.

    It runs as the commit ends, when the session may not query, so it only
    enqueues one job naming the events. Returns False when Redis cannot take
    it; the events are handed out again by their sweeper, and the
    notifications' own sweeper finds the messages too.
    """
    from jobs.notifications import hand_out_for_events

    # An event this session wrote no message for needs no job; one it never saw (the
    # events' sweeper hands out old ones) is handed out to be safe.
    checked = db.session.info.get(_CHECKED_EVENTS, {})
    ids = [event.id for event in batch
           if event.name in TRIGGERS and checked.pop(event.id, True)]
    if not ids:
        return True
    try:
        rq.enqueue(hand_out_for_events, ids, queue="notifications")
    except Exception:  # Redis is down: the sweepers catch up when it is back
        log.warning("Could not enqueue the notifications of %d events; the sweeper will.",
                    len(ids))
        return False
    return True


def hand_out(event_ids):
    """Job: enqueue the delivery of the due notifications the events wrote; returns how many."""
    on = channels_on()
    ids = db.session.execute(db.select(Notification.id).where(
        Notification.event_id.in_(event_ids), Notification.status == S.QUEUED,
        Notification.channel.in_(on), Notification.due_at <= utcnow())).scalars().all()
    db.session.rollback()
    _enqueue(ids)
    return len(ids)


def send_due(now=None):
    """Job (every minute): hand out what is due and not on its way; drop what waited too long.

    Returns how many were enqueued.
    """
    now = now or utcnow()
    expired_before = now - timedelta(hours=settings.get("message_expiry_hours"))
    db.session.execute(sa.update(Notification).where(
        Notification.status == S.QUEUED, Notification.created_at < expired_before)
        .values(status=S.EXPIRED, error="Not sent in time.").execution_options(
            synchronize_session=False))
    db.session.commit()
    on = channels_on()
    if not on:
        return 0
    ids = db.session.execute(db.select(Notification.id).where(
        Notification.channel.in_(on),
        sa.or_(sa.and_(Notification.status == S.QUEUED, Notification.due_at <= now,
                       sa.or_(Notification.enqueued_at.is_(None),
                              Notification.enqueued_at <= now - REENQUEUE_AFTER)),
               sa.and_(Notification.status == S.SENDING,
                       Notification.claimed_at <= now - LEASE,
                       sa.or_(Notification.enqueued_at.is_(None),
                              Notification.enqueued_at <= now - LEASE))))
        .order_by(Notification.due_at).limit(SWEEP_BATCH)).scalars().all()
    db.session.rollback()
    _enqueue(ids)
    return len(ids)


# --- delivering one ---------------------------------------------------------------------------

def reference(notification):
    """Our reference for one message, the same on every attempt (SMS csms_id: ≤ 20 characters).

    The id makes it unique in this database; the creation time keeps it unique
    across databases (a demo reset starts the ids again).
    """
    stamp = int(notification.created_at.timestamp()) % 36**6
    return f"ld{notification.id}x{_base36(stamp)}"


def _base36(number):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def id_of_reference(text):
    """The notification id in one of our references, or None."""
    match = re.fullmatch(r"ld(\d+)x[0-9a-z]+", text or "")
    return int(match.group(1)) if match else None


def _compose(notification):
    """(recipient, subject, body) of a notification, or a reason it cannot go any more."""
    client = notification.client
    recipient = address_of(client, notification.channel)
    if not recipient:
        return None, _l("The client cannot be reached on this channel any more (opted out or "
                        "no address).")
    words = _words(notification)
    if words is None:
        return None, _l("No active template for this message.")
    language, body_template, subject_template = words
    with force_locale(language.value):
        values = context(notification, language)
    try:
        body = render(body_template, values)
        subject = render(subject_template, values) if subject_template else ""
    except TemplateError as exc:
        return None, exc.message
    if notification.channel is Channel.WHATSAPP:
        # Meta fills its approved copy; what we keep is our copy, filled the same way.
        subject = template_for(notification.kind, Channel.WHATSAPP,
                               notification.language).whatsapp_name or ""
    return (recipient, subject, body), None


def _words(notification):
    """(language, body, subject) to fill in: the campaign's, or the kind's template; None if none."""
    if notification.campaign_id is not None:
        campaign = db.session.get(Campaign, notification.campaign_id)
        if notification.language is Language.ENGLISH:
            return Language.ENGLISH, campaign.body_en, campaign.subject
        return Language.BENGALI, campaign.body_bn, campaign.subject
    template = template_for(notification.kind, notification.channel, notification.language)
    if template is None:
        return None
    return template.language, template.body, template.subject


def _claimable(now):
    return sa.or_(sa.and_(Notification.status == S.QUEUED,
                          Notification.due_at <= now + timedelta(seconds=5)),
                  sa.and_(Notification.status == S.SENDING,
                          Notification.claimed_at <= now - LEASE))


def _update(notification_id, where, **values):
    """A conditional UPDATE of one notification, committed; True if this worker made it."""
    result = db.session.execute(sa.update(Notification).where(
        Notification.id == notification_id, where).values(**values).execution_options(
        synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def deliver(notification_id):
    """Job: send one notification if it is due and nobody else is; returns its status name.

    Raises TemporaryFailure (for RQ to retry with back-off) when the provider
    could not take it now.
    """
    now = utcnow()
    notification = db.session.get(Notification, notification_id, populate_existing=True)
    if notification is None or notification.status in FINAL:
        return notification.status.name if notification else None
    channel = notification.channel
    config = CHANNELS[channel].configured()
    if config is None:
        return S.QUEUED.name  # the channel is off: it waits, and the sweeper tries again
    if notification.status is S.SENDING and notification.claimed_at > now - LEASE:
        return S.SENDING.name  # another worker has it
    if notification.status is S.SENDING and channel not in IDEMPOTENT_CHANNELS:
        _update(notification_id, Notification.status == S.SENDING, status=S.UNCERTAIN,
                error="The worker stopped while sending; it may have been sent.")
        return S.UNCERTAIN.name
    if notification.respects_quiet_hours and after_quiet_hours(now) > now:
        _update(notification_id, Notification.status == S.QUEUED, due_at=after_quiet_hours(now))
        return S.QUEUED.name
    content = (notification.recipient, notification.subject, notification.body)
    if notification.body is None:
        content, reason = _compose(notification)
        if content is None:
            _update(notification_id, Notification.status == S.QUEUED, status=S.CANCELLED,
                    error=str(reason)[:255])
            return S.CANCELLED.name
    recipient, subject, body = content
    message = integrations.Message(
        reference=reference(notification), recipient=recipient, body=body, subject=subject,
        language=notification.language.value, **_extras(notification, body))
    if not _update(notification_id, _claimable(now), status=S.SENDING, claimed_at=now,
                   attempts=Notification.attempts + 1, recipient=recipient, subject=subject,
                   body=body):
        return None  # another worker took it first
    try:
        sent = _send(channel, config, message, notification)
    except integrations.AlreadyAccepted:
        sent = integrations.Sent(provider_id=notification.provider_id or "")
    except integrations.TemporaryFailure as exc:
        _retry_later(notification_id, exc.reason)
        raise
    except integrations.PermanentFailure as exc:
        _update(notification_id, Notification.status == S.SENDING, status=S.FAILED,
                error=exc.reason)
        return S.FAILED.name
    _update(notification_id, Notification.status == S.SENDING, status=S.SENT, sent_at=utcnow(),
            provider_id=sent.provider_id or None, error=None,
            cost_poisha=_cost(channel, sent))
    return S.SENT.name


def _send(channel, config, message, notification):
    if channel is Channel.EMAIL:
        company = settings.company(notification.branch)
        return email_channel.send(config, message, sender_name=company["name"])
    return CHANNELS[channel].send(config, message)


def _extras(notification, body):
    """Channel-specific parts: the receipt PDF for email, template and parameters for WhatsApp."""
    if notification.channel is Channel.EMAIL and notification.payment_id:
        from app.services import documents

        return {"attachments": ((documents.receipt_filename(notification.payment_id),
                                 "application/pdf",
                                 documents.receipt_pdf(notification.payment_id)),)}
    if notification.channel is Channel.WHATSAPP:
        template = template_for(notification.kind, Channel.WHATSAPP, notification.language)
        if template is None:
            return {}
        with force_locale(template.language.value):
            values = context(notification, template.language)
        extras = {"template_name": template.whatsapp_name or "",
                  "parameters": tuple(values[name] for name in whatsapp_parameters(template.body))}
        return extras
    return {}


def _cost(channel, sent):
    if channel is Channel.SMS:
        return settings.get("sms_cost_poisha") * max(sent.segments, 1)
    return 0  # WhatsApp bills per delivered message: set from the status callback


def _retry_later(notification_id, reason):
    """A temporary failure: back to Queued after a pause, or Failed after too many attempts."""
    attempts = db.session.execute(db.select(Notification.attempts).where(
        Notification.id == notification_id)).scalar_one()
    if attempts >= MAX_ATTEMPTS:
        _update(notification_id, Notification.status == S.SENDING, status=S.FAILED,
                error=reason)
        return
    pause = RETRY_PAUSES[min(attempts - 1, len(RETRY_PAUSES) - 1)]
    _update(notification_id, Notification.status == S.SENDING, status=S.QUEUED, error=reason,
            due_at=utcnow() + timedelta(seconds=pause), enqueued_at=utcnow())


# --- provider callbacks ------------------------------------------------------------------------

_STATUS_OF = {"sent": S.SENT, "delivered": S.DELIVERED, "read": S.READ, "failed": S.FAILED}
_RANK = {S.QUEUED: 0, S.SENDING: 0, S.UNCERTAIN: 0, S.SENT: 1, S.DELIVERED: 2, S.READ: 3}


def whatsapp_statuses(updates):
    """Apply WhatsApp status callbacks; a late or repeated one never moves a message back."""
    for update in updates:
        notification = None
        if update.wamid:
            notification = db.session.execute(db.select(Notification).where(
                Notification.provider_id == update.wamid)).scalar_one_or_none()
        if notification is None and id_of_reference(update.reference):
            notification = db.session.get(Notification, id_of_reference(update.reference))
        if notification is None or notification.channel is not Channel.WHATSAPP:
            continue
        status = _STATUS_OF[update.status]
        current = notification.status
        if status is S.FAILED:
            if _RANK.get(current, 9) >= 2 or current is S.FAILED:
                continue
            notification.error = update.error or "WhatsApp: failed"
        elif _RANK.get(current, 9) >= _RANK[status]:
            continue
        notification.status = status
        notification.provider_id = notification.provider_id or update.wamid
        moment = datetime.utcfromtimestamp(update.timestamp) if update.timestamp else utcnow()
        if status in (S.SENT, S.DELIVERED, S.READ) and notification.sent_at is None:
            notification.sent_at = moment
        if status in (S.DELIVERED, S.READ) and notification.delivered_at is None:
            notification.delivered_at = moment
        if update.billable and status is S.DELIVERED:
            notification.cost_poisha = settings.get("whatsapp_cost_poisha")
    db.session.commit()


# --- staff actions -----------------------------------------------------------------------------

@desk_action
def retry(notification_id, *, by_user_id):
    """Staff send a failed, uncertain or expired message again (as a new attempt of the same one)."""
    notification = db.session.get(Notification, notification_id, with_for_update=True)
    if notification is None:
        raise Refusal(_l("That message does not exist."))
    if notification.status not in (S.FAILED, S.UNCERTAIN, S.EXPIRED, S.CANCELLED):
        raise Refusal(_l("Only a failed, uncertain, expired or cancelled message can be sent "
                         "again (this one is %(status)s).", status=notification.status.label))
    notification.status = S.QUEUED
    notification.due_at = utcnow()
    notification.enqueued_at = None
    notification.created_at = utcnow()  # a fresh reference: the provider must take it anew
    notification.error = None
    notification.body = None  # written again from the template and today's facts
    audit.record(audit.ActivityAction.UPDATE, model="Notification", object_id=notification.id,
                 summary=f"message sent again: {notification}")
    enqueue_later([notification])
    return notification


@desk_action
def remind_now(rental_id, *, by_user_id):
    """Staff send the rental's reminder (or overdue notice) now, on every channel the client allows."""
    # Locked: a second press (a double click, another tab) waits, then sees the first.
    rental = db.session.get(Rental, rental_id, with_for_update=True)
    if rental is None:
        raise Refusal(_l("That rental does not exist."))
    now = utcnow()
    overdue = rental.ends_at <= now
    days = (now - rental.ends_at).days if overdue else (rental.ends_at - now).days
    written = write(MessageKind.OVERDUE if overdue else MessageKind.REMINDER, rental.client_id,
                    branch_id=rental.branch_id, rental_id=rental.id,
                    dedupe=f"manual:{rental.id}:{now:%Y%m%d%H%M%S%f}", facts={"days": days},
                    by_user_id=by_user_id)
    if not written:
        raise NothingToSend(_l("%(client)s cannot be reached on any channel (no address, opted "
                               "out, or no template).", client=rental.client.full_name))
    with db.session.no_autoflush:  # the ones just written are not "recent" yet
        recent = db.session.execute(db.select(Notification.created_at).where(
            Notification.rental_id == rental.id, Notification.dedupe_key.startswith("manual:"),
            Notification.created_at > now - MANUAL_REMINDER_GAP)
            .order_by(Notification.created_at.desc()).limit(1)).scalar_one_or_none()
    if recent is not None:
        raise NothingToSend(_l("A reminder for locker %(number)s was sent %(minutes)d minute(s) "
                               "ago; it is not sent twice.", number=rental.locker.number,
                               minutes=int((now - recent).total_seconds() // 60)))
    db.session.flush()
    audit.record(audit.ActivityAction.CREATE, model="Notification", object_id=rental.id,
                 summary=f"reminder sent now for rental {rental.id} ({len(written)} message(s))")
    enqueue_later(written)
    return written


def remind_client_now(client_id, *, by_user_id):
    """Staff send a reminder now for every locker the client holds; returns the messages."""
    rental_ids = db.session.execute(db.select(Rental.id).where(
        Rental.client_id == client_id,
        Rental.status.in_((RentalStatus.ACTIVE, RentalStatus.EXPIRED)))).scalars().all()
    if not rental_ids:
        raise NothingToSend(_l("This client holds no locker to be reminded of."))
    return [message for rental_id in rental_ids
            for message in remind_now(rental_id, by_user_id=by_user_id)]


def send_due_quietly():
    """send_due() from a screen: with Redis down the sweeper does it later, the desk goes on."""
    try:
        return send_due()
    except Exception:
        log.warning("Could not hand out due notifications now; the sweeper will.")
        db.session.rollback()
        return 0


def enqueue_later(written):
    """Mark staff-made messages (flushed) for enqueue_after_commit(), which the screen calls."""
    db.session.info.setdefault(_TO_ENQUEUE, []).extend(message.id for message in written)


def enqueue_after_commit():
    """Hand staff-made notifications to the workers (the sweeper does it if Redis is down)."""
    ids = db.session.info.pop(_TO_ENQUEUE, [])
    on = channels_on()
    ids = db.session.execute(db.select(Notification.id).where(
        Notification.id.in_(ids), Notification.channel.in_(on))).scalars().all() if ids else []
    try:
        _enqueue(ids)
    except Exception:
        log.warning("Could not enqueue %d notifications; the sweeper will.", len(ids))


@desk_action
def set_consent(client_id, channel, opted_in, *, source, by_user_id):
    """Record a client's yes or no to messages on `channel`, with when, how and who (SPEC N5)."""
    client = db.session.get(Client, client_id, with_for_update=True)
    if client is None:
        raise Refusal(_l("That client does not exist."))
    column = OPT_IN[channel].key
    if getattr(client, column) == opted_in:
        return client
    setattr(client, column, opted_in)
    db.session.add(ConsentChange(client_id=client.id, channel=channel, opted_in=opted_in,
                                 source=source, changed_by_id=by_user_id))
    if not opted_in:
        # Never message someone who said no, even what was already waiting.
        db.session.execute(sa.update(Notification).where(
            Notification.client_id == client.id, Notification.channel == channel,
            Notification.status == S.QUEUED).values(
            status=S.CANCELLED, error="The client opted out.").execution_options(
            synchronize_session=False))
    return client


def record_consent(client, *, source, by_user_id):
    """Log the client's current yes or no on every channel (at registration or import)."""
    for channel in Channel:
        db.session.add(ConsentChange(client_id=client.id, channel=channel,
                                     opted_in=bool(getattr(client, OPT_IN[channel].key)),
                                     source=source, changed_by_id=by_user_id))


# --- reminders --------------------------------------------------------------------------------

def reminder_rules():
    """[(Channel, days from expiry)] from the settings: the schedule, then the overdue notices."""
    rules = [(Channel(channel), offset) for channel, offset
             in settings.parse_reminder_schedule(settings.get("reminder_schedule")) or ()]
    for days in settings.parse_day_list(settings.get("overdue_notice_days")) or ():
        rules.extend((channel, days) for channel in Channel)
    return rules


def sweep_reminders(now=None):
    """Job: write the reminders and overdue notices due today; returns how many were written.

    A rule "sms -3" picks rentals whose term ends three days from today (in the
    branch's timezone) — or ended in the day before that, so a day the sweep did
    not run is caught up. Each message's key names the rental, its expiry, the
    channel and the day, and is inserted with the database's "ignore duplicates",
    so running twice, or two sweepers at once, writes each once.
    """
    now = now or utcnow()
    written = 0
    active = _active_templates()
    db.session.rollback()
    for branch_id, timezone in db.session.execute(db.select(Branch.id, Branch.timezone)).all():
        today = clock.today(timezone)
        for channel, offset in reminder_rules():
            kind = MessageKind.OVERDUE if offset > 0 else MessageKind.REMINDER
            if (kind, channel) not in active:
                continue
            ends_on = today - timedelta(days=offset)
            start = clock.day_start_utc(ends_on - timedelta(days=1), timezone)
            end = clock.day_start_utc(ends_on + timedelta(days=1), timezone)
            written += _write_reminders(branch_id, channel, offset, kind, start, end, now)
    db.session.info.pop("active_templates", None)
    return written


def _write_reminders(branch_id, channel, offset, kind, start, end, now):
    renewal = aliased(Rental)
    renewed = (sa.select(renewal.id).where(renewal.renewed_from_id == Rental.id,
                                           renewal.status != RentalStatus.CANCELLED)
               .correlate(Rental).exists())
    address = Client.email if channel is Channel.EMAIL else Client.phone
    rows = db.session.execute(
        db.select(Rental.id, Rental.client_id, Rental.ends_at, Client.preferred_language)
        .join(Client, Client.id == Rental.client_id)
        .where(Rental.branch_id == branch_id,
               Rental.status.in_((RentalStatus.ACTIVE, RentalStatus.EXPIRED)),
               Rental.ends_at >= start, Rental.ends_at < end,
               OPT_IN[channel].is_(True), address.is_not(None), address != "",
               Client.status == ClientStatus.ACTIVE, ~renewed)).all()
    db.session.rollback()
    if not rows:
        return 0
    due = after_quiet_hours(now)
    values = [{"dedupe_key": f"remind:{rental_id}:{ends_at:%Y%m%d}:{channel.value}:{offset}",
               "kind": kind.name, "channel": channel.name,
               "language": (language or Language.BENGALI).name, "branch_id": branch_id,
               "client_id": client_id, "rental_id": rental_id, "facts": {"days": offset},
               "respects_quiet_hours": True, "status": S.QUEUED.name, "due_at": due,
               "created_at": now, "attempts": 0}
              for rental_id, client_id, ends_at, language in rows]
    return insert_ignoring_duplicates(values)


def insert_ignoring_duplicates(values, commit=True):
    """Insert notification rows, skipping any whose dedupe_key exists; returns how many went in."""
    table = Notification.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        statement = table.insert().prefix_with("IGNORE")
    inserted = 0
    for start in range(0, len(values), 1000):
        chunk = values[start:start + 1000]
        if dialect == "postgresql":
            # psycopg reports no row count for a batch; the ids of the rows it inserted tell.
            inserted += len(db.session.execute(statement.returning(table.c.id), chunk).all())
        else:
            inserted += db.session.execute(statement, chunk).rowcount
    if commit:
        db.session.commit()
    return inserted


# --- delivery log figures -------------------------------------------------------------------------

def monthly_costs(months=12, branch_id=None):
    """[(year, month, {Channel: (messages sent, cost in poisha)})], newest first."""
    since = utcnow() - timedelta(days=31 * months)
    year = sa.extract("year", Notification.sent_at)
    month = sa.extract("month", Notification.sent_at)
    query = (db.select(year, month, Notification.channel, sa.func.count(),
                       sa.func.coalesce(sa.func.sum(Notification.cost_poisha), 0))
             .where(Notification.sent_at >= since)
             .group_by(year, month, Notification.channel).order_by(year.desc(), month.desc()))
    if branch_id is not None:
        query = query.where(Notification.branch_id == branch_id)
    table = {}
    for y, m, channel, count, cost in db.session.execute(query).all():
        table.setdefault((int(y), int(m)), {})[channel] = (int(count), int(cost))
    return [(y, m, row) for (y, m), row in table.items()]


def install_listeners():
    """Write notifications with their events, and hand them out after commit; safe to call again."""
    events.in_transaction(_on_recorded)
    events.subscribe(on_events, names=set(TRIGGERS))


# --- what the profile shows ---------------------------------------------------------------------

def consent_of(client):
    """[(Channel, opted in?, its latest ConsentChange or None)] for one client (SPEC N5)."""
    latest = {}
    for change in db.session.execute(db.select(ConsentChange).where(
            ConsentChange.client_id == client.id).order_by(ConsentChange.changed_at,
                                                           ConsentChange.id)).scalars():
        latest[change.channel] = change
    return [(channel, bool(getattr(client, OPT_IN[channel].key)), latest.get(channel))
            for channel in Channel]


def recent_for(client_id, limit=10):
    """The client's latest messages, newest first."""
    return db.session.execute(db.select(Notification).where(Notification.client_id == client_id)
                              .order_by(Notification.id.desc()).limit(limit)).scalars().all()
