"""SMS through SSL Wireless ISMS Plus, API v3 (SPEC N2).

One message per request (`POST {base}/send-sms`). Our reference goes as
`csms_id`, which the provider refuses to take twice (4023): a retry after a
worker died mid-send therefore cannot send the message again, and the refusal
tells us the first attempt got through. The outcome is in the JSON body, not in
the HTTP status. No delivery report exists in the public API, so an SMS ends at
"sent" (accepted by the provider).
"""

import secrets
from dataclasses import dataclass

import requests
from flask import current_app
from flask_security.utils import SmsSenderBaseClass
from flask_security.utils import SmsSenderFactory

from app.integrations import AlreadyAccepted
from app.integrations import Message
from app.integrations import PermanentFailure
from app.integrations import Sent
from app.integrations import TemporaryFailure
from app.services import phones
from app.services import settings

# The name SECURITY_SMS_SERVICE gives this sender.
LOGIN_CODE_SERVICE = "SSLWireless"
# Worth another try later: too many requests, balance/quota, TPS, too many OTPs, internal error.
RETRY_CODES = {4029, 4030, 4031, 4033, 5000}
DUPLICATE = 4023
# GSM 03.38's basic set: text of only these goes as 7-bit (160 a message), anything else as UCS-2.
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsConfig:
    url: str
    token: str
    sid: str
    timeout: float


def configured():
    """The SSL Wireless settings (settings screen first, then the environment), or None when off."""
    config = current_app.config
    url = settings.get("sms_api_url") or config.get("SMS_API_URL")
    token = settings.get("sms_api_token") or config.get("SMS_API_TOKEN")
    sid = settings.get("sms_sid") or config.get("SMS_SID")
    if not (url and token and sid):
        return None
    return SmsConfig(url=url.rstrip("/"), token=token, sid=sid,
                     timeout=config.get("PROVIDER_TIMEOUT", 15))


def segments(text):
    """(characters, parts, "GSM-7" or "UCS-2") of an SMS of `text` (3GPP TS 23.038/23.040).

    GSM-7 holds 160 characters in one message and 153 per part of a longer one
    (extended characters count twice); UCS-2, which any Bengali letter forces,
    holds 70 and 67.
    """
    if all(char in GSM7 or char in GSM7_EXTENDED for char in text):
        length = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        # Characters outside the Basic Multilingual Plane take two UCS-2 units.
        length = sum(2 if ord(char) > 0xFFFF else 1 for char in text)
        single, part, encoding = 70, 67, "UCS-2"
    parts = 1 if length <= single else -(-length // part)
    return length, parts, encoding


def msisdn(phone):
    """+8801711123456 (or 01711-123456, as a form may pass it on) → 8801711123456, as the API wants."""
    try:
        phone = phones.normalise_bd_mobile(phone)
    except phones.InvalidPhone:
        pass  # sent as typed: the gateway says what is wrong with it
    return "".join(char for char in phone if char.isdigit())


def send(config, message):
    """Send one SMS; returns Sent with the provider's reference_id."""
    payload = {"api_token": config.token, "sid": config.sid, "msisdn": msisdn(message.recipient),
               "sms": message.body, "csms_id": message.reference}
    try:
        response = requests.post(f"{config.url}/send-sms", json=payload, timeout=config.timeout,
                                 headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise TemporaryFailure(f"SMS gateway unreachable: {exc.__class__.__name__}") from exc
    try:
        answer = response.json()
        code = int(answer.get("status_code") or 0)
    except (ValueError, TypeError, AttributeError) as exc:
        raise TemporaryFailure(f"SMS gateway answered HTTP {response.status_code} without JSON") \
            from exc
    items = answer.get("smsinfo") or [{}]
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    item_status = str(item.get("sms_status") or "").upper()
    if code == DUPLICATE or item_status == "DUPLICATE":
        raise AlreadyAccepted(message.reference)
    if answer.get("status") == "SUCCESS" and code == 200 and item_status in ("SUCCESS", ""):
        return Sent(provider_id=str(item.get("reference_id") or ""),
                    segments=segments(message.body)[1])
    reason = (f"SSL Wireless {code}: "
              f"{answer.get('error_message') or item.get('status_message') or item_status}")
    if code in RETRY_CODES or response.status_code >= 500:
        raise TemporaryFailure(reason)
    raise PermanentFailure(reason)


class LoginCodeSender(SmsSenderBaseClass):
    """Flask-Security's SMS sender for two-factor sign-in codes, over the same SSL Wireless account.

    A code is needed while the staff member waits at the login page, so it is
    sent at once, not through the queue. With SMS not set up the sending fails
    and Flask-Security says it could not send the code.
    """

    def send_sms(self, from_number, to_number, msg):
        config = configured()
        if config is None:
            raise PermanentFailure("SMS is not set up.")
        send(config, Message(reference=f"tf{secrets.token_hex(8)}", recipient=to_number, body=msg))


def install_login_codes():
    """Let Flask-Security send two-factor codes by SMS through this module (SECURITY_SMS_SERVICE)."""
    SmsSenderFactory.senders[LOGIN_CODE_SERVICE] = LoginCodeSender
