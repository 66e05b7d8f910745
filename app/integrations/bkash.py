"""bKash Tokenized Checkout, API v1.2.0-beta (PROTOCOLS.md section 1).

Grant and refresh a token (shared by every process through Redis until shortly
before it expires), create a payment, execute it, query it, search a
transaction, refund. Business outcomes come back under HTTP 200 with a
`statusCode`; "0000" is success. This module knows nothing of invoices: the
online payments service decides what an answer means for the desk.
"""

import json
import time
from dataclasses import dataclass

import requests
from flask import current_app

from app.integrations import gateways
from app.integrations.gateways import Refused
from app.integrations.gateways import Unreachable
from app.integrations.gateways import Verdict
from app.integrations.gateways import redact
from app.services import settings

SANDBOX_URL = "https://tokenized.sandbox.bka.sh/v1.2.0-beta"
LIVE_URL = "https://tokenized.pay.bka.sh/v1.2.0-beta"
# bKash asks for at most 30 s on every call; its own plugin uses 29.
TIMEOUT = 29
# A token is renewed this long before bKash says it expires.
TOKEN_MARGIN = 120
SUCCESS = "0000"
# query payment's transactionStatus -> a verdict state ("Initiated" and the rest: still open).
STATES = {"Completed": gateways.COMPLETED, "Failed": gateways.FAILED,
          "Cancelled": gateways.CANCELLED, "Expired": gateways.EXPIRED}


@dataclass(frozen=True)
class BkashConfig:
    base_url: str
    app_key: str
    app_secret: str
    username: str
    password: str
    timeout: float


def configured():
    """The bKash merchant's settings, or None while they are incomplete (bKash is not offered)."""
    values = {"app_key": settings.get("bkash_app_key"),
              "app_secret": settings.get("bkash_app_secret"),
              "username": settings.get("bkash_username"), "password": settings.get("bkash_password")}
    if not all(values.values()):
        return None
    base_url = (settings.get("bkash_base_url") or SANDBOX_URL).rstrip("/")
    return BkashConfig(base_url=base_url, timeout=current_app.config.get("GATEWAY_TIMEOUT", TIMEOUT),
                       **values)


