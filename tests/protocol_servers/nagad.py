"""A local Nagad online payment gateway: the merchant check-out API v-0.2.0 (PROTOCOLS.md §2).

The desk's Nagad client is pointed at `NagadServer(...).base_url` instead of
http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0/api/dfs and must not notice
any other difference: the same paths, the same `X-KM-*` headers, the same RSA
cryptography (sensitiveData = Base64(RSA PKCS#1 v1.5 encryption of a JSON text with the
receiver's public key), signature = Base64(SHA256withRSA over that same JSON text with the
sender's private key)), the same answers, and `{reason, message}` bodies for refusals.

The flow this server plays:

1. `POST {base}/check-out/initialize/{merchantId}/{orderId}` — checks headers, decrypts the
   merchant's sensitiveData with Nagad's private key, verifies the merchant's signature,
   the dateTime's freshness, the challenge's novelty and the orderId's uniqueness; answers
   with its own challenge and a paymentReferenceId, encrypted for the merchant and signed.
2. `POST {base}/check-out/complete/{paymentReferenceId}` — checks the signature again,
   that Nagad's challenge came back, the currency and the amount; answers
   `{"status": "Success", "callBackUrl": <hosted payment page>}`.
3. The customer acts on the hosted page: a test calls `customer_pays` / `customer_cancels` /
   `customer_fails`, and the server sends the customer's browser back to the merchant's
   `merchantCallbackURL` with the documented query parameters (`send_callback`), through a
   pluggable transport (a real HTTP GET, or a Flask test client).
4. `GET {base}/verify/payment/{paymentRefId}` — the truth about the payment, in plain JSON.

Everything the vendor keeps confidential (reason codes, non-success status codes, limits,
time-outs) is this server's own choice, listed in REASONS, OUTCOMES and the attributes of
NagadServer, and marked [unverified] where it is a guess.

Usage::

    merchant = make_key_pair()
    with NagadServer(merchant.public_pem) as nagad:
        app.config["NAGAD_BASE_URL"] = nagad.base_url
        app.config["NAGAD_PG_PUBLIC_KEY"] = nagad.pg_public_key_pem
        ...
        nagad.callback_transport = flask_client_transport(app.test_client())
        assert nagad.customer_pays(payment_ref) == 302
"""

import base64
import binascii
import datetime
import decimal
import ipaddress
import json
import re
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.protocol_servers.base import Handler
from tests.protocol_servers.base import TrackingServer

API_VERSION = "v-0.2.0"
# The sandbox's path; the live host serves the same API under /api/dfs (LIVE_PREFIX).
SANDBOX_PREFIX = "/remote-payment-gateway-1.0/api/dfs"
LIVE_PREFIX = "/api/dfs"
CURRENCY_BDT = "050"
# Nagad's clock and the dateTime fields are Asia/Dhaka, which has had no DST since 2009.
DHAKA = datetime.timezone(datetime.timedelta(hours=6), "Asia/Dhaka")
DATETIME_FORMAT = "%Y%m%d%H%M%S"
# PC_WEB is what Nagad's sample and every public integration send; the others are the
# channel names remembered from the confidential guide [unverified].
CLIENT_TYPES = frozenset({"PC_WEB", "MOBILE_WEB", "MOBILE_APP", "WALLET_WEB_VIEW", "BILL_KEY"})
# Alphanumeric, at most 20 characters [unverified]: stricter than what public integrations
# send, so a desk that passes here passes there.
ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9]{1,20}")
AMOUNT_PATTERN = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
# A held answer is released by the test; this bounds a test that forgets to.
HOLD_TIMEOUT = 30.0
CALLBACK_TIMEOUT = 10.0
# What the customer's browser looks like to the merchant's callback route.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)

