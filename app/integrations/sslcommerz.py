"""SSLCommerz v4 hosted checkout through `sslcommerz-python`, wrapped (PROTOCOLS.md section 3).

The product chose sslcommerz-python (0.0.7, installed with --no-deps: its
setup.py pins 2019 versions of requests and urllib3). It is used for what it
does, with its defects worked around here:

* `integration_data` is a class-level dict shared by every instance: each
  session gets a dict of its own before anything is set on it.
* it makes its own 36-character `tran_id` (SSLCommerz allows 30): ours replaces it.
* it calls `requests` with no timeout: the module's `requests` is replaced by a
  stand-in that adds the timeout and records every exchange (secrets redacted).
* `validate_ipn_hash` returns None when the hash fields are missing and raises
  KeyError when verify_key names a field that was not posted: both are a failure
  here, and a `verify_sign_sha2` that is present must match too.
* it does not parse failures safely, has no transaction query and no refund:
  those are done here against the documented endpoints.

The Validation API (or the transaction query) decides; the hash only filters.
"""

import contextvars
import hashlib
import hmac
import time
from dataclasses import dataclass

import requests
from flask import current_app
from sslcommerz_python import payment as library

from app.integrations import gateways
from app.integrations.gateways import Refused
from app.integrations.gateways import Unreachable
from app.integrations.gateways import Verdict
from app.integrations.gateways import redact
from app.services import settings

SANDBOX_URL = "https://sandbox.sslcommerz.com"
LIVE_URL = "https://securepay.sslcommerz.com"
SESSION_PATH = "/gwprocess/v4/api.php"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
TRANSACTION_PATH = "/validator/api/merchantTransIDvalidationAPI.php"
TIMEOUT = 30
# The transaction query's status -> a verdict state (PENDING, UNATTEMPTED: still open).
STATES = {"VALID": gateways.COMPLETED, "VALIDATED": gateways.COMPLETED,
          "FAILED": gateways.FAILED, "CANCELLED": gateways.CANCELLED,
          "EXPIRED": gateways.EXPIRED}


@dataclass(frozen=True)
class SslCommerzConfig:
    base_url: str
    store_id: str
    store_password: str
    timeout: float


def configured():
    """The store's settings, or None while they are incomplete (SSLCommerz is not offered)."""
    store_id = settings.get("sslcommerz_store_id")
    password = settings.get("sslcommerz_store_password")
    if not (store_id and password):
        return None
    return SslCommerzConfig(base_url=(settings.get("sslcommerz_base_url") or SANDBOX_URL).rstrip("/"),
                            store_id=store_id, store_password=password,
                            timeout=current_app.config.get("GATEWAY_TIMEOUT", TIMEOUT))


# -- the library's HTTP, with timeouts and a record -----------------------------------------

_current = contextvars.ContextVar("sslcommerz_client", default=None)


class _TimedRequests:
    """Stands in for `requests` inside sslcommerz-python: the client of the call adds its
    timeout and keeps the exchange. Outside our wrapper it behaves as `requests` with 30 s."""

    def post(self, url, data=None, **kwargs):
        return self._send("post", url, data=data, **kwargs)

    def get(self, url, params=None, **kwargs):
        return self._send("get", url, params=params, **kwargs)

    @staticmethod
    def _send(method, url, **kwargs):
        client = _current.get()
        kwargs.setdefault("timeout", client.config.timeout if client else TIMEOUT)
        if client is None:
            return getattr(requests, method)(url, **kwargs)
        return client.http(method, url, **kwargs)


library.requests = _TimedRequests()