class BkashClient:
    """One merchant's calls to bKash; `exchanges` collects what was sent and received.

    The online payments service uses the gateway-neutral methods (start,
    execute_payment, verdict, give_back); the rest are bKash's calls as documented.
    """

    # bKash takes the money only when the merchant executes the authorised payment.
    executes = True

    def __init__(self, config, redis=None):
        self.config = config
        self.redis = redis
        self.exchanges = []

    # -- what the online payments service asks of every gateway -----------------------

    def start(self, *, reference, amount, return_url, notify_url, customer):
        """Open the payment; returns (paymentID, the page to send the client to)."""
        answer = self.create(amount=amount, reference=reference, callback_url=return_url,
                             payer_reference=reference)
        if not answer.get("paymentID") or not answer.get("bkashURL"):
            raise Unreachable("bKash create: no paymentID or bkashURL in the answer")
        return answer["paymentID"], answer["bkashURL"]

    def execute_payment(self, gateway_reference):
        """Execute (once per payment!); Refused when bKash declines, Unreachable when unknown."""
        return self._verdict_of(self.execute(gateway_reference))

    def verdict(self, *, reference, gateway_reference, hint=None):
        """Where the payment stands, by query payment (read only, safe to repeat).

        A payment the query calls completed is looked up by its trxID too (search
        transaction): the money movement itself must say Completed, for the amount.
        """
        verdict = self._verdict_of(self.query(gateway_reference))
        if verdict.state != gateways.COMPLETED:
            return verdict
        found = self.search(verdict.transaction_id)
        if found.get("transactionStatus") != "Completed":
            return Verdict(state=gateways.OPEN, reason=found.get("transactionStatus") or "")
        return Verdict(state=verdict.state, transaction_id=found.get("trxID") or "",
                       amount=found.get("amount") or "", currency=found.get("currency") or "",
                       reference=verdict.reference, reason=verdict.reason)

    def give_back(self, *, reference, gateway_reference, transaction_id, amount, reason):
        """Refund `amount` of a completed payment; returns bKash's refundTrxID."""
        answer = self.refund(payment_id=gateway_reference, trx_id=transaction_id, amount=amount,
                             reason=reason, sku=reference)
        return answer.get("refundTrxID") or ""

    @staticmethod
    def _verdict_of(answer):
        return Verdict(state=STATES.get(answer.get("transactionStatus"), gateways.OPEN),
                       transaction_id=answer.get("trxID") or "", amount=answer.get("amount") or "",
                       currency=answer.get("currency") or "",
                       reference=(answer.get("merchantInvoiceNumber")
                                  or answer.get("merchantInvoice") or ""),
                       reason=answer.get("statusMessage") or "")

    # -- the token ------------------------------------------------------------------

    @property
    def _token_key(self):
        return f"locker-desk:bkash-token:{self.config.username}:{self.config.base_url}"

    def _cached_token(self):
        try:
            raw = self.redis.get(self._token_key) if self.redis is not None else None
        except Exception:
            return _process_tokens.get(self._token_key)
        return json.loads(raw) if raw else _process_tokens.get(self._token_key)

    def _store_token(self, answer):
        lifetime = int(answer.get("expires_in") or 3600)
        token = {"id_token": answer["id_token"], "refresh_token": answer.get("refresh_token"),
                 "expires_at": time.time() + lifetime - TOKEN_MARGIN}
        _process_tokens[self._token_key] = token
        try:
            if self.redis is not None:
                self.redis.set(self._token_key, json.dumps(token),
                               ex=max(1, lifetime - TOKEN_MARGIN))
        except Exception:
            pass  # this process keeps its own copy until Redis is back
        return token["id_token"]

    def _forget_token(self):
        _process_tokens.pop(self._token_key, None)
        try:
            if self.redis is not None:
                self.redis.delete(self._token_key)
        except Exception:
            pass

    def token(self):
        """A valid id_token: the shared one, refreshed, or newly granted."""
        cached = self._cached_token()
        if cached and cached["expires_at"] > time.time():
            return cached["id_token"]
        credentials = {"app_key": self.config.app_key, "app_secret": self.config.app_secret}
        if cached and cached.get("refresh_token"):
            try:
                return self._store_token(self._post(
                    "token/refresh", {**credentials, "refresh_token": cached["refresh_token"]},
                    authorised=False))
            except Refused:
                pass  # the refresh token expired too: grant a new one
        return self._store_token(self._post("token/grant", credentials, authorised=False))

    # -- the calls ------------------------------------------------------------------

    def create(self, *, amount, reference, callback_url, payer_reference):
        """Open a payment of `amount` (taka, a decimal string); the answer has paymentID and bkashURL."""
        return self._call("create", {
            "mode": "0011", "payerReference": payer_reference, "callbackURL": callback_url,
            "amount": amount, "currency": "BDT", "intent": "sale",
            "merchantInvoiceNumber": reference})

    def execute(self, payment_id):
        """Take the money the client authorised. Call once per payment: after an error, query."""
        return self._call("execute", {"paymentID": payment_id})

    def query(self, payment_id):
        """Where the payment stands (transactionStatus), read only."""
        return self._call("payment/status", {"paymentID": payment_id})

    def search(self, trx_id):
        """One transaction by its trxID."""
        return self._call("general/searchTransaction", {"trxID": trx_id})

    def refund(self, *, payment_id, trx_id, amount, reason, sku):
        """Give back `amount` (taka, a decimal string) of a completed payment."""
        return self._call("payment/refund", {"paymentID": payment_id, "trxID": trx_id,
                                             "amount": amount, "sku": sku, "reason": reason})

    def _call(self, path, body):
        try:
            return self._post(path, body)
        except _TokenRejected:
            # The API gateway refused the token before the call reached bKash: safe to repeat.
            self._forget_token()
            return self._post(path, body)

    def _post(self, path, body, *, authorised=True):
        config = self.config
        if authorised:
            headers = {"Authorization": self.token(), "X-APP-Key": config.app_key}
        else:
            headers = {"username": config.username, "password": config.password}
        headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        exchange = {"at": time.time(), "call": path, "sent": redact(body)}
        self.exchanges.append(exchange)
        try:
            response = requests.post(f"{config.base_url}/tokenized/checkout/{path}", json=body,
                                     headers=headers, timeout=config.timeout,
                                     allow_redirects=False)
        except requests.RequestException as exc:
            exchange["got"] = f"{exc.__class__.__name__}"
            raise Unreachable(f"bKash {path}: {exc.__class__.__name__}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        exchange["got"] = redact(answer) if isinstance(answer, dict) else response.text[:500]
        exchange["http"] = response.status_code
        if response.status_code == 401 and authorised:
            raise _TokenRejected(f"bKash {path}: HTTP 401")
        if response.status_code != 200 or not isinstance(answer, dict):
            raise Unreachable(f"bKash {path}: HTTP {response.status_code}")
        code = str(answer.get("statusCode") or answer.get("errorCode") or "")
        if code != SUCCESS:
            message = answer.get("statusMessage") or answer.get("errorMessage") or ""
            raise Refused(code, f"bKash {path}: {code} {message}".strip())
        return answer


class _TokenRejected(Unreachable):
    pass


# This process's copy of each merchant's token, for when Redis is unreachable.
_process_tokens = {}
