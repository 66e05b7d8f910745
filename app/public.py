"""The few addresses reachable without signing in, for clients and providers (SPEC N2, N3, P4).

A client opens the receipt or payment link a message gave them and comes back
from a gateway's page; Meta posts WhatsApp statuses to the webhook. Each proves
itself (a signed token; the app secret's signature; the gateway's own API,
asked again) instead of a login, and reveals nothing else.
"""

from io import BytesIO

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import render_template
from flask import request
from flask import send_file
from flask import url_for

from app.extensions import csrf
from app.extensions import limiter
from app.integrations import whatsapp
from app.models import Gateway
from app.models import GatewayStatus
from app.models.gateways import PAID_MEANWHILE
from app.services import billing
from app.services import documents
from app.services import notifications
from app.services import online_payments
from app.services import settings

bp = Blueprint("public", __name__)
# A payment link is guessed at no faster than this from one address. The gateways'
# returns keep the default limit: a reload there only asks the gateway again.
PAY_RATE_LIMIT = "30 per minute"


@bp.get("/r/<token>")
def receipt(token):
    """A payment's receipt PDF, for whoever holds the link a message gave them."""
    payment_id = notifications.payment_of_token(token)
    if payment_id is None:
        abort(404)
    pdf = documents.receipt_pdf(payment_id)
    response = send_file(BytesIO(pdf), mimetype="application/pdf",
                         download_name=documents.receipt_filename(payment_id))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/webhooks/whatsapp")
@limiter.exempt
def whatsapp_subscribe():
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    expected = whatsapp.verify_token()
    if (request.args.get("hub.mode") != "subscribe" or not expected
            or request.args.get("hub.verify_token") != expected):
        abort(403)
    return request.args.get("hub.challenge", ""), 200, {"Content-Type": "text/plain"}


@bp.post("/webhooks/whatsapp")
@limiter.exempt
@csrf.exempt
def whatsapp_statuses():
    """Message statuses from Meta, accepted only with a valid X-Hub-Signature-256."""
    raw = request.get_data(cache=False)
    if not whatsapp.signature_valid(raw, request.headers.get("X-Hub-Signature-256"),
                                    whatsapp.app_secret()):
        abort(403)
    notifications.whatsapp_statuses(whatsapp.statuses(raw))
    return "", 200


@bp.get("/pay/<token>")
@limiter.limit(PAY_RATE_LIMIT)
def pay(token):
    """The payment link: the gym, the invoice, what is owed and the gateways on offer."""
    try:
        link = online_payments.open_link(token)
    except online_payments.PaymentError as exc:
        return _pay_page("public/pay_closed.html", 404, message=exc.message)
    return _pay_page("public/pay.html", 200, token=token, invoice=link.invoice,
                     owed=billing.balance(link.invoice),
                     gateways=online_payments.gateways_on_offer())


@bp.post("/pay/<token>/<gateway>")
@limiter.limit(PAY_RATE_LIMIT)
def pay_start(token, gateway):
    """Start paying through the chosen gateway: off to the gateway's own page."""
    try:
        chosen = Gateway[gateway.upper()]
    except KeyError:
        abort(404)
    # bKash's IPN comes through Amazon SNS and is not subscribed to: the job asks bKash.
    notify = f"public.{chosen.value}_notify"
    try:
        page = online_payments.start(
            token, chosen, return_url=url_for(f"public.{chosen.value}_return", _external=True),
            notify_url=(url_for(notify, _external=True)
                        if notify in current_app.view_functions else None),
            client_ip=request.remote_addr or "127.0.0.1")
    except online_payments.PaymentError as exc:
        return _pay_page("public/pay_closed.html", 409, message=exc.message)
    return _pay_page("public/pay_redirect.html", 200, page=page, gateway=chosen)


@bp.get("/pay/return/bkash")
def bkash_return():
    """bKash sends the client's browser back here; bKash's own API decides what happened."""
    try:
        attempt = online_payments.bkash_returned(request.args.get("paymentID", ""),
                                                 request.args.get("status", ""))
    except online_payments.PaymentError as exc:
        return _pay_page("public/pay_closed.html", 404, message=exc.message)
    return _result_page(attempt)


@bp.get("/pay/return/nagad")
def nagad_return():
    """Nagad sends the client's browser back here; Nagad's verify decides what happened."""
    try:
        attempt = online_payments.nagad_returned(request.args.get("payment_ref_id", ""))
    except online_payments.PaymentError as exc:
        return _pay_page("public/pay_closed.html", 404, message=exc.message)
    return _result_page(attempt)


@bp.post("/pay/return/sslcommerz")
@csrf.exempt
def sslcommerz_return():
    """SSLCommerz posts the client's browser back here (paid, failed or cancelled)."""
    try:
        attempt = online_payments.sslcommerz_notified(request.form.to_dict())
    except online_payments.PaymentError as exc:
        return _pay_page("public/pay_closed.html", 400, message=exc.message)
    return _result_page(attempt)


@bp.post("/pay/notify/sslcommerz")
@limiter.exempt
@csrf.exempt
def sslcommerz_notify():
    """SSLCommerz's IPN, server to server: the same check as the browser's return."""
    try:
        online_payments.sslcommerz_notified(request.form.to_dict())
    except online_payments.PaymentError:
        abort(400)
    return "", 200


def _result_page(attempt):
    return _pay_page("public/pay_result.html", 200, attempt=attempt,
                     paid=attempt.status is GatewayStatus.COMPLETED,
                     # Not executed because another payment settled the invoice first.
                     paid_by_another=attempt.error == PAID_MEANWHILE,
                     receipt_token=(notifications.receipt_token(attempt.payment_id)
                                    if attempt.payment_id else None))


def _pay_page(template, status, **context):
    response = render_template(template, company=settings.get("company_name"), **context)
    return response, status, {"Cache-Control": "private, no-store",
                              "Referrer-Policy": "no-referrer"}