class SslCommerzClient:
    """One store's calls to SSLCommerz; `exchanges` collects what was sent and received."""

    # The client's own payment completes at SSLCommerz; the merchant only validates it.
    executes = False

    def __init__(self, config):
        self.config = config
        self.exchanges = []

    # -- HTTP ---------------------------------------------------------------------------

    def http(self, method, url, **kwargs):
        """One call, recorded; connection failures become Unreachable."""
        sent = kwargs.get("data") or kwargs.get("params") or {}
        path = url.split("?", 1)[0].rsplit("/", 1)[-1]
        exchange = {"at": time.time(), "call": path, "sent": redact(dict(sent))}
        self.exchanges.append(exchange)
        try:
            response = getattr(requests, method)(url, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            exchange["got"] = exc.__class__.__name__
            raise Unreachable(f"SSLCommerz {path}: {exc.__class__.__name__}") from exc
        exchange["http"] = response.status_code
        try:
            exchange["got"] = redact(response.json())
        except ValueError:
            exchange["got"] = response.text[:500]
        return response

    def _library(self, cls):
        """A sslcommerz-python object pointed at our base URL, with a dict of its own."""
        instance = cls(sslc_is_sandbox="sandbox" in self.config.base_url,
                       sslc_store_id=self.config.store_id,
                       sslc_store_pass=self.config.store_password)
        instance.integration_data = {}
        instance.sslc_session_api = self.config.base_url + SESSION_PATH
        instance.sslc_validation_api = self.config.base_url + VALIDATION_PATH
        return instance

    def _within(self, call, *args):
        token = _current.set(self)
        try:
            return call(*args)
        except (ValueError, KeyError, TypeError) as exc:
            # The library indexes and parses answers unguarded: a malformed answer lands here.
            raise Unreachable(f"SSLCommerz: unexpected answer ({exc.__class__.__name__})") from exc
        finally:
            _current.reset(token)

    # -- what the online payments service asks of every gateway ---------------------------

    def start(self, *, reference, amount, return_url, notify_url, customer):
        """Open a session; returns (sessionkey, GatewayPageURL)."""
        session = self._library(library.SSLCSession)
        session.set_urls(success_url=return_url, fail_url=return_url, cancel_url=return_url,
                         ipn_url=notify_url)
        session.set_product_integration(total_amount=amount, currency="BDT",
                                        product_category="Locker rental",
                                        product_name="Locker rental", num_of_item=1,
                                        shipping_method="NO", product_profile="non-physical-goods")
        session.integration_data["tran_id"] = reference  # not the library's own 36-character id
        session.set_customer_info(name=customer.name, email=customer.email or "client@example.com",
                                  address1=customer.address or customer.city, city=customer.city,
                                  postcode="1000", country="Bangladesh", phone=customer.phone)
        session.set_additional_values(value_a=reference)
        answer = self._within(session.init_payment)
        if answer.get("status") != "SUCCESS":
            raise Refused(answer.get("status") or "FAILED",
                          f"SSLCommerz session: {answer.get('failedreason') or 'refused'}")
        return answer["sessionkey"], answer["GatewayPageURL"]

    def signature_valid(self, fields):
        """Whether a posted callback carries SSLCommerz's signature over what it says."""
        validation = self._library(library.Validation)
        try:
            valid = validation.validate_ipn_hash(dict(fields))
        except KeyError:
            return False  # verify_key names a field that was not posted
        if valid is not True:
            return False  # None: no verify_key or verify_sign at all
        if "verify_sign_sha2" in fields:
            return hmac.compare_digest(str(fields["verify_sign_sha2"]), self._sha2(fields))
        return True

    def _sha2(self, fields):
        signed = {key: fields.get(key, "") for key in str(fields.get("verify_key", "")).split(",")}
        signed["store_passwd"] = hashlib.sha256(self.config.store_password.encode()).hexdigest()
        text = "&".join(f"{key}={signed[key]}" for key in sorted(signed))
        return hashlib.sha256(text.encode()).hexdigest()

    def verdict(self, *, reference, gateway_reference, hint=None):
        """The Validation API for a val_id we were given, else the transaction query by tran_id."""
        if hint:
            validation = self._library(library.Validation)
            answer = self._within(validation.validate_transaction, hint)
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            if answer.get("status") in ("VALID", "VALIDATED"):
                return self._verdict_of(data, gateways.COMPLETED)
        return self._query(reference)

    def _query(self, reference):
        response = self.http("get", self.config.base_url + TRANSACTION_PATH, params={
            "tran_id": reference, "store_id": self.config.store_id,
            "store_passwd": self.config.store_password, "format": "json"},
            timeout=self.config.timeout)
        answer = _json(response)
        if answer.get("APIConnect") != "DONE":
            raise Unreachable(f"SSLCommerz query: {answer.get('APIConnect') or response.status_code}")
        elements = [e for e in answer.get("element") or [] if isinstance(e, dict)]
        for state in (gateways.COMPLETED, gateways.FAILED, gateways.CANCELLED, gateways.EXPIRED):
            for element in elements:
                if STATES.get(element.get("status")) == state:
                    return self._verdict_of(element, state)
        return Verdict(state=gateways.OPEN, reference=reference)

    @staticmethod
    def _verdict_of(data, state):
        return Verdict(state=state, transaction_id=data.get("bank_tran_id") or "",
                       amount=data.get("amount") or "", currency=data.get("currency") or "",
                       reference=data.get("tran_id") or "", reason=data.get("error") or "")

    def give_back(self, *, reference, gateway_reference, transaction_id, amount, reason):
        """Ask for a refund of `amount`; returns SSLCommerz's refund_ref_id."""
        response = self.http("get", self.config.base_url + TRANSACTION_PATH, params={
            "bank_tran_id": transaction_id, "refund_amount": amount, "refund_remarks": reason,
            "refe_id": f"{reference}-{int(time.time())}", "store_id": self.config.store_id,
            "store_passwd": self.config.store_password, "format": "json"},
            timeout=self.config.timeout)
        answer = _json(response)
        if answer.get("APIConnect") != "DONE":
            raise Unreachable(f"SSLCommerz refund: {answer.get('APIConnect') or response.status_code}")
        if answer.get("status") not in ("success", "processing"):
            raise Refused("failed", f"SSLCommerz refund: {answer.get('errorReason') or 'refused'}")
        return answer.get("refund_ref_id") or ""


def _json(response):
    try:
        answer = response.json()
    except ValueError as exc:
        raise Unreachable(f"SSLCommerz: HTTP {response.status_code}, not JSON") from exc
    if not isinstance(answer, dict):
        raise Unreachable("SSLCommerz: unexpected answer")
    return answer
