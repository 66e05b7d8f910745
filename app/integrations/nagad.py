"""Nagad merchant check-out, API v-0.2.0 (PROTOCOLS.md section 2).

Initialize and complete carry `sensitiveData`: a small JSON text encrypted
with Nagad's public key (RSA, PKCS#1 v1.5), and a `signature` over the same
text with the merchant's private key (SHA256withRSA). Nagad answers the same
way towards us; its signature is checked before anything it says is used.
Verify is a plain GET and the only word that counts.
"""

import base64
import binascii
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from flask import current_app

from app.integrations import gateways
from app.integrations.gateways import Refused
from app.integrations.gateways import Unreachable
from app.integrations.gateways import Verdict
from app.integrations.gateways import key_der
from app.integrations.gateways import redact
from app.services import settings

SANDBOX_URL = "http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0/api/dfs"
LIVE_URL = "https://api.mynagad.com/api/dfs"
API_VERSION = "v-0.2.0"
CURRENCY_BDT = "050"
DHAKA = timezone(timedelta(hours=6))
TIMEOUT = 30
STATES = {"Success": gateways.COMPLETED, "Failed": gateways.FAILED,
          "Cancelled": gateways.CANCELLED, "Aborted": gateways.CANCELLED}
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


@dataclass(frozen=True)
class NagadConfig:
    base_url: str
    merchant_id: str
    merchant_number: str
    merchant_private_key: object
    pg_public_key: object
    timeout: float


def load_keys(private_text, public_text):
    """(merchant private key, Nagad public key) from the settings' text; ValueError if unusable."""
    try:
        private = serialization.load_der_private_key(key_der(private_text), password=None)
        public = serialization.load_der_public_key(key_der(public_text))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("not an RSA key in PEM or Base64") from exc
    return private, public


def configured():
    """The merchant's settings and keys, or None while incomplete (Nagad is not offered)."""
    merchant_id = settings.get("nagad_merchant_id")
    private_text = settings.get("nagad_merchant_private_key")
    public_text = settings.get("nagad_public_key")
    if not (merchant_id and private_text and public_text):
        return None
    try:
        private, public = load_keys(private_text, public_text)
    except ValueError:
        current_app.logger.warning("Nagad keys in the settings cannot be read; Nagad is off.")
        return None
    return NagadConfig(base_url=(settings.get("nagad_base_url") or SANDBOX_URL).rstrip("/"),
                       merchant_id=merchant_id, merchant_number=settings.get("nagad_merchant_number"),
                       merchant_private_key=private, pg_public_key=public,
                       timeout=current_app.config.get("GATEWAY_TIMEOUT", TIMEOUT))


