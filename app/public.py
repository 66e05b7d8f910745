"""The few addresses reachable without signing in, for clients and providers (SPEC N2, N3).

A client opens the receipt link a message gave them; Meta posts WhatsApp
statuses to the webhook. Each proves itself (a signed, expiring token; the app
secret's signature) instead of a login, and reveals nothing else.
"""

from io import BytesIO

from flask import Blueprint
from flask import abort
from flask import request
from flask import send_file

from app.extensions import csrf
from app.extensions import limiter
from app.integrations import whatsapp
from app.services import documents
from app.services import notifications

bp = Blueprint("public", __name__)


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
