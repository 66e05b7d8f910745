"""WhatsApp Business Cloud API: template messages out, signed status callbacks in (SPEC N2).

A business may only start a conversation with a template Meta has approved, so
every message is a template message: its name, the language, and the body's
parameters in order. Meta answers with a `wamid` and later posts the message's
fate (sent, delivered, read, failed) to our webhook, signed with the app
secret over the raw body (`X-Hub-Signature-256`).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass

import requests
from flask import current_app

from app.integrations import PermanentFailure
from app.integrations import Sent
from app.integrations import TemporaryFailure
from app.services import settings

# Throughput, pair and spam rate limits, unknown errors, service unavailable: try later.
RETRY_CODES = {1, 2, 130429, 131000, 131016, 131048, 131056}
# Meta's language codes for the desk's languages.
LANGUAGE_CODES = {"bn": "bn", "en": "en"}
# Statuses in the order a message moves through them; a late "delivered" after "read" is ignored.
STATUS_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(frozen=True)
class WhatsAppConfig:
    url: str
    version: str
    phone_number_id: str
    token: str
    timeout: float


def configured():
    """The Cloud API settings (settings screen first, then the environment), or None when off."""
    config = current_app.config
    token = settings.get("whatsapp_token") or config.get("WHATSAPP_TOKEN")
    phone_number_id = (settings.get("whatsapp_phone_number_id")
                       or config.get("WHATSAPP_PHONE_NUMBER_ID"))
    if not (token and phone_number_id):
        return None
    url = settings.get("whatsapp_api_url") or config.get("WHATSAPP_API_URL")
    return WhatsAppConfig(url=url.rstrip("/"), version=config.get("WHATSAPP_API_VERSION"),
                          phone_number_id=phone_number_id, token=token,
                          timeout=config.get("PROVIDER_TIMEOUT", 15))


def app_secret():
    """The app secret that signs Meta's callbacks ("" when not set: callbacks are refused)."""
    return settings.get("whatsapp_app_secret") or current_app.config.get("WHATSAPP_APP_SECRET")


def verify_token():
    """The token Meta echoes when the webhook is subscribed."""
    return settings.get("whatsapp_verify_token") or current_app.config.get("WHATSAPP_VERIFY_TOKEN")


def payload(message):
    """The Cloud API body of a template message."""
    components = []
    if message.document:
        components.append({"type": "header", "parameters": [
            {"type": "document", "document": {"link": message.document["link"],
                                              "filename": message.document["filename"]}}]})
    if message.parameters:
        components.append({"type": "body", "parameters": [
            {"type": "text", "text": str(value)} for value in message.parameters]})
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "".join(char for char in message.recipient if char.isdigit()),
            "type": "template",
            "template": {"name": message.template_name,
                         "language": {"code": LANGUAGE_CODES.get(message.language, "en")},
                         "components": components},
            "biz_opaque_callback_data": message.reference}


def send(config, message):
    """Send one template message; returns Sent with the wamid."""
    if not message.template_name:
        raise PermanentFailure("No approved WhatsApp template is named for this message.")
    try:
        response = requests.post(
            f"{config.url}/{config.version}/{config.phone_number_id}/messages",
            json=payload(message), timeout=config.timeout,
            headers={"Authorization": f"Bearer {config.token}"})
    except requests.RequestException as exc:
        raise TemporaryFailure(f"WhatsApp unreachable: {exc.__class__.__name__}") from exc
    try:
        answer = response.json()
    except ValueError as exc:
        raise TemporaryFailure(f"WhatsApp answered HTTP {response.status_code} without JSON") \
            from exc
    if response.status_code == 200 and answer.get("messages"):
        return Sent(provider_id=str(answer["messages"][0].get("id") or ""))
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details") if isinstance(
        error.get("error_data"), dict) else None
    reason = f"WhatsApp {code}: {details or error.get('message') or response.status_code}"
    if code in RETRY_CODES or (code is None and response.status_code >= 500):
        raise TemporaryFailure(reason)
    raise PermanentFailure(reason)


def signature_valid(raw_body, header, secret):
    """Whether `header` ("sha256=<hex>") is the HMAC-SHA256 of the raw body under the app secret."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


@dataclass(frozen=True)
class StatusUpdate:
    """One message's new state from a callback."""

    wamid: str
    status: str
    timestamp: int
    reference: str
    billable: bool
    error: str


def statuses(raw_body):
    """The status updates in a callback body (anything else in it, such as replies, is skipped)."""
    try:
        body = json.loads(raw_body)
    except ValueError:
        return []
    updates = []
    for entry in body.get("entry") or () if isinstance(body, dict) else ():
        for change in entry.get("changes") or ():
            for status in (change.get("value") or {}).get("statuses") or ():
                if not isinstance(status, dict) or status.get("status") not in STATUS_ORDER:
                    continue
                errors = status.get("errors") or []
                error = ""
                if errors and isinstance(errors[0], dict):
                    first = errors[0]
                    details = (first.get("error_data") or {}).get("details")
                    error = f"WhatsApp {first.get('code')}: {details or first.get('title') or ''}"
                pricing = status.get("pricing") or {}
                updates.append(StatusUpdate(
                    wamid=str(status.get("id") or ""), status=status["status"],
                    timestamp=int(status.get("timestamp") or 0),
                    reference=str(status.get("biz_opaque_callback_data") or ""),
                    billable=bool(pricing.get("billable")), error=error[:255]))
    return updates
