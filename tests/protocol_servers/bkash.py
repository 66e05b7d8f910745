"""A local bKash Tokenized Checkout, API v1.2.0-beta (docs: /work/shared/PROTOCOLS.md section 1).

The desk's bKash client is pointed at `BkashServer().base_url` instead of
https://tokenized.sandbox.bka.sh/v1.2.0-beta and must notice no other difference: the
same paths under /tokenized/checkout/, the same headers (`username`/`password` for the
token calls, a raw `Authorization: <id_token>` and `X-APP-Key` for the rest), business
outcomes in `statusCode` under HTTP 200, and the API gateway in front answering 401
`{"message": ...}` for a missing, unknown or expired token and 403 "Missing
Authentication Token" for a path it does not route.

Three parties are played here:

* bKash's API: grant and refresh token, create, execute, query payment, search
  transaction, refund and refund status, with the payment state machine of §1.3 and
  the failure codes of §1.4.
* The customer on bKash's hosted page: `customer_pays()`, `customer_cancels()` and
  `customer_fails()` decide the payment and send the customer's browser to the
  merchant's `callbackURL?paymentID=…&status=success|failure|cancel&signature=…`.
  The page itself is served too (`bkashURL`), so a real browser can click through it.
* Amazon SNS delivering bKash's IPN (§1.5): signed envelopes (RSA, SignatureVersion 1
  or 2) with a locally generated certificate served at `signing_cert_url`, a
  SubscriptionConfirmation whose SubscribeURL is answered here.

Calls towards the merchant (browser callbacks, IPNs) go through `transport`, a
callable(method, url, body, headers) -> (status, body); `flask_client_transport()`
turns a Flask test client into one.

Switches let a test break every check §1.6 asks of the desk: refusals (`fail_next`),
a non-JSON 200 (`malformed_next`), a failing or timing-out gateway (`http_error_next`,
optionally after the operation was performed), a dropped connection
(`disconnect_next`), slowness (`delay`, `delay_next`), an answer held after the money
moved (`hold_after_accept`), answers with wrong fields (`tamper_next`), expired or
revoked tokens (`advance`, `expire_tokens`, `revoke_tokens`), wallets that decline at
execute (`wallet_outcomes`), replayed and forged callbacks (`replay_callback`,
`send_callback`) and duplicate or forged IPNs (`emit_ipn(duplicate=..., bad_signature=...)`).

Usage::

    with BkashServer(app_key="key", app_secret="secret", username="u", password="p") as bkash:
        app.config["BKASH_BASE_URL"] = bkash.base_url
        bkash.transport = flask_client_transport(client)
        ...  # the desk creates a payment
        assert bkash.customer_pays(payment_id) == 302
        assert bkash.payment(payment_id)["transactionStatus"] == "Completed"
"""

import base64
import datetime
import html
import json
import re
import secrets
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import namedtuple
from decimal import Decimal
from decimal import InvalidOperation

from tests.protocol_servers.base import Handler
from tests.protocol_servers.base import TrackingServer

API_VERSION = "v1.2.0-beta"
CHECKOUT_PREFIX = f"/{API_VERSION}/tokenized/checkout"
# Path under CHECKOUT_PREFIX -> the name tests use for the endpoint in switches and records.
ENDPOINTS = {
    "/token/grant": "grant",
    "/token/refresh": "refresh",
    "/create": "create",
    "/execute": "execute",
    "/payment/status": "query",
    "/general/searchTransaction": "search",
    "/payment/refund": "refund",
}
PAGE_PATH = "/redirect/tokenized/"
SNS_PATH = "/sns/"

# A held answer is released by the test; this bounds a test that forgets to.
HOLD_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 10.0

DHAKA = datetime.timezone(datetime.timedelta(hours=6))
WALLET = re.compile(r"01[3-9][0-9]{8}")
AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
MAX_FIELD_LENGTH = 255

# Sandbox wallets (PROTOCOLS.md 1.4): any other well-formed wallet pays normally.
REGULAR_WALLETS = ("01770618575", "01929918378", "01770618576", "01877722345", "01619777282", "01619777283")
INSUFFICIENT_BALANCE_WALLET = "01823074817"
DEBIT_BLOCKED_WALLET = "01823074818"
SANDBOX_OTP = "123456"
SANDBOX_PIN = "12121"

# Numeric statusCode -> statusMessage, from developer.bka.sh/docs/error-codes (PROTOCOLS.md 1.4).
STATUS_MESSAGES = {
    "0000": "Successful",
    "2001": "Invalid App Key",
    "2002": "Invalid Payment ID",
    "2003": "Process failed",
    "2006": "Invalid amount",
    "2007": "Invalid currency",
    "2008": "Invalid intent",
    "2009": "Invalid Wallet",
    "2010": "Invalid OTP",
    "2011": "Invalid PIN",
    "2013": "Resend Limit Exceeded",
    "2014": "Wrong PIN",
    "2015": "Wrong PIN count exceeded",
    "2016": "Wrong verification code",
    "2017": "Wrong verification limit exceeded",
    "2018": "OTP verification time expired",
    "2019": "PIN verification time expired",
    "2020": "Exception Occurred",
    "2023": "Insufficient Balance",
    "2024": "Exception occurred",
    "2025": "Invalid request body",
    "2026": "The reversal amount cannot be greater than the original transaction amount",
    "2029": "Duplicate for all transactions",
    "2031": "Invalid merchant invoice number",
    "2033": "Transaction not found",
    "2034": "The transaction cannot be reversed because the original transaction has been reversed",
    "2035": "Reverse failed because the initiator has no permission to reverse the transaction",
    "2037": "The account of the debit party is in a state which prohibits execution of this transaction",
    "2048": "Invalid Payer Reference",
    "2049": "Invalid Merchant Callback URL",
    "2056": "Invalid Payment State",
    "2057": "Not a bKash Account",
    "2058": "Not a Customer Wallet",
    "2060": "Payment execution pre-requisite hasn't been met",
    "2062": "The payment has already been completed",
    "2063": "Mode is not valid as per request data",
    "2064": "This product mode currently unavailable",
    "2065": "Mandatory field missing",
    "2068": "Transaction has already been completed",
    "2069": "Transaction has already been cancelled",
    "2117": "The payment execution has already been completed",
    "503": "System is undergoing maintenance. Please try again later",
}