class NagadClient:
    """One merchant's calls to Nagad; `exchanges` collects what was sent and received."""

    # The client's payment completes at Nagad; the merchant only verifies it.
    executes = False

    def __init__(self, config):
        self.config = config
        self.exchanges = []

    # -- cryptography ---------------------------------------------------------------------

    def _seal(self, payload):
        text = json.dumps(payload, separators=(",", ":")).encode()
        encrypted = self.config.pg_public_key.encrypt(text, padding.PKCS1v15())
        signature = self.config.merchant_private_key.sign(text, padding.PKCS1v15(), hashes.SHA256())
        return {"sensitiveData": base64.b64encode(encrypted).decode(),
                "signature": base64.b64encode(signature).decode()}

    def _open(self, answer):
        """Nagad's sensitiveData, decrypted, once its signature over the text checks out."""
        try:
            text = self.config.merchant_private_key.decrypt(
                base64.b64decode(answer["sensitiveData"], validate=True), padding.PKCS1v15())
            self.config.pg_public_key.verify(base64.b64decode(answer["signature"], validate=True),
                                             text, padding.PKCS1v15(), hashes.SHA256())
            data = json.loads(text)
        except InvalidSignature as exc:
            raise Unreachable("Nagad: the answer's signature is not Nagad's") from exc
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise Unreachable("Nagad: the answer could not be decrypted") from exc
        if not isinstance(data, dict):
            raise Unreachable("Nagad: unexpected answer")
        return data

    # -- HTTP -----------------------------------------------------------------------------

    def _call(self, method, path, body=None, *, ip="127.0.0.1"):
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-KM-Api-Version": API_VERSION, "X-KM-Client-Type": "PC_WEB",
                   "X-KM-IP-V4": ip if _IPV4.fullmatch(ip or "") else "127.0.0.1"}
        exchange = {"at": time.time(), "call": path.split("/")[1] if "/" in path else path,
                    "sent": redact(body or {})}
        self.exchanges.append(exchange)
        try:
            response = requests.request(method, f"{self.config.base_url}/{path}", json=body,
                                        headers=headers, timeout=self.config.timeout,
                                        allow_redirects=False)
        except requests.RequestException as exc:
            exchange["got"] = exc.__class__.__name__
            raise Unreachable(f"Nagad {exchange['call']}: {exc.__class__.__name__}") from exc
        exchange["http"] = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        exchange["got"] = redact(answer) if isinstance(answer, dict) else response.text[:500]
        if not isinstance(answer, dict):
            raise Unreachable(f"Nagad {exchange['call']}: HTTP {response.status_code}, not JSON")
        if answer.get("reason"):
            reason = f"Nagad {exchange['call']}: {answer['reason']} {answer.get('message') or ''}"
            if response.status_code >= 500:
                raise Unreachable(reason.strip())
            raise Refused(answer["reason"], reason.strip())
        if response.status_code != 200:
            raise Unreachable(f"Nagad {exchange['call']}: HTTP {response.status_code}")
        return answer

    # -- what the online payments service asks of every gateway ---------------------------

    def start(self, *, reference, amount, return_url, notify_url, customer):
        """Initialize and complete; returns (paymentReferenceId, the Nagad page to send the client to)."""
        config = self.config
        now = datetime.now(DHAKA).strftime("%Y%m%d%H%M%S")
        body = {"dateTime": now, **self._seal({"merchantId": config.merchant_id, "datetime": now,
                                               "orderId": reference,
                                               "challenge": secrets.token_hex(20)})}
        if config.merchant_number:
            body["accountNumber"] = config.merchant_number
        opened = self._open(self._call(
            "POST", f"check-out/initialize/{config.merchant_id}/{reference}", body, ip=customer.ip))
        payment_ref, challenge = opened.get("paymentReferenceId"), opened.get("challenge")
        if not payment_ref or not challenge:
            raise Unreachable("Nagad initialize: no paymentReferenceId or challenge")
        answer = self._call("POST", f"check-out/complete/{payment_ref}", {
            **self._seal({"merchantId": config.merchant_id, "orderId": reference,
                          "currencyCode": CURRENCY_BDT, "amount": amount, "challenge": challenge}),
            "merchantCallbackURL": return_url}, ip=customer.ip)
        if answer.get("status") != "Success" or not answer.get("callBackUrl"):
            raise Refused(answer.get("status") or "", f"Nagad complete: {answer.get('status')}")
        return payment_ref, answer["callBackUrl"]

    def verdict(self, *, reference, gateway_reference, hint=None):
        """Where the payment stands, by verify (read only, safe to repeat)."""
        answer = self._call("GET", f"verify/payment/{gateway_reference}")
        state = STATES.get(answer.get("status"), gateways.OPEN)
        if answer.get("merchantId") != self.config.merchant_id:
            return Verdict(state=gateways.FAILED, reason="verify names another merchant")
        return Verdict(state=state, transaction_id=answer.get("issuerPaymentRefNo") or "",
                       amount=answer.get("amount") or "", currency="BDT",
                       reference=answer.get("orderId") or "",
                       reason=f"{answer.get('status')} {answer.get('statusCode') or ''}".strip())

    def give_back(self, *, reference, gateway_reference, transaction_id, amount, reason):
        """Nagad's refund call is documented only in its confidential guide: not attempted."""
        raise Refused("unsupported", "Nagad refunds are made in the Nagad merchant panel")
