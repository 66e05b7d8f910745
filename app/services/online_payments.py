"""Clients pay an invoice online through a link: bKash (SSLCommerz and Nagad follow), SPEC P4.

The desk makes a payment link (signed, expiring, paying once) and sends it or
shows its QR code. The client opens it, picks a gateway and pays on the
gateway's own page. Each attempt is a row of the gateway ledger
(GatewayTransaction). Nothing the client's browser says is believed: money is
credited only when the gateway's own API says the payment completed, for the
amount and currency of the attempt, and at most once, since the gateway's
transaction id is unique per gateway in the database and credit() works
under the invoice's lock. An attempt the gateway has not settled is asked
again by the verification job (jobs/payments.py) with back-off until it settles or
expires.
"""

import logging
import secrets
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from app.extensions import db
from app.extensions import rq
from app.integrations import bkash
from app.integrations import gateways
from app.integrations import nagad
from app.integrations import sslcommerz
from app.integrations.gateways import Customer
from app.integrations.gateways import Refused
from app.integrations.gateways import Unreachable
from app.integrations.gateways import poisha
from app.integrations.gateways import redact
from app.integrations.gateways import taka
from app.models import Gateway
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import MessageKind
from app.models import Notification
from app.models import Payment
from app.models import PaymentLink
from app.models import PaymentMethod
from app.models import utcnow
from app.models.gateways import NOT_OWED
from app.models.gateways import PAID_MEANWHILE
from app.models.gateways import UNSETTLED
from app.services import billing
from app.services import locking
from app.services import notifications
from app.services import settings
from app.services.errors import Refusal
from app.services.transactions import desk_action

log = logging.getLogger(__name__)

LINK_SALT = "payment-link"
METHOD_OF = {Gateway.BKASH: PaymentMethod.BKASH, Gateway.NAGAD: PaymentMethod.NAGAD,
             Gateway.SSLCOMMERZ: PaymentMethod.SSLCOMMERZ}
# Each gateway's protocol client module, in the order clients see them on the payment page.
INTEGRATIONS = {Gateway.BKASH: bkash, Gateway.NAGAD: nagad, Gateway.SSLCOMMERZ: sslcommerz}
# How long after starting an attempt the gateway is first asked, then the gaps after that.
CHECK_BACKOFF = (timedelta(minutes=2), timedelta(minutes=5), timedelta(minutes=15),
                 timedelta(hours=1), timedelta(hours=6))
# An attempt still unsettled this long after it started is given up as expired.
GIVE_UP_AFTER = timedelta(days=2)
# A gateway's verdict → the ledger's state (COMPLETED goes through credit()).
VERDICT_STATES = {gateways.FAILED: GatewayStatus.FAILED, gateways.CANCELLED: GatewayStatus.CANCELLED,
                  gateways.EXPIRED: GatewayStatus.EXPIRED}


class PaymentError(Refusal):
    """An online payment cannot go ahead; `message` is shown to the client or staff."""


# --- payment links ---------------------------------------------------------------------

@desk_action
def create_link(invoice_id, *, by_user_id):
    """A new link that pays what is open on the invoice; commits and returns it."""
    invoice = locking.lock_invoice(invoice_id)
    _check_payable(invoice)
    link = PaymentLink(invoice_id=invoice.id, nonce=secrets.token_hex(16),
                       expires_at=utcnow() + timedelta(hours=settings.get("payment_link_hours")),
                       created_by_id=by_user_id)
    db.session.add(link)
    return link


def link_for_message(invoice_id):
    """A link for a message to carry: the invoice's current one if it lasts another day,
    else a new one; None when no gateway is offered or nothing is owed."""
    if not gateways_on_offer():
        return None
    link = current_link(invoice_id)
    if link is not None and link.expires_at > utcnow() + timedelta(days=1):
        return link
    try:
        return create_link(invoice_id, by_user_id=None)
    except PaymentError:
        return None


# A second press of "Send the link" within this long is refused (a double click, two tabs).
SEND_LINK_GAP = timedelta(minutes=10)