# What AWS API Gateway (in front of bKash) answers when it, not bKash, fails.
GATEWAY_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Internal server error",
    503: "Service Unavailable",
    504: "Endpoint request timed out",
}
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>"
)

# Public payment status by internal stage. "created" and "authorised" are both
# "Initiated" to the merchant: only verificationStatus tells them apart.
TRANSACTION_STATUS = {
    "created": "Initiated",
    "authorised": "Initiated",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
CALLBACK_STATUS = {"pay": "success", "fail": "failure", "cancel": "cancel"}

# The SNS fields that are signed, in signing order, by message type (SNS docs).
SNS_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
# bKash's numeric IPN transactionType for a payment made through the API.
IPN_TRANSACTION_TYPE = "10002294"

# A customer's phone browser following the hosted page's redirect.
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Linux; Android 13; SM-A135F) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Referer": "https://sandbox.payment.bkash.com/",
}

RecordedRequest = namedtuple("RecordedRequest", "method path endpoint body headers")
RecordedRequest.__doc__ = """One request as received: method, request target, endpoint name
("grant", "create", … for the API; "page" or "sns" for the hosted page and the SNS
endpoints; None for anything else), the parsed JSON or form body (None when absent or
unparseable) and the headers."""

Fault = namedtuple("Fault", "endpoint kind value performed extra")


class Refused(Exception):
    """A business refusal: HTTP 200 and `{"statusCode": code, "statusMessage": …}`."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class GatewayError(Exception):
    """The API gateway refusing before bKash sees the call: HTTP status and `{"message": …}`."""

    def __init__(self, status, message=None, error_type=None):
        super().__init__(status, message)
        self.status = status
        self.message = message or GATEWAY_MESSAGES.get(status, "Error")
        self.error_type = error_type


def status_body(code, message=None):
    """The tokenized APIs' outcome object for `code`."""
    return {"statusCode": code, "statusMessage": message or STATUS_MESSAGES.get(code, "Error")}


def bkash_time(timestamp):
    """bKash's timestamp format: Dhaka time, a colon before the milliseconds, "GMT+0600"."""
    moment = datetime.datetime.fromtimestamp(timestamp, DHAKA)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f":{moment.microsecond // 1000:03d} GMT+0600"


def sns_string_to_sign(envelope):
    """The text SNS signs: each signed field present in `envelope` as "name\\nvalue\\n", in order."""
    fields = SNS_SIGNED_FIELDS.get(envelope.get("Type"), SNS_SIGNED_FIELDS["Notification"])
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if envelope.get(name) is not None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The merchant's own answer (often a 302 to a receipt page) is what a test wants to see."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Deliveries must reach the local receiver directly even when the environment sets http_proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def urllib_transport(method, url, body, headers):
    """Deliver one call to the merchant over real HTTP; returns (status, response body bytes)."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=DELIVERY_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def flask_client_transport(client):
    """A transport that calls a Flask test client instead of a listening app.

    Set `bkash.transport = flask_client_transport(app.test_client())`: callbacks go to
    the payment's callbackURL (absolute URLs work; the test client uses their path),
    IPNs to `bkash.ipn_url`.
    """

    def send(method, url, body, headers):
        response = client.open(url, method=method, data=body, headers=headers)
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    return send


_signing_lock = threading.Lock()
_signing_material = {}


def _signing_keys():
    """(private key, certificate PEM, forger's key), made once per process: RSA keys take a while."""
    with _signing_lock:
        if not _signing_material:
            # Imported here: only tests that use the IPN pay for loading it.
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.x509.oid import NameOID

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
            now = datetime.datetime.now(datetime.UTC)
            certificate = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365))
                .sign(key, hashes.SHA256())
            )
            _signing_material["key"] = key
            _signing_material["pem"] = certificate.public_bytes(serialization.Encoding.PEM)
            _signing_material["forger"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _signing_material["key"], _signing_material["pem"], _signing_material["forger"]


def _sign(key, text, version):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = hashes.SHA256() if str(version) == "2" else hashes.SHA1()
    return base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)).decode("ascii")