# reason -> (HTTP status, message). Nagad's own codes are in the confidential guide; public
# clients only test `isset($response->reason)`, so these are this server's own names.
REASONS = {
    "MISSING_HEADER": (400, "Required header is missing"),
    "INVALID_API_VERSION": (400, "Unsupported X-KM-Api-Version"),
    "INVALID_CLIENT_TYPE": (400, "Invalid X-KM-Client-Type"),
    "INVALID_IP": (400, "Invalid X-KM-IP-V4"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Content-Type must be application/json"),
    "INVALID_REQUEST": (400, "Invalid request body"),
    "UNKNOWN_MERCHANT": (400, "Merchant not found"),
    "INVALID_ORDER_ID": (400, "Invalid order id"),
    "INVALID_DATETIME": (400, "Invalid dateTime"),
    "STALE_DATETIME": (400, "Request dateTime is outside the allowed window"),
    "DECRYPTION_FAILED": (400, "sensitiveData could not be decrypted"),
    "INVALID_SENSITIVE_DATA": (400, "sensitiveData is incomplete"),
    "INVALID_SIGNATURE": (400, "Signature verification failed"),
    "DATA_MISMATCH": (400, "sensitiveData does not match the request"),
    "REPLAYED_CHALLENGE": (400, "Challenge has already been used"),
    "DUPLICATE_ORDER_ID": (400, "Order id already exists"),
    "UNKNOWN_PAYMENT_REFERENCE": (400, "Payment reference not found"),
    "CHALLENGE_MISMATCH": (400, "Challenge does not match"),
    "SESSION_EXPIRED": (400, "Payment session has expired"),
    "ALREADY_COMPLETED": (400, "Order has already been submitted"),
    "INVALID_CURRENCY": (400, "Invalid currency code"),
    "INVALID_AMOUNT": (400, "Invalid amount"),
    "INVALID_CALLBACK_URL": (400, "Invalid merchantCallbackURL"),
    "NOT_FOUND": (404, "Not found"),
    "METHOD_NOT_ALLOWED": (405, "Method not allowed"),
    "INTERNAL_ERROR": (500, "Internal server error"),
    "SERVICE_UNAVAILABLE": (503, "Service temporarily unavailable"),
}

# status -> (verify statusCode, callback status_code, callback message). Only Success's
# values have been seen in public traffic ("000", "00_0000_000", "Successful Transaction");
# the rest are this server's own [unverified].
OUTCOMES = {
    "OrderInitiated": ("010", None, None),
    "Ready": ("011", None, None),
    "InProgress": ("012", None, None),
    "Success": ("000", "00_0000_000", "Successful Transaction"),
    "Aborted": ("100", "01_1000_100", "Transaction Aborted by Customer"),
    "Failed": ("200", "02_2000_200", "Transaction Failed"),
    "Cancelled": ("300", "03_3000_300", "Transaction Cancelled"),
}
# An abandoned session ends as Aborted too, with its own code and message [unverified].
TIMED_OUT = ("101", "01_1010_101", "Payment Session Timed Out")
PENDING = ("OrderInitiated", "Ready", "InProgress")

MALFORMED_BODY = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 500 – Internal Server Error</title>'
    '</head><body><h1>HTTP Status 500 – Internal Server Error</h1><hr class="line" />'
    "<h3>Apache Tomcat</h3></body></html>"
)


# Callbacks must reach the local receiver directly even when the environment sets a proxy;
# a browser would show the merchant's redirect target, but a test wants the callback's own status.
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

KeyPair = namedtuple("KeyPair", "private_pem public_pem")
KeyPair.__doc__ = "An RSA key pair as PEM text: PKCS#8 private key, SubjectPublicKeyInfo public key."

RecordedRequest = namedtuple("RecordedRequest", "method path headers body sensitive")
RecordedRequest.__doc__ = """One API request as received: method, request target (as sent), headers,
the parsed JSON body (None when absent or not JSON) and the decrypted sensitiveData object
(None until and unless it decrypted to a JSON object)."""


class NagadError(Exception):
    """A refusal: answered with HTTP `status` and `{"reason": reason, "message": message}`."""

    def __init__(self, reason, message=None, status=None):
        default_status, default_message = REASONS.get(reason, (400, "Request failed"))
        super().__init__(reason, message or default_message)
        self.reason = reason
        self.message = message or default_message
        self.status = status or default_status


class PaymentStateError(Exception):
    """A customer action the hosted page would not offer (unknown, finished or expired payment)."""