@desk_action
def send_link(invoice_id, *, by_user_id):
    """Send the client the invoice's payment link on every channel they allow; returns the messages.

    The messages are written here and handed to the workers after the commit
    (notifications.enqueue_after_commit); their words come from the "Payment
    link" templates, where {{ payment_link }} is the invoice's link that still works.
    """
    invoice = locking.lock_invoice(invoice_id)
    _check_payable(invoice)
    if not gateways_on_offer():
        raise PaymentError(_l("No payment gateway is set up; an administrator enters one in the "
                              "settings."))
    now = utcnow()
    # By the client's (indexed) messages: a chain's outbox holds millions.
    recent = db.session.execute(sa.select(Notification.created_at).where(
        Notification.client_id == invoice.client_id, Notification.invoice_id == invoice.id,
        Notification.kind == MessageKind.PAYMENT_LINK,
        Notification.created_at > now - SEND_LINK_GAP).limit(1)).scalar_one_or_none()
    if recent is not None:
        raise PaymentError(_l("The payment link of %(number)s was sent %(minutes)d minute(s) ago; "
                              "it is not sent twice.", number=invoice.number,
                              minutes=int((now - recent).total_seconds() // 60)))
    written = notifications.write(MessageKind.PAYMENT_LINK, invoice.client_id,
                                  branch_id=invoice.branch_id, rental_id=invoice.rental_id,
                                  invoice_id=invoice.id, by_user_id=by_user_id,
                                  dedupe=f"payment-link:{invoice.id}:{now:%Y%m%d%H%M%S%f}")
    if not written:
        raise PaymentError(_l("%(client)s cannot be reached on any channel (no address, opted "
                              "out, or no template).", client=invoice.client.full_name))
    db.session.flush()
    notifications.enqueue_later(written)
    return written


def _check_payable(invoice):
    if invoice.cancelled_at is not None:
        raise PaymentError(_l("Invoice %(number)s is cancelled; it cannot be paid.",
                              number=invoice.number))
    if billing.balance(invoice) <= 0:
        raise PaymentError(_l("Invoice %(number)s is paid; nothing is owed on it.",
                              number=invoice.number))


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def link_token(link):
    """The signed token in the link's address: the link's id and nonce."""
    return _serializer().dumps([link.id, link.nonce])


def link_url(link):
    """The link's full address (built by hand: a worker writing a message has no request)."""
    base = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    return f"{base}/pay/{link_token(link)}"


def current_link(invoice_id):
    """The newest link of the invoice that still works, or None."""
    return db.session.execute(
        sa.select(PaymentLink).where(PaymentLink.invoice_id == invoice_id,
                                     PaymentLink.used_at.is_(None),
                                     PaymentLink.expires_at > utcnow())
        .order_by(PaymentLink.id.desc()).limit(1)).scalar_one_or_none()


def open_link(token):
    """The link a token opens, refused when forged, expired, used, or nothing is owed."""
    try:
        link_id, nonce = _serializer().loads(token)
    except (BadSignature, TypeError, ValueError) as exc:
        raise PaymentError(_l("This payment link is not valid.")) from exc
    link = db.session.get(PaymentLink, link_id)
    if link is None or not secrets.compare_digest(link.nonce, str(nonce)):
        raise PaymentError(_l("This payment link is not valid."))
    if link.used_at is not None:
        raise PaymentError(_l("This payment link was already used to pay."))
    if link.expires_at <= utcnow():
        raise PaymentError(_l("This payment link has expired; ask the gym for a new one."))
    _check_payable(link.invoice)
    return link


def gateways_on_offer():
    """The gateways whose merchant settings are complete, in the order clients see them."""
    return [gateway for gateway, module in INTEGRATIONS.items() if module.configured() is not None]


def _client(gateway):
    """The protocol client of `gateway` with the merchant's settings (refused when it is off)."""
    config = INTEGRATIONS[gateway].configured()
    if config is None:
        raise PaymentError(_l("This way of paying is not offered."))
    if gateway is Gateway.BKASH:
        try:
            connection = rq.connection  # the token is shared by every process through Redis
        except Exception:
            connection = None
        return bkash.BkashClient(config, redis=connection)
    if gateway is Gateway.NAGAD:
        return nagad.NagadClient(config)
    return sslcommerz.SslCommerzClient(config)


# --- starting an attempt ---------------------------------------------------------------

def _new_reference():
    # 20 letters and digits: fits SSLCommerz's tran_id (30) and Nagad's orderId; unique by
    # the database, and not guessable from another attempt's.
    return "LD" + secrets.token_hex(9).upper()


@desk_action
def _open_attempt(token, gateway):
    link = open_link(token)
    invoice = locking.lock_invoice(link.invoice_id)
    _check_payable(invoice)
    attempt = GatewayTransaction(
        gateway=gateway, status=GatewayStatus.STARTED, link_id=link.id, invoice_id=invoice.id,
        branch_id=invoice.branch_id, client_id=invoice.client_id, reference=_new_reference(),
        amount_poisha=billing.balance(invoice), currency="BDT", exchanges=[],
        next_check_at=utcnow() + CHECK_BACKOFF[0])
    db.session.add(attempt)
    return attempt


def start(token, gateway, *, return_url, notify_url, client_ip="127.0.0.1"):
    """Open a payment on `gateway` for what the link's invoice owes; returns the gateway's page.

    The ledger row is committed before the gateway is called, so an attempt the
    gateway opened is never unknown to us. The gateway sends the client's
    browser back to `return_url` and tells the server at `notify_url` (IPN).
    """
    if gateway not in gateways_on_offer():
        raise PaymentError(_l("This way of paying is not offered."))
    attempt = _open_attempt(token, gateway)
    client = _client(gateway)
    company = settings.company(attempt.branch)
    customer = Customer(name=attempt.client.full_name, phone=attempt.client.phone or "",
                        email=attempt.client.email or "", address=company["address"],
                        ip=client_ip)
    try:
        gateway_reference, page = client.start(
            reference=attempt.reference, amount=taka(attempt.amount_poisha),
            return_url=return_url, notify_url=notify_url, customer=customer)
    except (Refused, Unreachable) as exc:
        _record(attempt.id, client.exchanges, status=GatewayStatus.FAILED, error=exc.reason,
                next_check_at=None)
        raise PaymentError(_l("%(gateway)s could not start the payment. Try again in a moment, "
                              "or pay at the desk.", gateway=gateway.label)) from exc
    _record(attempt.id, client.exchanges, gateway_reference=str(gateway_reference)[:120])
    return page


@desk_action
def _record(attempt_id, exchanges, *, by_user_id=None, **changes):
    """Add the calls made to the attempt's ledger row, with any changes of its state."""
    attempt = db.session.get(GatewayTransaction, attempt_id, with_for_update=True,
                             populate_existing=True)
    attempt.exchanges = [*(attempt.exchanges or []), *exchanges]
    for name, value in changes.items():
        setattr(attempt, name, value)
    return attempt


# --- settling an attempt ---------------------------------------------------------------

def attempt_by_gateway_reference(gateway, gateway_reference):
    """The attempt the gateway knows as `gateway_reference`, or None."""
    if not gateway_reference:
        return None
    return db.session.execute(sa.select(GatewayTransaction).where(
        GatewayTransaction.gateway == gateway,
        GatewayTransaction.gateway_reference == str(gateway_reference)[:120])).scalar_one_or_none()


def attempt_by_reference(gateway, reference):
    """The attempt of ours named `reference` (SSLCommerz's tran_id), or None."""
    if not reference:
        return None
    return db.session.execute(sa.select(GatewayTransaction).where(
        GatewayTransaction.gateway == gateway,
        GatewayTransaction.reference == str(reference)[:30])).scalar_one_or_none()


def nagad_returned(payment_ref_id):
    """The client's browser came back from Nagad: only Nagad's verify says what happened."""
    attempt = attempt_by_gateway_reference(Gateway.NAGAD, payment_ref_id)
    if attempt is None:
        raise PaymentError(_l("This payment is not known."))
    settle(attempt.id)
    return _fresh(attempt.id)


def bkash_returned(payment_id, status):
    """The client's browser came back from bKash: settle the attempt with bKash itself.

    `status` is only a hint: "success" lets us execute (once, whoever asks
    first); anything else, or a second arrival, only queries.
    """
    attempt = attempt_by_gateway_reference(Gateway.BKASH, payment_id)
    if attempt is None:
        raise PaymentError(_l("This payment is not known."))
    settle(attempt.id, may_execute=(status == "success"))
    return _fresh(attempt.id)


def sslcommerz_notified(fields):
    """SSLCommerz posted a payment's outcome (the IPN, or the client's browser coming back).

    A post without SSLCommerz's valid signature is refused and logged, and changes
    nothing. A signed one is still only a hint: the Validation API decides.
    """
    attempt = attempt_by_reference(Gateway.SSLCOMMERZ, fields.get("tran_id"))
    if attempt is None:
        raise PaymentError(_l("This payment is not known."))
    client = _client(Gateway.SSLCOMMERZ)
    if not client.signature_valid(fields):
        log.warning("SSLCommerz callback for %s refused: bad or missing signature",
                    attempt.reference)
        _record(attempt.id, [{"at": time.time(), "call": "callback refused: signature",
                              "got": redact(dict(fields))}])
        raise PaymentError(_l("This payment could not be confirmed."))
    settle(attempt.id, hint=fields.get("val_id") or None)
    return _fresh(attempt.id)


def _fresh(attempt_id):
    db.session.expire_all()
    return db.session.get(GatewayTransaction, attempt_id)


@desk_action
def _claim_execution(attempt_id, *, by_user_id=None):
    """Move the attempt from Started to Pending; True for the one caller that may execute it.

    Under the invoice's lock, so of two attempts on one invoice (two tabs, two
    phones) only one is executed at a time, and none once the invoice no longer
    owes the amount: bKash takes the money only at execute, so nothing is taken
    twice. A refused attempt is cancelled with the reason.
    """
    invoice_id = db.session.execute(sa.select(GatewayTransaction.invoice_id).where(
        GatewayTransaction.id == attempt_id)).scalar_one()
    invoice = locking.lock_invoice(invoice_id)
    attempt = db.session.get(GatewayTransaction, attempt_id, with_for_update=True,
                             populate_existing=True)
    if attempt.status is not GatewayStatus.STARTED:
        return False
    if invoice.cancelled_at is not None or billing.balance(invoice) < attempt.amount_poisha:
        attempt.status, attempt.next_check_at = GatewayStatus.CANCELLED, None
        attempt.error = PAID_MEANWHILE
        return False
    busy = db.session.execute(sa.select(GatewayTransaction.id).where(
        GatewayTransaction.invoice_id == invoice.id, GatewayTransaction.id != attempt.id,
        GatewayTransaction.status == GatewayStatus.PENDING,
        GatewayTransaction.gateway == attempt.gateway)).first()
    if busy is not None:
        return False  # another attempt is being executed: asked again later, never both
    attempt.status = GatewayStatus.PENDING
    return True


def settle(attempt_id, *, may_execute=False, hint=None, by_user_id=None):
    """Bring one attempt as far as the gateway's own word allows; returns its status.

    For a gateway that executes (bKash), with `may_execute` the one caller that
    moves the attempt from Started to Pending asks it to execute; every other
    caller (a replayed callback, the job, Check now) only asks where it stands.
    An execute that errs or times out is followed by a query, never by a second
    execute. `hint` is what the gateway gave to look the payment up by (a val_id).
    `by_user_id` is the staff member who asked (Check now), for the activity log.
    """
    attempt = db.session.get(GatewayTransaction, attempt_id, populate_existing=True)
    if attempt is None or attempt.status not in UNSETTLED:
        return attempt.status if attempt is not None else None
    client = _client(attempt.gateway)
    verdict = None
    if client.executes and may_execute:
        if _claim_execution(attempt.id, by_user_id=by_user_id):
            try:
                verdict = client.execute_payment(attempt.gateway_reference)
            except Refused as exc:
                # The gateway refused to take the money (insufficient balance, a blocked wallet…).
                _record(attempt.id, client.exchanges, status=GatewayStatus.FAILED,
                        error=exc.reason, next_check_at=None, by_user_id=by_user_id)
                return GatewayStatus.FAILED
            except Unreachable as exc:
                log.warning("%s execute of %s: %s; asking with a query", attempt.gateway.name,
                            attempt.reference, exc)
        else:
            status = _fresh(attempt.id).status
            if status not in UNSETTLED:
                return status  # not executed: the invoice was paid meanwhile
    if verdict is None:
        try:
            verdict = client.verdict(reference=attempt.reference,
                                     gateway_reference=attempt.gateway_reference, hint=hint)
        except (Refused, Unreachable) as exc:
            _reschedule(attempt.id, client.exchanges, exc.reason, by_user_id=by_user_id)
            return GatewayStatus.PENDING
    if verdict.state == gateways.COMPLETED:
        return credit(attempt.id, transaction_id=verdict.transaction_id, amount=verdict.amount,
                      currency=verdict.currency, reference=verdict.reference,
                      exchanges=client.exchanges, by_user_id=by_user_id)
    if verdict.state in VERDICT_STATES:
        _record(attempt.id, client.exchanges, status=VERDICT_STATES[verdict.state],
                next_check_at=None, error=verdict.reason[:255] or None, by_user_id=by_user_id)
        return VERDICT_STATES[verdict.state]
    _reschedule(attempt.id, client.exchanges, None, by_user_id=by_user_id)
    return _fresh(attempt.id).status


def _reschedule(attempt_id, exchanges, error, *, by_user_id=None):
    attempt = db.session.get(GatewayTransaction, attempt_id, populate_existing=True)
    if utcnow() - attempt.created_at > GIVE_UP_AFTER:
        _record(attempt_id, exchanges, status=GatewayStatus.EXPIRED, next_check_at=None,
                error=error or "never settled", by_user_id=by_user_id)
        return
    gap = CHECK_BACKOFF[min(attempt.checks, len(CHECK_BACKOFF) - 1)]
    _record(attempt_id, exchanges, checks=attempt.checks + 1, next_check_at=utcnow() + gap,
            error=error, by_user_id=by_user_id)


@desk_action
def credit(attempt_id, *, transaction_id, amount, currency, reference, exchanges=(),
           by_user_id=None):
    """Credit a completed attempt to its invoice, once; returns the attempt's status.

    The gateway's answer must name this attempt (`reference`), its amount and
    currency; otherwise nothing is credited and the attempt is marked failed for
    staff to look at. Under the invoice's lock, an attempt already credited is
    left alone, and the database refuses a second attempt with the same
    gateway transaction id.
    """
    invoice = locking.lock_invoice(db.session.execute(
        sa.select(GatewayTransaction.invoice_id).where(GatewayTransaction.id == attempt_id)
    ).scalar_one())
    attempt = db.session.get(GatewayTransaction, attempt_id, with_for_update=True,
                             populate_existing=True)
    attempt.exchanges = [*(attempt.exchanges or []), *exchanges]
    if attempt.status not in UNSETTLED:
        return attempt.status
    mismatch = _mismatch(attempt, transaction_id, amount, currency, reference)
    if mismatch:
        log.warning("Gateway answer for %s refused: %s", attempt.reference, mismatch)
        attempt.status, attempt.error, attempt.next_check_at = GatewayStatus.FAILED, mismatch, None
        return attempt.status
    taken_elsewhere = db.session.execute(sa.select(GatewayTransaction.id).where(
        GatewayTransaction.gateway == attempt.gateway,
        GatewayTransaction.transaction_id == transaction_id,
        GatewayTransaction.id != attempt.id)).first()
    if taken_elsewhere is not None:
        attempt.status, attempt.next_check_at = GatewayStatus.FAILED, None
        attempt.error = f"transaction {transaction_id} was credited on another attempt"
        return attempt.status
    attempt.transaction_id = transaction_id
    attempt.next_check_at = None
    if invoice.cancelled_at is not None or billing.balance(invoice) < attempt.amount_poisha:
        attempt.status = GatewayStatus.UNAPPLIED
        attempt.error = NOT_OWED
        return attempt.status
    payment = billing.take_payment(invoice, attempt.amount_poisha, METHOD_OF[attempt.gateway],
                                   by_user_id=by_user_id, reference=transaction_id)
    attempt.payment_id = payment.id
    attempt.status = GatewayStatus.COMPLETED
    attempt.error = None
    if attempt.link is not None and attempt.link.used_at is None:
        attempt.link.used_at = utcnow()
    return attempt.status


def _mismatch(attempt, transaction_id, amount, currency, reference):
    if not transaction_id or len(str(transaction_id)) > 64:
        return "no transaction id in the gateway's answer"
    if reference != attempt.reference:
        return f"answer names {reference!r}, not {attempt.reference!r}"
    if poisha(amount) != attempt.amount_poisha:
        return f"amount {amount!r} is not {taka(attempt.amount_poisha)}"
    if currency != attempt.currency:
        return f"currency {currency!r} is not {attempt.currency}"
    return None


# --- the verification job --------------------------------------------------------------

def due_attempts(limit=200):
    """Ids of attempts the gateway should be asked about now (by the index on next_check_at)."""
    return db.session.execute(
        sa.select(GatewayTransaction.id)
        .where(GatewayTransaction.next_check_at <= utcnow(),
               GatewayTransaction.status.in_(UNSETTLED))
        .order_by(GatewayTransaction.next_check_at).limit(limit)).scalars().all()


def verify_due():
    """Ask the gateways about every attempt that is due; returns {status name: count}."""
    outcome = {}
    for attempt_id in due_attempts():
        try:
            status = settle(attempt_id)
        except PaymentError:
            continue  # the gateway was switched off in the settings meanwhile
        outcome[status.name] = outcome.get(status.name, 0) + 1
    return outcome


def attempts_of(invoice_id):
    """The invoice's online attempts, newest first."""
    return db.session.execute(sa.select(GatewayTransaction)
                              .where(GatewayTransaction.invoice_id == invoice_id)
                              .order_by(GatewayTransaction.id.desc())).scalars().all()



# --- refunds ---------------------------------------------------------------------------

# A refund claim older than this is taken to have died with its process.
REFUND_CLAIM_TIMEOUT = timedelta(minutes=2)


def attempt_of_payment(payment_id):
    """The gateway attempt that brought in `payment_id`, or None (cash, card at the desk…)."""
    return db.session.execute(sa.select(GatewayTransaction).where(
        GatewayTransaction.payment_id == payment_id)).scalar_one_or_none()


def refund(payment_id, amount_poisha, reason, *, by_user_id, through_gateway=True):
    """Give money back on a payment: through the gateway that took it, then on the invoice.

    The one door for every refund. A payment a gateway brought in is refunded by
    that gateway first (within its refund window); only when it confirms is the
    refund written, so the books never show money returned that was not. With
    `through_gateway` False staff hand it back themselves (cash at the desk, or the
    gateway's own panel, e.g. after bKash's window or for Nagad): recorded as such.
    """
    attempt = attempt_of_payment(payment_id)
    if attempt is None:
        return billing.refund_payment(payment_id, amount_poisha, reason, by_user_id=by_user_id)
    if not through_gateway:
        text = billing.check_refund(db.session.get(Payment, payment_id), amount_poisha, reason)
        how = str(_l("handed back at the desk"))  # in the words of who wrote the reason
        return billing.refund_payment(payment_id, amount_poisha, f"{text} · {how}"[:255],
                                      by_user_id=by_user_id)
    payment = db.session.get(Payment, payment_id)
    text = billing.check_refund(payment, amount_poisha, reason)
    _check_refund_window(attempt, payment.paid_at)
    refund_id = _through_gateway(attempt, amount_poisha, text, by_user_id=by_user_id)
    return billing.refund_payment(payment_id, amount_poisha, f"{text} · {refund_id}"[:255],
                                  by_user_id=by_user_id)


def refund_unapplied(attempt_id, *, by_user_id):
    """Give back money a gateway took that the invoice no longer owed (status Unapplied)."""
    attempt = db.session.get(GatewayTransaction, attempt_id)
    if attempt is None or attempt.status is not GatewayStatus.UNAPPLIED:
        raise PaymentError(_l("Only money that was not applied to the invoice is refunded here."))
    _check_refund_window(attempt, attempt.updated_at)
    _through_gateway(attempt, attempt.amount_poisha, "not owed", by_user_id=by_user_id)
    return _record(attempt.id, [], status=GatewayStatus.REFUNDED, by_user_id=by_user_id)


def _check_refund_window(attempt, paid_at):
    # bKash refunds only for a while after the payment (15 days by its plugin; a setting).
    if attempt.gateway is not Gateway.BKASH:
        return
    days = settings.get("bkash_refund_days")
    if paid_at is not None and utcnow() - paid_at > timedelta(days=days):
        raise PaymentError(_l("bKash refunds only within %(days)d days of the payment; hand "
                              "this one back at the desk.", days=days))


def _through_gateway(attempt, amount_poisha, reason, *, by_user_id):
    """Ask the gateway to refund; returns its refund transaction id. One refund at a time."""
    if not _claim_refund(attempt.id):
        raise PaymentError(_l("A refund of this payment is already on its way; wait a moment."))
    client = _client(attempt.gateway)
    try:
        refund_id = client.give_back(reference=attempt.reference,
                                     gateway_reference=attempt.gateway_reference,
                                     transaction_id=attempt.transaction_id,
                                     amount=taka(amount_poisha), reason=reason[:100])
    except (Refused, Unreachable) as exc:
        _record(attempt.id, client.exchanges, refund_started_at=None, error=exc.reason,
                by_user_id=by_user_id)
        raise PaymentError(_l("%(gateway)s did not refund it: %(reason)s. Nothing was recorded.",
                              gateway=attempt.gateway.label, reason=exc.reason)) from exc
    _record(attempt.id, client.exchanges, refund_started_at=None, by_user_id=by_user_id)
    return refund_id


def _claim_refund(attempt_id):
    now = utcnow()
    result = db.session.execute(
        sa.update(GatewayTransaction)
        .where(GatewayTransaction.id == attempt_id,
               sa.or_(GatewayTransaction.refund_started_at.is_(None),
                      GatewayTransaction.refund_started_at < now - REFUND_CLAIM_TIMEOUT))
        .values(refund_started_at=now))
    db.session.commit()
    return result.rowcount == 1