def _random_text(length, alphabet=string.ascii_letters + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _base64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class _Handler(Handler):
    server_version = "Server"

    def do_PATCH(self):
        self.server.owner._handle(self, "PATCH")


class BkashServer:
    """bKash Tokenized Checkout on 127.0.0.1 at a free port, plus its hosted page and SNS IPNs.

    Started on construction; stop with stop() or use as a context manager.

    URLs: `base_url` ("http://127.0.0.1:PORT/v1.2.0-beta", what the sandbox base is to
    the real thing), `checkout_url` (base_url + "/tokenized/checkout"), `origin`.

    Settings (attributes, change any time):
      username, password, app_key, app_secret   the merchant's credentials
      token_lifetime           id_token lifetime in seconds (`expires_in`), 3600
      refresh_token_lifetime   refresh_token lifetime in seconds, 28 days
      session_seconds          how long a created payment can be paid and executed, 600
      refund_window_days       refunds refused (2035) after this many days, 15
      min_amount, max_amount   Decimal limits for create (2006 outside); max None = none
      duplicate_invoice        "any": a merchantInvoiceNumber used before is refused with
                               2029; "completed": only one already completed; None: never
      replayed_execute_code    the code a second execute gets, "2117" (or "2062")
      wallet_outcomes          wallet -> code execute fails with (2023 insufficient
                               balance, 2037 debit block by default)
      default_wallet           customer_pays()'s wallet when payerReference is not a wallet
      otp, pin                 what the hosted page accepts (sandbox 123456 / 12121)
      organization_name, organization_short_code   the merchant as bKash shows it
      transport                callable(method, url, body, headers) -> (status, body)
      ipn_url                  where emit_ipn() posts (the desk's IPN endpoint)
      topic_arn, sns_signature_version ("1" SHA1 or "2" SHA256), signing_cert_url
      delay                    seconds to wait before handling every API request

    Records: `requests` (RecordedRequest), `tokens` (issued id_tokens), `deliveries`
    (callbacks and IPNs sent to the merchant, with its answers), `subscription_confirmed`.
    """

    def __init__(
        self,
        app_key="bkash-app-key",
        app_secret="bkash-app-secret",
        username="sandboxTokenizedUser",
        password="sandboxTokenizedUser@12345",
    ):
        self.app_key = app_key
        self.app_secret = app_secret
        self.username = username
        self.password = password

        self.token_lifetime = 3600
        self.refresh_token_lifetime = 28 * 24 * 3600
        self.session_seconds = 600
        self.refund_window_days = 15
        self.min_amount = Decimal("1")
        self.max_amount = None
        self.duplicate_invoice = "any"
        self.replayed_execute_code = "2117"
        self.wallet_outcomes = {INSUFFICIENT_BALANCE_WALLET: "2023", DEBIT_BLOCKED_WALLET: "2037"}
        self.default_wallet = REGULAR_WALLETS[0]
        self.otp = SANDBOX_OTP
        self.pin = SANDBOX_PIN
        self.organization_name = "Locker Desk"
        self.organization_short_code = "01700000001"
        self.transport = urllib_transport
        self.ipn_url = None
        self.topic_arn = f"arn:aws:sns:ap-southeast-1:123456789012:bkash-ipn-{self.organization_short_code}"
        self.sns_signature_version = "1"
        self._signing_cert_url = None
        self.delay = 0

        self.requests = []
        self.tokens = []
        self.deliveries = []
        self.subscription_confirmed = False
        self.accepted_event = threading.Event()

        self.lock = threading.Lock()
        self._skew = 0.0
        self._id_tokens = {}
        self._refresh_tokens = {}
        self._payments = {}
        self._by_trx = {}
        self._used_ids = set()
        self._faults = []
        self._delays = []
        self._tampers = []
        self._hold = False
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._stopped = False
        self._subscription_token = secrets.token_hex(64)
        self._certificate_name = f"SimpleNotificationService-{secrets.token_hex(16)}.pem"

        self._httpd = TrackingServer(("127.0.0.1", 0), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/{API_VERSION}"
        self.checkout_url = self.origin + CHECKOUT_PREFIX
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"bkash-{self.port}",
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
        with self.lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self._released.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()

    # -- the clock -------------------------------------------------------------------

    def now(self):
        """The server's time (epoch seconds): real time plus everything advance() added."""
        return time.time() + self._skew

    def advance(self, seconds):
        """Move the server's clock forward: tokens, payment sessions and refund windows age."""
        with self.lock:
            self._skew += seconds

    # -- switches --------------------------------------------------------------------

    def fail_next(self, code, endpoint=None, times=1, *, message=None, envelope="status", http_status=200):
        """The next `times` calls (to `endpoint`, or any) are refused with `code`, doing nothing.

        `envelope="status"` answers `{"statusCode", "statusMessage"}`; "error" answers the
        older `{"errorCode", "errorMessage"}` some bKash errors still use. The token is
        checked first, as the gateway does before bKash sees the call.
        """
        self._queue(
            self._faults, Fault(endpoint, "fail", str(code), False, (message, envelope, http_status)), times
        )

    def malformed_next(self, endpoint=None, times=1, *, performed=False, body=None):
        """The next `times` calls answer HTTP 200 with `body` (default an HTML page), not JSON.

        `performed=True` does the operation first (a payment executed whose answer is lost).
        """
        self._queue(
            self._faults, Fault(endpoint, "malformed", body or MALFORMED_BODY, performed, None), times
        )

    def http_error_next(self, status, endpoint=None, times=1, *, performed=False, message=None):
        """The next `times` calls answer HTTP `status` with the API gateway's `{"message"}` body.

        E.g. 504 "Endpoint request timed out" with `performed=True`: bKash executed the
        payment, the gateway gave up waiting (it does after 29 s), the desk must query.
        """
        self._queue(self._faults, Fault(endpoint, "http_error", status, performed, message), times)

    def disconnect_next(self, endpoint=None, times=1, *, performed=False):
        """The next `times` calls get the connection closed with no answer at all."""
        self._queue(self._faults, Fault(endpoint, "disconnect", None, performed, None), times)

    def delay_next(self, seconds, endpoint=None, times=1):
        """The next `times` calls (to `endpoint`, or any) wait `seconds` before being handled."""
        self._queue(self._delays, Fault(endpoint, "delay", seconds, False, None), times)

    def tamper_next(self, endpoint, times=1, **fields):
        """The next `times` successful answers of `endpoint` carry `fields` instead (None removes one).

        E.g. `tamper_next("execute", amount="1.00")` or `tamper_next("query", currency="USD")`
        for the desk's amount and currency checks.
        """
        self._queue(self._tampers, Fault(endpoint, "tamper", fields, False, None), times)

    def _queue(self, queue, fault, times):
        if fault.endpoint is not None and fault.endpoint not in ENDPOINTS.values():
            raise ValueError(f"unknown endpoint {fault.endpoint!r}; one of {sorted(ENDPOINTS.values())}")
        with self.lock:
            queue.extend([fault] * times)

    @staticmethod
    def _pop(queue, endpoint):
        for index, fault in enumerate(queue):
            if fault.endpoint is None or fault.endpoint == endpoint:
                return queue.pop(index)
        return None

    @property
    def hold_after_accept(self):
        """While set, a performed call sets `accepted_event` and its answer waits for release().

        True holds every endpoint; a collection of endpoint names (e.g. {"execute"}) holds
        those. The answer goes out on release(), stop() or after HOLD_TIMEOUT.
        """
        return self._hold

    @hold_after_accept.setter
    def hold_after_accept(self, value):
        with self.lock:
            if value is True or value is False or value is None:
                self._hold = bool(value)
            else:
                self._hold = frozenset(value)
            # After stop() nothing may wait for a release() that cannot come.
            if self._hold and not self._stopping.is_set():
                self.accepted_event.clear()
                self._released.clear()

    def release(self):
        """Let held answers go out; later calls are no longer held."""
        with self.lock:
            self._hold = False
        self._released.set()

    def expire_tokens(self):
        """Every id_token issued so far is now expired (the gateway answers 401 for it)."""
        with self.lock:
            for token in self._id_tokens:
                self._id_tokens[token] = min(self._id_tokens[token], self.now())

    def revoke_tokens(self):
        """Forget every id_token and refresh_token issued so far (401 Unauthorized)."""
        with self.lock:
            self._id_tokens.clear()
            self._refresh_tokens.clear()

    # -- what tests read -------------------------------------------------------------

    def calls(self, endpoint):
        """The recorded requests to one endpoint ("grant", "execute", …), in order."""
        with self.lock:
            return [request for request in self.requests if request.endpoint == endpoint]

    def payment(self, payment_id):
        """A copy of the payment's record with its current transactionStatus, or None."""
        with self.lock:
            record = self._payments.get(payment_id)
            if record is None:
                return None
            self._expire_if_due(record)
            return self._public(record)

    def payments(self):
        """Copies of every payment created, in order."""
        with self.lock:
            for record in self._payments.values():
                self._expire_if_due(record)
            return [self._public(record) for record in self._payments.values()]

    @staticmethod
    def _public(record):
        copy = dict(record)
        copy["transactionStatus"] = TRANSACTION_STATUS[record["stage"]]
        copy["callbacks"] = list(record["callbacks"])
        copy["refunds"] = [dict(refund) for refund in record["refunds"]]
        return copy

    # -- the customer on the hosted page ---------------------------------------------

    def customer_pays(self, payment_id, wallet=None):
        """The customer authorises with `wallet` (default: payerReference if a wallet, else
        default_wallet); the browser goes to the success callback. Returns the merchant's status.

        No money moves yet: the merchant's execute does that (and fails there for a wallet
        in `wallet_outcomes`, e.g. 2023 for INSUFFICIENT_BALANCE_WALLET).
        """
        return self._deliver_callback(self._authorise(payment_id, "pay", wallet=wallet))

    def customer_cancels(self, payment_id):
        """The customer closes the page; the browser goes to the cancel callback. Returns the status."""
        return self._deliver_callback(self._authorise(payment_id, "cancel"))

    def customer_fails(self, payment_id, code="2014"):
        """The page fails the customer (`code`, e.g. 2014 wrong PIN, 2023, 2018); failure callback.

        The code is recorded as `failure_code` on the payment; the merchant never sees it,
        the callback says only status=failure. Returns the merchant's status.
        """
        return self._deliver_callback(self._authorise(payment_id, "fail", code=str(code)))

    def expire(self, payment_id):
        """End the payment's session now, as session_seconds passing would."""
        with self.lock:
            record = self._payments[payment_id]
            if record["stage"] in ("created", "authorised"):
                record["stage"] = "expired"

    def callback_url(self, payment_id, status, *, signature=None):
        """The URL bKash sends the browser to for `status` (success, failure, cancel); no state change."""
        with self.lock:
            record = self._payments[payment_id]
            return self._callback(record["callbackURL"], payment_id, status, signature)

    def send_callback(self, payment_id, status, *, callback_url=None, signature=None):
        """Send a browser to the callback without the customer having done anything; returns status.

        For forged or stale callbacks: e.g. status=success for a payment nobody paid,
        or a made-up paymentID with `callback_url` given.
        """
        if callback_url is None:
            return self._deliver_callback(self.callback_url(payment_id, status, signature=signature))
        return self._deliver_callback(self._callback(callback_url, payment_id, status, signature))

    def replay_callback(self, payment_id, index=-1):
        """Send the same callback URL again (back button, reload, a replay); returns the status."""
        with self.lock:
            url = self._payments[payment_id]["callbacks"][index]
        return self._deliver_callback(url)

    def _authorise(self, payment_id, action, wallet=None, code=None):
        """Decide the payment as the hosted page would; returns the callback URL to send the browser to."""
        with self.lock:
            record = self._payments.get(payment_id)
            if record is None:
                raise KeyError(f"{payment_id} was never created here")
            self._expire_if_due(record)
            if record["stage"] != "created":
                status = TRANSACTION_STATUS[record["stage"]]
                raise ValueError(f"payment {payment_id} is {status}; the bKash page no longer takes it")
            if action == "pay":
                if wallet is None:
                    reference = record["payerReference"]
                    wallet = reference if WALLET.fullmatch(reference) else self.default_wallet
                if not WALLET.fullmatch(wallet):
                    raise ValueError(f"{wallet!r} is not a bKash wallet number")
                record["stage"] = "authorised"
                record["wallet"] = wallet
            elif action == "cancel":
                record["stage"] = "cancelled"
            else:
                record["stage"] = "failed"
                record["failure_code"] = code
            url = self._callback(record["callbackURL"], payment_id, CALLBACK_STATUS[action])
            record["callbacks"].append(url)
            return url

    @staticmethod
    def _callback(base, payment_id, status, signature=None):
        query = urllib.parse.urlencode(
            {
                "paymentID": payment_id,
                "status": status,
                # Opaque: bKash documents no way for the merchant to verify it.
                "signature": signature if signature is not None else _random_text(10),
                "apiVersion": API_VERSION.removeprefix("v"),
            }
        )
        return f"{base}{'&' if '?' in base else '?'}{query}"

    def _deliver_callback(self, url):
        status, _answer = self._deliver("callback", "GET", url, None, dict(BROWSER_HEADERS))
        return status

    # -- SNS: the IPN ----------------------------------------------------------------

    @property
    def certificate_pem(self):
        """The PEM certificate whose key signs this server's SNS messages."""
        return _signing_keys()[1]

    @property
    def signing_cert_url(self):
        """SigningCertURL in the envelopes: by default the PEM served by this server.

        Set it to an https://sns.<region>.amazonaws.com/….pem URL to test the desk's
        allow-list (the desk must then be given `certificate_pem` some other way).
        """
        return self._signing_cert_url or f"{self.origin}{SNS_PATH}{self._certificate_name}"

    @signing_cert_url.setter
    def signing_cert_url(self, value):
        self._signing_cert_url = value

    @property
    def subscribe_url(self):
        """The SubscribeURL of this server's SubscriptionConfirmation."""
        query = urllib.parse.urlencode(
            {"Action": "ConfirmSubscription", "TopicArn": self.topic_arn, "Token": self._subscription_token}
        )
        return f"{self.origin}{SNS_PATH}?{query}"

    def ipn_message(self, payment_id):
        """The inner IPN message (the `Message` JSON) for a completed payment."""
        with self.lock:
            record = self._payments.get(payment_id)
            if record is None:
                raise KeyError(f"{payment_id} was never created here")
            if record["stage"] != "completed":
                raise ValueError(
                    f"payment {payment_id} is not completed; bKash sends IPNs for completed ones"
                )
            executed = datetime.datetime.fromtimestamp(record["executed_at"], DHAKA)
            return {
                "dateTime": executed.strftime("%Y%m%d%H%M%S"),
                "debitMSISDN": record["wallet"],
                "creditOrganizationName": self.organization_name,
                "creditShortCode": self.organization_short_code,
                "trxID": record["trxID"],
                "transactionStatus": "Completed",
                "transactionType": IPN_TRANSACTION_TYPE,
                # Formatted by bKash's core, not echoed: compare as Decimal.
                "amount": f"{Decimal(record['amount']):.2f}",
                "currency": record["currency"],
                "transactionReference": record["payerReference"],
                "merchantInvoiceNumber": record["merchantInvoiceNumber"],
            }

    def sns_envelope(
        self,
        message_type,
        message,
        *,
        subject=None,
        topic_arn=None,
        signing_cert_url=None,
        signature_version=None,
        bad_signature=False,
    ):
        """A signed SNS envelope of `message_type` carrying `message` (a string)."""
        key, _pem, forger = _signing_keys()
        topic = topic_arn or self.topic_arn
        version = str(signature_version or self.sns_signature_version)
        envelope = {"Type": message_type, "MessageId": str(uuid.uuid4())}
        confirmation = message_type != "Notification"
        if confirmation:
            envelope["Token"] = self._subscription_token
        envelope["TopicArn"] = topic
        if subject is not None:
            envelope["Subject"] = subject
        envelope["Message"] = message
        if confirmation:
            envelope["SubscribeURL"] = self.subscribe_url
        moment = datetime.datetime.fromtimestamp(self.now(), datetime.UTC)
        envelope["Timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        envelope["SignatureVersion"] = version
        envelope["Signature"] = _sign(forger if bad_signature else key, sns_string_to_sign(envelope), version)
        envelope["SigningCertURL"] = signing_cert_url or self.signing_cert_url
        if not confirmation:
            arn = urllib.parse.quote(f"{topic}:{uuid.uuid4()}", safe="")
            envelope["UnsubscribeURL"] = f"{self.origin}{SNS_PATH}?Action=Unsubscribe&SubscriptionArn={arn}"
        return envelope

    def emit_subscription_confirmation(self):
        """POST SNS's SubscriptionConfirmation to `ipn_url`; the desk confirms by GETting SubscribeURL.

        Returns the desk's HTTP status; `subscription_confirmed` turns True once it has.
        """
        message = (
            f"You have chosen to subscribe to the topic {self.topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
        return self._post_sns(self.sns_envelope("SubscriptionConfirmation", message))

    def emit_ipn(
        self,
        payment_id,
        *,
        duplicate=False,
        bad_signature=False,
        message=None,
        topic_arn=None,
        signing_cert_url=None,
        signature_version=None,
    ):
        """POST a signed IPN Notification for a completed payment to `ipn_url`; returns the status.

        `duplicate` delivers the very same envelope twice, as SNS retries do (the second
        answer is returned); `bad_signature` signs with a key not matching the certificate;
        `message` overrides fields of the inner message (None removes one); `topic_arn`
        and `signing_cert_url` put other values in the envelope (signed as given).
        """
        inner = self.ipn_message(payment_id)
        for name, value in (message or {}).items():
            if value is None:
                inner.pop(name, None)
            else:
                inner[name] = value
        envelope = self.sns_envelope(
            "Notification",
            json.dumps(inner, separators=(",", ":"), ensure_ascii=False),
            topic_arn=topic_arn,
            signing_cert_url=signing_cert_url,
            signature_version=signature_version,
            bad_signature=bad_signature,
        )
        status = self._post_sns(envelope)
        if duplicate:
            status = self._post_sns(envelope)
        return status

    def emit_raw_ipn(self, body, headers=None):
        """POST `body` bytes to `ipn_url` as SNS would, with `headers` added; returns the status."""
        base = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        status, _answer = self._deliver("ipn", "POST", self._ipn_target(), body, {**base, **(headers or {})})
        return status

    def _post_sns(self, envelope):
        body = json.dumps(envelope, indent=2, separators=(",", " : "), ensure_ascii=False).encode("utf-8")
        headers = {
            "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": envelope["TopicArn"],
        }
        if envelope["Type"] == "Notification":
            headers["x-amz-sns-subscription-arn"] = f"{envelope['TopicArn']}:{uuid.uuid4()}"
        return self.emit_raw_ipn(body, headers)

    def _ipn_target(self):
        if not self.ipn_url:
            raise RuntimeError("set bkash.ipn_url to the desk's IPN endpoint before emitting")
        return self.ipn_url

    def _deliver(self, kind, method, url, body, headers):
        status, answer = self.transport(method, url, body, headers)
        with self.lock:
            self.deliveries.append(
                {
                    "kind": kind,
                    "method": method,
                    "url": url,
                    "body": body,
                    "headers": headers,
                    "status": status,
                    "answer": answer,
                }
            )
        return status, answer

    # -- serving ---------------------------------------------------------------------

    def _handle(self, handler, method):
        split = urllib.parse.urlsplit(handler.path)
        raw = handler.read_body()
        path = split.path
        if path.startswith(CHECKOUT_PREFIX + "/"):
            # Exact paths only: the gateway routes no trailing-slash variants.
            endpoint = ENDPOINTS.get(path[len(CHECKOUT_PREFIX) :])
            return self._serve_api(handler, method, endpoint, raw)
        if path in (PAGE_PATH, PAGE_PATH.rstrip("/")):
            self._record(handler, method, "page", self._form(raw) if method == "POST" else None)
            return self._serve_page(handler, method, split, raw)
        if path.startswith(SNS_PATH):
            self._record(handler, method, "sns", None)
            return self._serve_sns(handler, method, split)
        self._record(handler, method, None, None)
        return self._gateway_answer(
            handler, GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        )

    def _record(self, handler, method, endpoint, body):
        with self.lock:
            self.requests.append(
                RecordedRequest(method, handler.path, endpoint, body, dict(handler.headers.items()))
            )

    def _serve_api(self, handler, method, endpoint, raw):
        body, parsed = None, False
        if raw.strip():
            try:
                body = json.loads(raw.decode("utf-8"))
                parsed = isinstance(body, dict)
            except ValueError:  # UnicodeDecodeError is a ValueError
                body = None
        else:
            body, parsed = {}, True
        self._record(handler, method, endpoint, body)
        if endpoint is None or method != "POST":
            # API Gateway's answer for a route or method it does not have.
            return self._gateway_answer(
                handler,
                GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
            )
        with self.lock:
            delayed = self._pop(self._delays, endpoint)
        wait = self.delay + (delayed.value if delayed else 0)
        if wait and self._stopping.wait(wait):
            handler.close_connection = True
            return
        try:
            self._check_auth(endpoint, handler.headers)
        except GatewayError as error:
            return self._gateway_answer(handler, error)
        except Refused as refused:
            return self._json_answer(handler, 200, status_body(refused.code))
        with self.lock:
            fault = self._pop(self._faults, endpoint)
        if fault is not None and not fault.performed:
            return self._fault_answer(handler, fault)
        with self.lock:
            try:
                if not parsed:
                    raise Refused("2025")
                answer = getattr(self, f"_api_{endpoint}")(body, handler.headers)
            except Refused as refused:
                answer = status_body(refused.code)
            except GatewayError as error:
                answer = error
            ok = isinstance(answer, dict) and answer.get("statusCode") == "0000"
            if ok:
                self._apply_tamper(endpoint, answer)
            held = ok and (
                self._hold is True or (isinstance(self._hold, frozenset) and endpoint in self._hold)
            )
            if held:
                self.accepted_event.set()
        if held:
            self._released.wait(HOLD_TIMEOUT)
        if fault is not None:
            return self._fault_answer(handler, fault)
        if isinstance(answer, GatewayError):
            return self._gateway_answer(handler, answer)
        self._json_answer(handler, 200, answer)

    def _apply_tamper(self, endpoint, answer):
        tamper = self._pop(self._tampers, endpoint)
        for name, value in tamper.value.items() if tamper else ():
            if value is None:
                answer.pop(name, None)
            else:
                answer[name] = value

    def _fault_answer(self, handler, fault):
        if fault.kind == "fail":
            message, envelope, http_status = fault.extra
            body = status_body(fault.value, message)
            if envelope == "error":
                body = {"errorCode": body["statusCode"], "errorMessage": body["statusMessage"]}
            return self._json_answer(handler, http_status, body)
        if fault.kind == "malformed":
            return handler.answer(200, fault.value, "text/html; charset=utf-8")
        if fault.kind == "http_error":
            return self._gateway_answer(handler, GatewayError(fault.value, fault.extra))
        # disconnect: close without a word.
        handler.close_connection = True

    def _json_answer(self, handler, status, payload, extra=()):
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = [
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amz-apigw-id", _random_text(16)),
            *extra,
        ]
        handler.answer(status, body, "application/json;charset=UTF-8", headers)

    def _gateway_answer(self, handler, error):
        extra = [("x-amzn-ErrorType", error.error_type)] if error.error_type else []
        self._json_answer(handler, error.status, {"message": error.message}, extra)

    # -- the API's rules (called with the lock held) ----------------------------------

    def _check_auth(self, endpoint, headers):
        """Token calls need username/password headers; the rest a live id_token and the app key."""
        if endpoint in ("grant", "refresh"):
            if headers.get("username") != self.username or headers.get("password") != self.password:
                raise GatewayError(401, "Unauthorized", "UnauthorizedException")
            return
        token = headers.get("Authorization")
        with self.lock:
            expires_at = self._id_tokens.get(token) if token else None
            now = self.now()
        if expires_at is None:
            raise GatewayError(401, "Unauthorized", "UnauthorizedException")
        if now >= expires_at:
            raise GatewayError(401, "The incoming token has expired", "UnauthorizedException")
        if headers.get("X-APP-Key") != self.app_key:
            # Past the gateway, bKash itself checks the app key: a business refusal.
            raise Refused("2001")

    @staticmethod
    def _required(body, *names):
        """Refuse with 2065 unless every field is present and not empty."""
        for name in names:
            if body.get(name) is None or body.get(name) == "":
                raise Refused("2065")

    def _new_id(self, make):
        while True:
            value = make()
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _issue_token(self, kind, refresh_token=None):
        now = self.now()
        header = _base64url(json.dumps({"kid": _random_text(20), "alg": "RS256"}).encode())
        claims = {
            "sub": str(uuid.uuid4()),
            "token_use": "id",
            "aud": self.app_key,
            "iat": int(now),
            "exp": int(now + self.token_lifetime),
            "jti": str(uuid.uuid4()),
        }
        id_token = ".".join(
            (header, _base64url(json.dumps(claims).encode()), _base64url(secrets.token_bytes(64)))
        )
        self._id_tokens[id_token] = now + self.token_lifetime
        if refresh_token is None:
            refresh_token = ".".join(
                [_base64url(b'{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}')]
                + [_base64url(secrets.token_bytes(size)) for size in (256, 12, 600, 16)]
            )
            self._refresh_tokens[refresh_token] = now + self.refresh_token_lifetime
        self.tokens.append(
            {"kind": kind, "id_token": id_token, "refresh_token": refresh_token, "issued_at": now}
        )
        return {
            **status_body("0000"),
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "refresh_token": refresh_token,
        }

    def _check_app_credentials(self, body):
        self._required(body, "app_key", "app_secret")
        if body["app_key"] != self.app_key or body["app_secret"] != self.app_secret:
            raise Refused("2001")

    def _api_grant(self, body, headers):
        self._check_app_credentials(body)
        return self._issue_token("grant")

    def _api_refresh(self, body, headers):
        self._check_app_credentials(body)
        self._required(body, "refresh_token")
        expires_at = self._refresh_tokens.get(body["refresh_token"])
        if expires_at is None or self.now() >= expires_at:
            raise GatewayError(401, "Unauthorized", "UnauthorizedException")
        # Cognito keeps the refresh token: the same one comes back with the new id_token.
        return self._issue_token("refresh", refresh_token=body["refresh_token"])

    def _api_create(self, body, headers):
        self._required(
            body,
            "mode",
            "payerReference",
            "callbackURL",
            "amount",
            "currency",
            "intent",
            "merchantInvoiceNumber",
        )
        mode = body["mode"]
        if mode in ("0000", "0001"):
            # Agreement modes exist, but not for a URL-checkout merchant.
            raise Refused("2064")
        if mode != "0011":
            raise Refused("2063")
        reference = body["payerReference"]
        if not isinstance(reference, str) or len(reference) > MAX_FIELD_LENGTH:
            raise Refused("2048")
        callback = body["callbackURL"]
        if not isinstance(callback, str) or len(callback) > MAX_FIELD_LENGTH or not _is_web_url(callback):
            raise Refused("2049")
        amount = _amount(body["amount"])
        if (
            amount is None
            or amount < self.min_amount
            or (self.max_amount is not None and amount > self.max_amount)
        ):
            raise Refused("2006")
        if body["currency"] != "BDT":
            raise Refused("2007")
        if body["intent"] != "sale":
            raise Refused("2008")
        invoice = body["merchantInvoiceNumber"]
        if not isinstance(invoice, str) or len(invoice) > MAX_FIELD_LENGTH:
            raise Refused("2031")
        if self._invoice_taken(invoice):
            raise Refused("2029")
        now = self.now()
        payment_id = self._new_id(lambda: "TR0011" + _random_text(7) + str(int(now * 1000)))
        record = {
            "paymentID": payment_id,
            "mode": mode,
            "payerReference": reference,
            "callbackURL": callback,
            "amount": body["amount"],
            "currency": body["currency"],
            "intent": body["intent"],
            "merchantInvoiceNumber": invoice,
            "merchantAssociationInfo": body.get("merchantAssociationInfo") or None,
            "hash": _random_text(96, string.ascii_letters + string.digits + "-_.!()"),
            "created_at": now,
            "stage": "created",
            "wallet": None,
            "failure_code": None,
            "trxID": None,
            "executed_at": None,
            "callbacks": [],
            "refunds": [],
        }
        self._payments[payment_id] = record
        return {
            **status_body("0000"),
            "paymentID": payment_id,
            "bkashURL": self._page_url(record),
            "callbackURL": callback,
            "successCallbackURL": self._plain_callback(callback, payment_id, "success"),
            "failureCallbackURL": self._plain_callback(callback, payment_id, "failure"),
            "cancelledCallbackURL": self._plain_callback(callback, payment_id, "cancel"),
            "amount": record["amount"],
            "intent": record["intent"],
            "currency": record["currency"],
            "paymentCreateTime": bkash_time(now),
            "transactionStatus": "Initiated",
            "merchantInvoiceNumber": invoice,
        }

    def _invoice_taken(self, invoice, ignore=None):
        for record in self._payments.values():
            if record is ignore or record["merchantInvoiceNumber"] != invoice:
                continue
            if self.duplicate_invoice == "any" or (
                self.duplicate_invoice == "completed" and record["stage"] == "completed"
            ):
                return True
        return False

    def _page_url(self, record):
        query = urllib.parse.urlencode(
            {
                "paymentID": record["paymentID"],
                "hash": record["hash"],
                "mode": record["mode"],
                "apiVersion": API_VERSION,
            }
        )
        return f"{self.origin}{PAGE_PATH}?{query}"

    @staticmethod
    def _plain_callback(base, payment_id, status):
        return f"{base}{'&' if '?' in base else '?'}paymentID={payment_id}&status={status}"

    def _payment_for(self, body):
        self._required(body, "paymentID")
        record = self._payments.get(body["paymentID"]) if isinstance(body["paymentID"], str) else None
        if record is None:
            raise Refused("2002")
        self._expire_if_due(record)
        return record

    def _expire_if_due(self, record):
        if (
            record["stage"] in ("created", "authorised")
            and self.now() >= record["created_at"] + self.session_seconds
        ):
            record["stage"] = "expired"

    def _api_execute(self, body, headers):
        record = self._payment_for(body)
        if record["stage"] == "completed":
            raise Refused(self.replayed_execute_code)
        if record["stage"] != "authorised":
            raise Refused("2056")
        if self.duplicate_invoice == "completed" and self._invoice_taken(
            record["merchantInvoiceNumber"], record
        ):
            raise Refused("2029")
        code = self.wallet_outcomes.get(record["wallet"])
        if code is not None:
            record["stage"] = "failed"
            record["failure_code"] = code
            raise Refused(code)
        now = self.now()
        record["stage"] = "completed"
        record["executed_at"] = now
        record["trxID"] = self._new_id(lambda: _random_text(10, string.ascii_uppercase + string.digits))
        self._by_trx[record["trxID"]] = record
        return {
            **status_body("0000"),
            "paymentID": record["paymentID"],
            "payerReference": record["payerReference"],
            "customerMsisdn": record["wallet"],
            "trxID": record["trxID"],
            "amount": record["amount"],
            "transactionStatus": "Completed",
            "paymentExecuteTime": bkash_time(now),
            "currency": record["currency"],
            "intent": record["intent"],
            "merchantInvoiceNumber": record["merchantInvoiceNumber"],
        }

    def _api_query(self, body, headers):
        record = self._payment_for(body)
        answer = {
            "paymentID": record["paymentID"],
            "mode": record["mode"],
            "paymentCreateTime": bkash_time(record["created_at"]),
        }
        if record["executed_at"] is not None:
            answer["paymentExecuteTime"] = bkash_time(record["executed_at"])
        answer.update(
            {
                "amount": record["amount"],
                "currency": record["currency"],
                "intent": record["intent"],
                # Query names the invoice field differently from create and execute.
                "merchantInvoice": record["merchantInvoiceNumber"],
            }
        )
        if record["trxID"] is not None:
            answer["trxID"] = record["trxID"]
        answer.update(
            {
                "transactionStatus": TRANSACTION_STATUS[record["stage"]],
                "verificationStatus": "Incomplete"
                if record["stage"] in ("created", "expired")
                else "Complete",
                **status_body("0000"),
                "payerReference": record["payerReference"],
            }
        )
        return answer

    def _api_search(self, body, headers):
        self._required(body, "trxID")
        record = self._by_trx.get(body["trxID"]) if isinstance(body["trxID"], str) else None
        if record is None:
            raise Refused("2033")
        executed = bkash_time(record["executed_at"])
        return {
            "trxID": record["trxID"],
            "initiationTime": executed,
            "completedTime": executed,
            "transactionType": "bKash Tokenized Checkout via API",
            "customerMsisdn": record["wallet"],
            "payerAccount": record["wallet"],
            "transactionStatus": "Completed",
            "amount": record["amount"],
            "currency": record["currency"],
            "organizationShortCode": self.organization_short_code,
            **status_body("0000"),
        }

    def _api_refund(self, body, headers):
        """Refund v1: with `amount` a refund, without it the status of the latest refund."""
        self._required(body, "paymentID", "trxID")
        record = self._payment_for(body)
        if record["stage"] != "completed":
            raise Refused("2056")
        if body["trxID"] != record["trxID"]:
            raise Refused("2033")
        if "amount" not in body:
            if not record["refunds"]:
                raise Refused("2002")
            return self._refund_answer(record, record["refunds"][-1])
        self._required(body, "amount", "sku", "reason")
        amount = _amount(body["amount"])
        if amount is None or amount <= 0:
            raise Refused("2006")
        now = self.now()
        if now > record["executed_at"] + self.refund_window_days * 86400:
            raise Refused("2035")
        refunded = sum((Decimal(refund["amount"]) for refund in record["refunds"]), Decimal(0))
        if amount > Decimal(record["amount"]) - refunded:
            raise Refused("2026")
        refund = {
            "refundTrxID": self._new_id(lambda: _random_text(10, string.ascii_uppercase + string.digits)),
            "amount": body["amount"],
            "sku": body["sku"],
            "reason": body["reason"],
            "completed_at": now,
        }
        record["refunds"].append(refund)
        return self._refund_answer(record, refund)

    @staticmethod
    def _refund_answer(record, refund):
        return {
            **status_body("0000"),
            "originalTrxID": record["trxID"],
            "refundTrxID": refund["refundTrxID"],
            "transactionStatus": "Completed",
            "amount": refund["amount"],
            "currency": record["currency"],
            "charge": "0.00",
            "completedTime": bkash_time(refund["completed_at"]),
        }

    # -- the hosted page -------------------------------------------------------------

    @staticmethod
    def _form(raw):
        try:
            return dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except ValueError:
            return {}

    def _serve_page(self, handler, method, split, raw):
        """GET shows the payment page; POST (the page's form) decides it and redirects to the merchant."""
        fields = dict(urllib.parse.parse_qsl(split.query)) if method == "GET" else self._form(raw)
        payment_id, page_hash = fields.get("paymentID", ""), fields.get("hash", "")
        with self.lock:
            record = self._payments.get(payment_id)
            if record is None or not secrets.compare_digest(record["hash"], page_hash):
                return self._page_answer(handler, 404, "<p>Invalid payment request.</p>")
            self._expire_if_due(record)
            if record["stage"] != "created":
                return self._page_answer(handler, 400, "<p>This payment session is no longer valid.</p>")
            if method != "POST":
                return self._page_answer(handler, 200, self._page_form(record))
            action = fields.get("action")
            wallet = fields.get("wallet", "")
            error = None
            if action == "pay":
                if not WALLET.fullmatch(wallet):
                    error = "Please enter a valid bKash account number."
                elif fields.get("otp") != self.otp:
                    error = "Wrong verification code."
                elif fields.get("pin") != self.pin:
                    error = "Wrong PIN."
            elif action != "cancel":
                error = "Please try again."
            if error is not None:
                return self._page_answer(handler, 400, self._page_form(record, error, wallet))
        try:
            url = self._authorise(payment_id, action, wallet=wallet if action == "pay" else None)
        except ValueError:
            # Decided by someone else (customer_* or another tab) since the checks above.
            return self._page_answer(handler, 400, "<p>This payment session is no longer valid.</p>")
        handler.answer(302, b"", None, [("Location", url), ("Cache-Control", "no-store")])

    def _page_form(self, record, error=None, wallet=None):
        if wallet is None:
            wallet = record["payerReference"] if WALLET.fullmatch(record["payerReference"]) else ""
        escape = html.escape
        notice = f'<p class="error">{escape(error)}</p>' if error else ""
        return (
            f"<p>Merchant: {escape(self.organization_name)}</p>"
            f"<p>Invoice: {escape(record['merchantInvoiceNumber'])}</p>"
            f"<p>Amount: ৳{escape(record['amount'])}</p>{notice}"
            f'<form method="post" action="{PAGE_PATH}">'
            f'<input type="hidden" name="paymentID" value="{escape(record["paymentID"])}">'
            f'<input type="hidden" name="hash" value="{escape(record["hash"])}">'
            f'<label>Your bKash Account number <input name="wallet" value="{escape(wallet)}"></label>'
            '<label>Verification code <input name="otp" inputmode="numeric"></label>'
            '<label>PIN <input name="pin" type="password" inputmode="numeric"></label>'
            '<button name="action" value="pay">Confirm</button>'
            '<button name="action" value="cancel">Close</button>'
            "</form>"
        )

    @staticmethod
    def _page_answer(handler, status, content):
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bKash Payment</title></head>'
            f"<body><h1>bKash</h1>{content}</body></html>"
        )
        handler.answer(status, page.encode("utf-8"), "text/html; charset=utf-8")

    # -- the SNS endpoints -------------------------------------------------------------

    def _serve_sns(self, handler, method, split):
        """The signing certificate, and SubscribeURL / UnsubscribeURL, as SNS serves them."""
        name = split.path[len(SNS_PATH) :]
        if method == "GET" and name == self._certificate_name:
            return handler.answer(200, self.certificate_pem, "application/x-x509-ca-cert")
        query = dict(urllib.parse.parse_qsl(split.query))
        action = query.get("Action")
        request_id = str(uuid.uuid4())
        if method == "GET" and name == "" and action == "ConfirmSubscription":
            if query.get("Token") == self._subscription_token and query.get("TopicArn") == self.topic_arn:
                with self.lock:
                    self.subscription_confirmed = True
                arn = f"{self.topic_arn}:{uuid.uuid4()}"
                body = (
                    '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                    f"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn>"
                    f"</ConfirmSubscriptionResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
                    "</ResponseMetadata></ConfirmSubscriptionResponse>"
                )
                return handler.answer(200, body.encode(), "text/xml")
        elif method == "GET" and name == "" and action == "Unsubscribe":
            with self.lock:
                self.subscription_confirmed = False
            body = (
                '<UnsubscribeResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></UnsubscribeResponse>"
            )
            return handler.answer(200, body.encode(), "text/xml")
        body = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
            "<Code>InvalidParameter</Code><Message>Invalid parameter: Token</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        handler.answer(400, body.encode(), "text/xml")


def _amount(value):
    """`value` as a Decimal when it is a taka amount string ("150", "150.5", "150.00"), else None.

    Numbers are refused: amounts cross the wire as strings, and a float would be the
    desk's bug.
    """
    if not isinstance(value, str) or not AMOUNT.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _is_web_url(value):
    try:
        split = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return split.scheme in ("http", "https") and bool(split.netloc)