def make_key_pair(bits=2048):
    """A fresh RSA key pair for a test (2048 bits, like Nagad's sample keys)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return KeyPair(private_pem, public_pem)


def pem_body(pem):
    """The bare Base64 body of a PEM text, the form in which Nagad hands keys out."""
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def load_private_key(key):
    """An RSA private key from PEM (PKCS#1 or PKCS#8), a bare Base64 DER body, or a key object."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    data = key.encode("ascii") if isinstance(key, str) else key
    # The keys are a test's own; validating them costs ~0.1 s per server, which tests feel.
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    return serialization.load_der_private_key(
        base64.b64decode(data), password=None, unsafe_skip_rsa_key_validation=True
    )


def load_public_key(key):
    """An RSA public key from PEM, a bare Base64 DER body, or a key object."""
    if isinstance(key, rsa.RSAPublicKey):
        return key
    data = key.encode("ascii") if isinstance(key, str) else key
    if b"-----BEGIN" in data:
        return serialization.load_pem_public_key(data)
    return serialization.load_der_public_key(base64.b64decode(data))


def urllib_transport(method, url, body, headers):
    """Deliver one callback over real HTTP without following redirects; returns (status, body bytes)."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=CALLBACK_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def flask_client_transport(client):
    """A callback transport that calls a Flask test client instead of a listening app.

    Set `nagad.callback_transport = flask_client_transport(app.test_client())`; the
    merchantCallbackURL the desk sent may be absolute, the test client routes it by path.
    """

    def send(method, url, body, headers):
        response = client.open(url, method=method, data=body, headers=headers)
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    return send


def _collapse_slashes(path):
    # Public clients build "dfs//check-out/..." (base URL with a trailing slash plus a
    # path with a leading one) and the real gateway serves them, so this one does too.
    return re.sub(r"/{2,}", "/", path)


def _compact(payload):
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _java_timestamp(moment):
    # java.sql.Timestamp.toString(), which is how verify shows its dates.
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ".0"


def _masked(msisdn):
    return msisdn[:3] + "****" + msisdn[-4:]


class _Handler(Handler):
    server_version = "Apache-Coyote/1.1"

    def read_body(self):
        # A negative Content-Length reads as no body, so the request still gets an answer
        # where the shared reader would fail it and drop the connection.
        if not self.chunked and int(self.headers.get("Content-Length") or 0) < 0:
            return b""
        return super().read_body()


class NagadServer:
    """Nagad's merchant check-out API and hosted payment page on 127.0.0.1, started on construction.

    Stop it with stop() or use it as a context manager.

    Constructor: NagadServer(merchant_public_key, pg_private_key=None, *, merchant_id=…,
    merchant_number=…, api_prefix=SANDBOX_PREFIX, signature_hash="SHA256"). Keys are PEM
    text, bare Base64 DER bodies or key objects; without `pg_private_key` a fresh pair is made.

    Attributes a test may read:
      base_url            "http://127.0.0.1:PORT/remote-payment-gateway-1.0/api/dfs"
      page_url            "http://127.0.0.1:PORT" — hosted pages are {page_url}/check-out/{ref}
      port, merchant_id, merchant_number
      pg_public_key_pem   Nagad's public key, for the merchant's configuration
      requests            every API request, as RecordedRequest
      callbacks           every callback delivered: dicts with url, params, headers, status, answer
      accepted_event      set when a held request has been accepted (hold_after_accept)

    Attributes a test may set (times in seconds; TTLs are read when a session starts):
      session_ttl          initialize → complete window (300) [unverified]
      payment_ttl          complete → customer action window (900) [unverified]
      datetime_tolerance   allowed distance of the request dateTime from Nagad's clock (300)
      min_amount, max_amount  Decimal limits for complete (1, None = no cap) [unverified]
      verify_requires_headers  refuse verify without X-KM-* headers (False: Nagad's own
                           sample verifies with a bare GET)
      delay                seconds before handling each API request (client time-outs)
      callback_transport   callable(method, url, body, headers) -> (status, body bytes)

    Switches: fail_next, malformed_next, drop_next, bad_signature_next, hold_after_accept,
    release(), advance(seconds), expire(ref), tamper_verify(ref, **fields).
    Customer side: customer_pays, customer_cancels, customer_fails, send_callback.
    """

    def __init__(
        self,
        merchant_public_key,
        pg_private_key=None,
        *,
        merchant_id="683002007104225",
        merchant_number="01300200710",
        api_prefix=SANDBOX_PREFIX,
        signature_hash="SHA256",
    ):
        self.merchant_id = merchant_id
        self.merchant_number = merchant_number
        self.api_prefix = api_prefix.rstrip("/")
        # SHA-1 exists only in case a real sandbox turns out to use it (PROTOCOLS.md §2.2).
        self._hash = {"SHA256": hashes.SHA256, "SHA1": hashes.SHA1}[signature_hash]
        self._merchant_public = load_public_key(merchant_public_key)
        if pg_private_key is None:
            pg_private_key = make_key_pair().private_pem
        self._pg_private = load_private_key(pg_private_key)
        self.pg_public_key_pem = (
            self._pg_private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

        self.session_ttl = 300
        self.payment_ttl = 900
        self.datetime_tolerance = 300
        self.min_amount = decimal.Decimal("1")
        self.max_amount = None
        self.verify_requires_headers = False
        self.delay = 0
        self.callback_transport = urllib_transport
        self.requests = []
        self.callbacks = []
        self.accepted_event = threading.Event()

        self._lock = threading.Lock()
        self._payments = {}
        self._by_order = {}
        self._challenges = set()
        self._forced = []
        self._bad_signatures = 0
        self._clock_offset = datetime.timedelta(0)
        self._issuer_counter = secrets.randbelow(36**4)
        self._hold = False
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._stopped = False

        self._httpd = TrackingServer(("127.0.0.1", 0), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.page_url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.page_url + self.api_prefix
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            # stop() waits up to one poll interval; tests start and stop a server each.
            kwargs={"poll_interval": 0.01},
            name=f"nagad-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        """Stop: held answers go out, delayed ones are dropped; close every socket, join threads."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self._released.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()

    # -- switches --------------------------------------------------------------------

    def fail_next(self, reason, message=None, *, status=None, times=1, endpoint=None):
        """Refuse the next `times` API calls with `{reason, message}` (HTTP status from REASONS).

        `endpoint` ("initialize", "complete" or "verify") limits which calls consume it.
        Nothing changes state. E.g. fail_next("SERVICE_UNAVAILABLE", endpoint="complete").
        """
        self._force(("fail", NagadError(reason, message, status)), times, endpoint)

    def malformed_next(self, times=1, *, endpoint=None, status=200):
        """Answer the next `times` API calls with HTTP `status` and an HTML error page, not JSON."""
        self._force(("malformed", status), times, endpoint)

    def drop_next(self, times=1, *, endpoint=None):
        """Close the connection of the next `times` API calls without any answer."""
        self._force(("drop", None), times, endpoint)

    def bad_signature_next(self, times=1):
        """Sign the next `times` successful initialize answers over other text than they carry.

        The answer is otherwise correct; only a merchant that verifies Nagad's signature
        notices (PROTOCOLS.md §2.2: the desk must).
        """
        with self._lock:
            self._bad_signatures += times

    def _force(self, action, times, endpoint):
        if endpoint not in (None, "initialize", "complete", "verify"):
            raise ValueError(f"unknown endpoint {endpoint!r}")
        with self._lock:
            self._forced.extend([(endpoint, action)] * times)

    @property
    def hold_after_accept(self):
        """While True, an accepted initialize or complete changes state, sets `accepted_event`, and
        its answer waits for release(), stop() or HOLD_TIMEOUT: the merchant times out on a
        call that did happen. Setting True again re-arms it."""
        return self._hold

    @hold_after_accept.setter
    def hold_after_accept(self, value):
        with self._lock:
            self._hold = bool(value)
            if self._hold and not self._stopping.is_set():
                self.accepted_event.clear()
                self._released.clear()

    def release(self):
        """Let held answers go out; later calls are no longer held."""
        with self._lock:
            self._hold = False
        self._released.set()

    def now(self):
        """Nagad's clock: the current Asia/Dhaka time, moved by advance()."""
        with self._lock:
            offset = self._clock_offset
        return datetime.datetime.now(DHAKA) + offset

    def advance(self, seconds):
        """Move Nagad's clock forward (stale dateTimes, expired sessions) without sleeping."""
        with self._lock:
            self._clock_offset += datetime.timedelta(seconds=seconds)

    def expire(self, payment_ref):
        """End a pending payment's session now, as if the customer had left the page open too long.

        Verify then reports Aborted with TIMED_OUT's code; no callback is sent.
        """
        with self._lock:
            payment = self._payment(payment_ref)
            if payment["status"] in PENDING:
                payment["expires_at"] = self._now_locked()
            self._refresh(payment)

    def tamper_verify(self, payment_ref, **fields):
        """Make verify report `fields` (e.g. amount="1.00", status="Success") instead of the truth.

        For the checks the desk must make on verify's answer (PROTOCOLS.md §2.4).
        """
        with self._lock:
            self._payment(payment_ref)["verify_overrides"].update(fields)

    # -- reading state ---------------------------------------------------------------

    def payment(self, payment_ref):
        """A copy of the payment's record (status, amount, order_id, challenge, …), or None."""
        with self._lock:
            payment = self._payments.get(payment_ref)
            if payment is None:
                return None
            self._refresh(payment)
            return dict(payment)

    def payment_for_order(self, order_id):
        """A copy of the record of the payment initialized for `order_id`, or None."""
        with self._lock:
            ref = self._by_order.get(order_id)
        return None if ref is None else self.payment(ref)

    def verify_body(self, payment_ref):
        """What GET verify/payment/{payment_ref} answers now (KeyError for an unknown reference)."""
        with self._lock:
            payment = self._payments.get(payment_ref)
            if payment is None:
                raise KeyError(payment_ref)
            self._refresh(payment)
            return self._verify_fields(payment)

    # -- the customer's side ---------------------------------------------------------

    def customer_pays(self, payment_ref, *, client_mobile="01712345678", deliver=True, duplicate=False):
        """The customer pays on the hosted page; Nagad records Success and redirects to the merchant.

        Returns the merchant's HTTP status for the callback (the last one with `duplicate`,
        which sends the same callback twice), or None with deliver=False (the customer
        closed the browser before the redirect: only verify will tell the merchant).
        """
        now = self.now()
        with self._lock:
            payment = self._customer_payment(payment_ref)
            self._issuer_counter += 1
            payment.update(
                status="Success",
                client_mobile=client_mobile,
                issuer_ref=self._issuer_ref(self._issuer_counter),
                issuer_at=now,
                outcome=OUTCOMES["Success"],
            )
        return self._after_customer(payment_ref, deliver, duplicate)

    def customer_cancels(self, payment_ref, *, deliver=True, duplicate=False):
        """The customer presses cancel on the hosted page: Aborted, and back to the merchant."""
        return self.customer_fails(payment_ref, "Aborted", deliver=deliver, duplicate=duplicate)

    def customer_fails(
        self, payment_ref, status="Failed", *, message=None, client_mobile=None, deliver=True, duplicate=False
    ):
        """The payment ends with `status` (Failed: declined, e.g. insufficient balance; Aborted;
        Cancelled) and the customer is sent back. `message` replaces the callback's message."""
        if status not in OUTCOMES or status in PENDING or status == "Success":
            raise ValueError(f"{status!r} is not a failed outcome; use one of Failed, Aborted, Cancelled")
        now = self.now()
        verify_code, callback_code, default_message = OUTCOMES[status]
        with self._lock:
            payment = self._customer_payment(payment_ref)
            payment.update(
                status=status,
                client_mobile=client_mobile,
                issuer_at=now,
                outcome=(verify_code, callback_code, message or default_message),
            )
        return self._after_customer(payment_ref, deliver, duplicate)

    def callback_params(self, payment_ref, *, status=None, **overrides):
        """The callback's query parameters, in Nagad's order, for the payment's current state.

        `status` forges another outcome (its code and message follow); `overrides` replace
        or add single parameters (None leaves one out).
        """
        with self._lock:
            payment = self._payment(payment_ref)
            self._refresh(payment)
            if status is None:
                status = payment["status"]
            if status == payment["status"] and payment["outcome"] is not None:
                _verify_code, callback_code, message = payment["outcome"]
            else:
                _verify_code, callback_code, message = OUTCOMES.get(status, ("", "", ""))
            when = payment["issuer_at"] or self._now_locked()
            params = {
                "merchant": payment["merchant_id"],
                "order_id": payment["order_id"],
                "payment_ref_id": payment_ref,
                "status": status,
                "status_code": callback_code or "",
                "message": message or "",
                "payment_dt": when.strftime(DATETIME_FORMAT),
                "issuer_payment_ref": payment["issuer_ref"] or "",
            }
        params.update(overrides)
        return {key: value for key, value in params.items() if value is not None}

    def send_callback(self, payment_ref, *, status=None, url=None, **overrides):
        """Send the customer's browser to the merchant's callback URL; returns the merchant's HTTP status.

        A GET to merchantCallbackURL (or `url`) with the query of callback_params(); values
        keep `=` unescaped and spaces as %20, as Nagad's redirects do. Call it again for a
        duplicate callback, or with `status="Success"` to forge one.
        """
        params = self.callback_params(payment_ref, status=status, **overrides)
        with self._lock:
            payment = self._payment(payment_ref)
            target = url or payment["callback_url"]
        if not target:
            raise PaymentStateError(f"{payment_ref} has no merchantCallbackURL: complete was never accepted")
        query = "&".join(f"{key}={urllib.parse.quote(str(value), safe='=')}" for key, value in params.items())
        full_url = target + ("&" if "?" in target else "?") + query
        headers = {
            "User-Agent": BROWSER_USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Referer": f"{self.page_url}/check-out/{payment_ref}",
        }
        status_code, answer = self.callback_transport("GET", full_url, None, headers)
        with self._lock:
            self.callbacks.append(
                {
                    "url": full_url,
                    "params": params,
                    "headers": headers,
                    "status": status_code,
                    "answer": answer,
                }
            )
        return status_code

    def _after_customer(self, payment_ref, deliver, duplicate):
        if not deliver:
            return None
        status = self.send_callback(payment_ref)
        if duplicate:
            status = self.send_callback(payment_ref)
        return status

    def _customer_payment(self, payment_ref):
        """The payment the hosted page can act on (lock held)."""
        payment = self._payments.get(payment_ref)
        if payment is None:
            raise PaymentStateError(f"no payment {payment_ref!r}")
        self._refresh(payment)
        if payment["status"] not in ("Ready", "InProgress"):
            raise PaymentStateError(f"payment {payment_ref} is {payment['status']}, not open for payment")
        return payment

    # -- HTTP ------------------------------------------------------------------------

    def _handle(self, handler, method):
        raw = handler.read_body()
        split = urllib.parse.urlsplit(handler.path)
        path = _collapse_slashes(split.path)
        headers = dict(handler.headers.items())
        if path.startswith("/check-out/"):
            return self._serve_page(handler, method, path[len("/check-out/") :])
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with self._lock:
            self.requests.append(RecordedRequest(method, handler.path, headers, parsed, None))
            index = len(self.requests) - 1
        endpoint, args = self._route(path)
        with self._lock:
            forced = None
            if endpoint is not None:
                for position, (wanted, _action) in enumerate(self._forced):
                    if wanted in (None, endpoint):
                        forced = self._forced.pop(position)[1]
                        break
        if self.delay and self._stopping.wait(self.delay):
            handler.close_connection = True
            return
        if forced is not None:
            kind, value = forced
            if kind == "drop":
                handler.close_connection = True
                return
            if kind == "malformed":
                return handler.answer(value, MALFORMED_BODY.encode(), "text/html;charset=utf-8")
            return self._answer_error(handler, value)
        try:
            if endpoint is None:
                raise NagadError("NOT_FOUND", f"No endpoint {path}")
            expected_method = "GET" if endpoint == "verify" else "POST"
            if method != expected_method:
                raise NagadError("METHOD_NOT_ALLOWED", f"Request method '{method}' not supported")
            if endpoint != "verify" or self.verify_requires_headers:
                self._check_headers(headers)
            if endpoint == "verify":
                return self._answer_json(handler, 200, self._verify(*args))
            body = self._check_body(headers, raw)
            answer = getattr(self, f"_{endpoint}")(index, body, *args)
        except NagadError as error:
            return self._answer_error(handler, error)
        if self._hold:
            self.accepted_event.set()
            self._released.wait(HOLD_TIMEOUT)
        self._answer_json(handler, 200, answer)

    def _route(self, path):
        prefix = self.api_prefix + "/"
        if not path.startswith(prefix):
            return None, ()
        parts = path[len(prefix) :].rstrip("/").split("/")
        if parts[:2] == ["check-out", "initialize"] and len(parts) == 4:
            return "initialize", tuple(urllib.parse.unquote(p) for p in parts[2:])
        if parts[:2] == ["check-out", "complete"] and len(parts) == 3:
            return "complete", (urllib.parse.unquote(parts[2]),)
        if parts[:2] == ["verify", "payment"] and len(parts) == 3:
            return "verify", (urllib.parse.unquote(parts[2]),)
        return None, ()

    def _answer_json(self, handler, status, payload):
        handler.answer(status, _compact(payload).encode("utf-8"), "application/json;charset=UTF-8")

    def _answer_error(self, handler, error):
        self._answer_json(handler, error.status, {"reason": error.reason, "message": error.message})

    def _serve_page(self, handler, method, payment_ref):
        """The hosted payment page the customer is sent to; opening it marks the payment InProgress."""
        with self._lock:
            payment = self._payments.get(urllib.parse.unquote(payment_ref.rstrip("/")))
            if payment is not None:
                self._refresh(payment)
                if payment["status"] == "Ready":
                    payment["status"] = "InProgress"
            state = None if payment is None else (payment["status"], payment["amount"], payment["order_id"])
        if method != "GET" or state is None or state[0] == "OrderInitiated":
            page = "<!doctype html><html><head><title>Nagad</title></head><body>Invalid request</body></html>"
            return handler.answer(404, page.encode(), "text/html;charset=utf-8")
        status, amount, order_id = state
        if status == "InProgress":
            text = f"Pay BDT {amount} to merchant {self.merchant_id} for order {order_id}"
        else:
            text = f"This payment session is closed ({status})"
        page = f"<!doctype html><html><head><title>Nagad</title></head><body><p>{text}</p></body></html>"
        handler.answer(200, page.encode("utf-8"), "text/html;charset=utf-8")

    # -- the API's rules ---------------------------------------------------------------

    def _check_headers(self, headers):
        lowered = {name.lower(): value.strip() for name, value in headers.items()}
        for name in ("X-KM-Api-Version", "X-KM-IP-V4", "X-KM-Client-Type"):
            if not lowered.get(name.lower()):
                raise NagadError("MISSING_HEADER", f"Required header {name} is missing")
        if lowered["x-km-api-version"] != API_VERSION:
            raise NagadError("INVALID_API_VERSION")
        try:
            ipaddress.IPv4Address(lowered["x-km-ip-v4"])
        except ValueError:
            raise NagadError("INVALID_IP") from None
        if lowered["x-km-client-type"] not in CLIENT_TYPES:
            raise NagadError("INVALID_CLIENT_TYPE")
        merchant = lowered.get("x-km-mc-id")
        if merchant and merchant != self.merchant_id:
            raise NagadError("UNKNOWN_MERCHANT", "X-KM-MC-Id does not match a merchant")

    @staticmethod
    def _check_body(headers, raw):
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise NagadError("UNSUPPORTED_MEDIA_TYPE")
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise NagadError("INVALID_REQUEST", "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise NagadError("INVALID_REQUEST", "Request body must be a JSON object")
        for name in ("sensitiveData", "signature"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise NagadError("INVALID_REQUEST", f"{name} is required")
        return body

    def _open(self, index, body, required):
        """Decrypt sensitiveData, check the merchant's signature over its exact text, check fields."""
        try:
            ciphertext = base64.b64decode(body["sensitiveData"], validate=True)
            plaintext = self._pg_private.decrypt(ciphertext, padding.PKCS1v15())
            sensitive = json.loads(plaintext.decode("utf-8"))
        except (binascii.Error, ValueError):
            # Wrong key, chunked or oversized plaintext, bad Base64: OpenSSL's implicit
            # rejection turns some of these into random bytes, which fail as JSON here.
            raise NagadError("DECRYPTION_FAILED") from None
        if not isinstance(sensitive, dict):
            raise NagadError("DECRYPTION_FAILED")
        with self._lock:
            self.requests[index] = self.requests[index]._replace(sensitive=sensitive)
        try:
            signature = base64.b64decode(body["signature"], validate=True)
            self._merchant_public.verify(signature, plaintext, padding.PKCS1v15(), self._hash())
        except (binascii.Error, ValueError, InvalidSignature):
            raise NagadError("INVALID_SIGNATURE") from None
        for name in required:
            if not isinstance(sensitive.get(name), str) or not sensitive[name]:
                raise NagadError("INVALID_SENSITIVE_DATA", f"sensitiveData.{name} is required")
        return sensitive

    def _seal(self, payload, bad_signature=False):
        """sensitiveData for the merchant and Nagad's signature over the same JSON text."""
        plaintext = _compact(payload).encode("utf-8")
        signed = plaintext + b" " if bad_signature else plaintext
        signature = self._pg_private.sign(signed, padding.PKCS1v15(), self._hash())
        ciphertext = self._merchant_public.encrypt(plaintext, padding.PKCS1v15())
        return {
            "sensitiveData": base64.b64encode(ciphertext).decode("ascii"),
            "signature": base64.b64encode(signature).decode("ascii"),
        }

    def _initialize(self, index, body, merchant_id, order_id):
        if merchant_id != self.merchant_id:
            raise NagadError("UNKNOWN_MERCHANT")
        if not ORDER_ID_PATTERN.fullmatch(order_id):
            raise NagadError("INVALID_ORDER_ID")
        date_time = body.get("dateTime")
        try:
            if not isinstance(date_time, str) or len(date_time) != 14:
                raise ValueError(date_time)
            sent_at = datetime.datetime.strptime(date_time, DATETIME_FORMAT).replace(tzinfo=DHAKA)
        except ValueError:
            raise NagadError("INVALID_DATETIME") from None
        account = body.get("accountNumber")
        if account is not None and account != self.merchant_number:
            raise NagadError("UNKNOWN_MERCHANT", "accountNumber is not this merchant's wallet")
        sensitive = self._open(index, body, ("merchantId", "datetime", "orderId", "challenge"))
        if sensitive["merchantId"] != merchant_id or sensitive["orderId"] != order_id:
            raise NagadError("DATA_MISMATCH", "sensitiveData merchantId/orderId differ from the URL")
        if sensitive["datetime"] != date_time:
            raise NagadError("DATA_MISMATCH", "sensitiveData datetime differs from dateTime")
        now = self.now()
        if abs((now - sent_at).total_seconds()) > self.datetime_tolerance:
            raise NagadError("STALE_DATETIME")
        challenge = sensitive["challenge"]
        with self._lock:
            if challenge in self._challenges:
                raise NagadError("REPLAYED_CHALLENGE")
            if order_id in self._by_order:
                raise NagadError("DUPLICATE_ORDER_ID")
            self._challenges.add(challenge)
            # Shaped like Nagad's: Base64("MMDDHHMMSSmmm.merchantId.orderId.20 hex digits").
            stamp = now.strftime("%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
            raw_ref = f"{stamp}.{merchant_id}.{order_id}.{secrets.token_hex(10)}"
            ref = base64.b64encode(raw_ref.encode("ascii")).decode("ascii")
            payment = {
                "payment_ref": ref,
                "merchant_id": merchant_id,
                "order_id": order_id,
                "merchant_challenge": challenge,
                "challenge": secrets.token_hex(20),
                "initialized_at": now,
                "expires_at": now + datetime.timedelta(seconds=self.session_ttl),
                "status": "OrderInitiated",
                "amount": None,
                "currency": None,
                "callback_url": None,
                "additional_info": None,
                "completed_at": None,
                "client_mobile": None,
                "issuer_ref": None,
                "issuer_at": None,
                "outcome": None,
                "timed_out": False,
                "verify_overrides": {},
            }
            self._payments[ref] = payment
            self._by_order[order_id] = ref
            bad_signature = self._bad_signatures > 0
            if bad_signature:
                self._bad_signatures -= 1
        return self._seal(
            {
                "paymentReferenceId": ref,
                "challenge": payment["challenge"],
                "acceptDateTime": now.strftime(DATETIME_FORMAT),
            },
            bad_signature,
        )

    def _complete(self, index, body, payment_ref):
        with self._lock:
            if payment_ref not in self._payments:
                raise NagadError("UNKNOWN_PAYMENT_REFERENCE")
        sensitive = self._open(index, body, ("merchantId", "orderId", "currencyCode", "amount", "challenge"))
        callback_url = body.get("merchantCallbackURL")
        now = self.now()
        with self._lock:
            payment = self._payments[payment_ref]
            self._refresh(payment)
            ordered = (payment["merchant_id"], payment["order_id"])
            if (sensitive["merchantId"], sensitive["orderId"]) != ordered:
                raise NagadError("DATA_MISMATCH", "merchantId/orderId differ from the initialized order")
            if not secrets.compare_digest(sensitive["challenge"], payment["challenge"]):
                raise NagadError("CHALLENGE_MISMATCH")
            if payment["status"] != "OrderInitiated":
                if payment["timed_out"] and payment["completed_at"] is None:
                    raise NagadError("SESSION_EXPIRED")
                raise NagadError("ALREADY_COMPLETED")
            if sensitive["currencyCode"] != CURRENCY_BDT:
                raise NagadError("INVALID_CURRENCY")
            amount = sensitive["amount"]
            if not AMOUNT_PATTERN.fullmatch(amount):
                raise NagadError("INVALID_AMOUNT", "amount must be a decimal string such as 500.00")
            value = decimal.Decimal(amount)
            if value < self.min_amount or (self.max_amount is not None and value > self.max_amount):
                raise NagadError("INVALID_AMOUNT", "amount is outside the allowed limits")
            split = urllib.parse.urlsplit(callback_url) if isinstance(callback_url, str) else None
            if split is None or split.scheme not in ("http", "https") or not split.netloc:
                raise NagadError("INVALID_CALLBACK_URL")
            payment.update(
                status="Ready",
                amount=amount,
                currency=CURRENCY_BDT,
                callback_url=callback_url,
                additional_info=body.get("additionalMerchantInfo"),
                completed_at=now,
                expires_at=now + datetime.timedelta(seconds=self.payment_ttl),
            )
        return {"status": "Success", "callBackUrl": f"{self.page_url}/check-out/{payment_ref}"}

    def _verify(self, payment_ref):
        with self._lock:
            payment = self._payments.get(payment_ref)
            if payment is None:
                raise NagadError("UNKNOWN_PAYMENT_REFERENCE")
            self._refresh(payment)
            return self._verify_fields(payment)

    def _verify_fields(self, payment):
        """verify's answer for a payment (lock held)."""
        info = payment["additional_info"]
        if info is not None and not isinstance(info, str):
            # Verify hands additionalMerchantInfo back as JSON text, not as an object.
            info = _compact(info)
        status = payment["status"]
        code = payment["outcome"][0] if payment["outcome"] else OUTCOMES[status][0]
        fields = {
            "merchantId": payment["merchant_id"],
            "orderId": payment["order_id"],
            "paymentRefId": payment["payment_ref"],
            "amount": payment["amount"],
            "clientMobileNo": _masked(payment["client_mobile"]) if payment["client_mobile"] else None,
            "merchantMobileNo": self.merchant_number,
            "orderDateTime": _java_timestamp(payment["initialized_at"]),
            "issuerPaymentDateTime": _java_timestamp(payment["issuer_at"]) if payment["issuer_at"] else None,
            "issuerPaymentRefNo": payment["issuer_ref"],
            "additionalMerchantInfo": info,
            "status": status,
            "statusCode": code,
            "cancelIssuerDateTime": None,
            "cancelIssuerRefNo": None,
        }
        fields.update(payment["verify_overrides"])
        return fields

    # -- helpers (lock held) -----------------------------------------------------------

    def _now_locked(self):
        return datetime.datetime.now(DHAKA) + self._clock_offset

    def _payment(self, payment_ref):
        payment = self._payments.get(payment_ref)
        if payment is None:
            raise KeyError(payment_ref)
        return payment

    def _refresh(self, payment):
        """End a pending payment whose session ran out: Aborted, with the time-out code."""
        if payment["status"] in PENDING and self._now_locked() >= payment["expires_at"]:
            payment.update(
                status="Aborted", timed_out=True, outcome=TIMED_OUT, issuer_at=payment["expires_at"]
            )

    @staticmethod
    def _issuer_ref(number):
        # Nagad's issuer references look like "0000Z1DW": eight upper-case base-36 digits.
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        text = ""
        while number:
            number, rest = divmod(number, 36)
            text = digits[rest] + text
        return text.rjust(8, "0")[-8:]
