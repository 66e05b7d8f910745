"""A local SSLCommerz v4 hosted checkout: the merchant APIs and the gateway's calls back (PROTOCOLS.md §3).

The desk's SSLCommerz client is pointed at `SslCommerzServer().base_url` instead of
https://sandbox.sslcommerz.com (with `sslcommerz-python`, by overwriting the instance
attributes `sslc_session_api` / `sslc_validation_api` with `session_api_url` /
`validation_api_url`). On the wire it then sees what the real gateway does:

* POST /gwprocess/v4/api.php, form-encoded, answering JSON `status` SUCCESS/FAILED with
  `failedreason`, `sessionkey` and a `GatewayPageURL` on this server. As in PHP, only a
  form body fills the fields: a JSON body arrives as "no store_id" and is refused with the
  store-credential error.
* GET /validator/api/validationserverAPI.php (VALID the first time, VALIDATED after,
  INVALID_TRANSACTION for a val_id it never issued).
* GET /validator/api/merchantTransIDvalidationAPI.php for the query by `tran_id` or
  `sessionkey`, refund initiation (`bank_tran_id` + `refund_amount`) and refund status
  (`refund_ref_id`), with the `APIConnect` envelope.

The customer is played by the test: `customer_pays`, `customer_fails`, `customer_cancels`
and `customer_abandons` end a session the way the gateway does, POSTing the signed IPN
form (verify_sign = MD5 rule, verify_sign_sha2 = SHA-256 rule, verify_key = the signed
field names) to the merchant's ipn_url, and return the browser's form POST to
success_url / fail_url / cancel_url as an `Outcome` the test delivers when it wants
(`post_redirect`), as often as it wants (replays). A headless browser can do the same
through the gateway page, which offers Pay / Fail / Cancel buttons and answers with the
auto-submitting form the real gateway renders.

Failures a test can provoke: refused sessions (credentials, inactive store, missing
fields, amount bounds, unknown currency, long or duplicate tran_id), wrong, missing or
dangling signatures, fields changed after signing, amounts or currencies other than the
session's, risk_level 1, declined / cancelled / unattempted / expired payments, forced
answers per endpoint (`fail_next`), non-JSON 200 answers (`malformed_next`), proxy errors
(`http_error_next`), slowness (`delay`) and a session created whose answer never comes
(`hold_after_accept`).

Money is a decimal string on the wire ("500.00") and `Decimal` in the records here.

Stricter than the real gateway may be: a tran_id over the documented 30 characters is
refused. `sslcommerz-python` generates a 36-character uuid4 tran_id of its own, so a desk
using it unchanged is refused here; whether the real gateway refuses, truncates or accepts
it is not documented (set `max_tran_id_length = None` to accept it).
"""

import datetime
import hashlib
import hmac
import html
import json
import secrets
import string
import threading
import urllib.error
import urllib.request
from collections import namedtuple
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

from tests.protocol_servers.base import Handler
from tests.protocol_servers.base import TrackingServer

SESSION_PATH = "/gwprocess/v4/api.php"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
TRANSACTION_PATH = "/validator/api/merchantTransIDvalidationAPI.php"
CHECKOUT_PREFIX = "/EasyCheckOut/"
# Older and per-gateway page addresses the session answer also carries; a browser that
# follows one must land on the same gateway page.
LEGACY_PAGE_PATHS = (
    "/gwprocess/v4/gw.php",
    "/gwprocess/v4/bankgw/indexhtml.php",
    "/gwprocess/v4/bankgw/indexhtmlOTP.php",
)

# Names `fail_next`, `malformed_next` and `http_error_next` take.
ENDPOINTS = ("session", "validation", "query", "refund", "refund_status")

CREDENTIAL_ERROR = "Store Credential Error Or Store is De-active"
MIN_AMOUNT = Decimal("10.00")
MAX_AMOUNT = Decimal("500000.00")
MAX_TRAN_ID = 30
MAX_URL = 255
MAX_VALUE = 255
CENT = Decimal("0.01")
RATE = Decimal("0.0001")

REQUIRED_SESSION_FIELDS = (
    "total_amount",
    "currency",
    "tran_id",
    "success_url",
    "fail_url",
    "cancel_url",
    "cus_name",
    "cus_email",
    "cus_add1",
    "cus_city",
    "cus_country",
    "cus_phone",
    "shipping_method",
    "product_name",
    "product_category",
    "product_profile",
)
# Mandatory only when shipping_method is YES (v4 docs).
SHIPPING_FIELDS = ("num_of_item", "ship_name", "ship_add1", "ship_city", "ship_postcode", "ship_country")
PASS_THROUGH = ("value_a", "value_b", "value_c", "value_d")

# The gateway stamps dates in Bangladesh time, without a zone.
DHAKA = datetime.timezone(datetime.timedelta(hours=6), "Asia/Dhaka")

# A held answer is released by the test; this bounds a test that forgets to.
HOLD_TIMEOUT = 30.0
CALLBACK_TIMEOUT = 10.0

VISA_CARD = {
    "card_type": "VISA-Dutch Bangla",
    "card_no": "418117XXXXXX6675",
    "card_issuer": "TRUST BANK, LTD.",
    "card_brand": "VISA",
    "card_sub_brand": "Classic",
    "card_issuer_country": "Bangladesh",
    "card_issuer_country_code": "BD",
}
BKASH_WALLET = {
    "card_type": "BKASH-BKash",
    "card_no": "",
    "card_issuer": "BKash Mobile Banking",
    "card_brand": "MOBILEBANKING",
    "card_sub_brand": "Classic",
    "card_issuer_country": "Bangladesh",
    "card_issuer_country_code": "BD",
}
NO_CARD = dict.fromkeys(VISA_CARD, "")

DEFAULT_DECLINE = "Transaction declined by the issuing bank"
CANCEL_ERROR = "Cancelled by User"
ABANDON_ERRORS = {
    "UNATTEMPTED": "Customer did not choose to pay any channel",
    "EXPIRED": "Transaction session expired",
}

# What a failing proxy in front of the PHP application answers.
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><h1>SSLCOMMERZ is under maintenance.</h1><p>Please try again later.</p></body></html>"
)
HTTP_ERROR_BODY = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

RecordedRequest = namedtuple("RecordedRequest", "method target endpoint query form headers")
RecordedRequest.__doc__ = """One request as received: method, request target (path and query as sent), the
endpoint it reached (one of ENDPOINTS, "checkout" for the gateway page, None for anything
else), the query fields, the form fields (empty unless the body was form-encoded) and the
headers. Fields are dicts in which a repeated name keeps its last value, as in PHP."""

Answer = namedtuple("Answer", "status body headers")
Answer.__doc__ = """The merchant's answer to a callback POST: HTTP status, body bytes, headers dict."""


# -- signatures -----------------------------------------------------------------------


def hash_string(fields, keys, store_passwd, algorithm="md5"):
    """The text SSLCommerz hashes: the `keys` fields plus the hashed store password, sorted, `k=v&…`.

    A key naming a field absent from `fields` is skipped (the official PHP SDK's
    behaviour; the Python clients raise KeyError instead).
    """
    digest = getattr(hashlib, algorithm)
    signed = {key: fields[key] for key in keys if key in fields}
    signed["store_passwd"] = digest(store_passwd.encode()).hexdigest()
    return "&".join(f"{key}={signed[key]}" for key in sorted(signed, key=lambda k: k.encode()))


def verify_hash(fields, keys, store_passwd, algorithm="md5"):
    """verify_sign (algorithm "md5") or verify_sign_sha2 ("sha256") of `fields` over `keys`."""
    text = hash_string(fields, keys, store_passwd, algorithm)
    return getattr(hashlib, algorithm)(text.encode()).hexdigest()


def sign_fields(fields, store_passwd, keys=None):
    """The three signature fields for `fields`: verify_sign, verify_key, verify_sign_sha2.

    `keys` defaults to every field except the verify_* ones; verify_key lists them sorted,
    as the gateway does.
    """
    if keys is None:
        keys = [key for key in fields if not key.startswith("verify_")]
    keys = sorted(keys, key=lambda k: k.encode())
    return {
        "verify_sign": verify_hash(fields, keys, store_passwd, "md5"),
        "verify_key": ",".join(keys),
        "verify_sign_sha2": verify_hash(fields, keys, store_passwd, "sha256"),
    }


def check_signature(fields, store_passwd):
    """True when `fields` carry a verify_sign that matches verify_key under `store_passwd`."""
    if "verify_sign" not in fields or "verify_key" not in fields:
        return False
    expected = verify_hash(fields, fields["verify_key"].split(","), store_passwd)
    return hmac.compare_digest(expected, fields["verify_sign"])


# -- the merchant's side of callbacks ----------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A browser's landing on the merchant is what the test inspects, not where it goes next.
    def redirect_request(self, *args, **kwargs):
        return None


# Callbacks must reach the local merchant directly even when the environment sets a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def urllib_transport(method, url, body, headers):
    """Deliver one callback over real HTTP; returns (status, body bytes, headers dict)."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=CALLBACK_TIMEOUT) as response:
            return response.status, response.read(), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), dict(error.headers.items())


def flask_client_transport(client):
    """A callback transport that calls a Flask test client instead of a listening app.

    Set `sslc.callback_transport = flask_client_transport(app.test_client())`; the
    merchant URLs given to the session (e.g. "http://localhost/payments/sslcommerz/ipn")
    are then opened on the test client. Redirects are not followed.
    """

    def send(method, url, body, headers):
        response = client.open(url, method=method, data=body, headers=headers)
        try:
            return response.status_code, response.get_data(), dict(response.headers.items())
        finally:
            response.close()

    return send


@dataclass
class Callback:
    """One form POST the gateway makes to the merchant: the IPN or the customer's browser landing.

    `fields` is the form in wire order; `headers` what goes with it. Tests may build
    variants with `altered()` (signature kept, so it no longer matches) or with
    `SslCommerzServer.resigned()` (signed again with the store password).
    """

    kind: str  # "ipn" or "redirect"
    url: str
    fields: dict
    headers: dict = field(default_factory=dict)

    def body(self):
        """The form-encoded bytes as sent (UTF-8, `+` for spaces, as a browser and PHP curl do)."""
        return urlencode(list(self.fields.items())).encode()

    def altered(self, **changes):
        """A copy with fields changed after signing; a value of None removes the field."""
        fields = dict(self.fields)
        for name, value in changes.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        return Callback(self.kind, self.url, fields, dict(self.headers))


@dataclass
class Outcome:
    """How one session ended: the signed fields, the IPN (sent or not) and the browser POST to replay.

    `redirect` is None for a session the customer abandoned (no browser comes back);
    `ipn` is None when neither the session nor the panel named an IPN URL;
    `ipn_answer` is the merchant's Answer to the IPN, None when it was not sent.
    """

    sessionkey: str
    tran_id: str
    status: str
    fields: dict
    redirect: Callback | None
    ipn: Callback | None
    ipn_answer: Answer | None = None

    @property
    def val_id(self):
        return self.fields.get("val_id", "")

    @property
    def bank_tran_id(self):
        return self.fields.get("bank_tran_id", "")


# -- HTTP plumbing ------------------------------------------------------------------------


class _Handler(Handler):
    server_version = "nginx"


def _php_fields(text):
    """Decode a query string or form body as PHP fills $_GET/$_POST: a repeated name keeps its last value."""
    return dict(parse_qsl(text, keep_blank_values=True))


def _money(value):
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):.2f}"


def _stamp(now):
    return now.strftime("%y%m%d%H%M%S")


def _random_text(length, alphabet=string.ascii_letters + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _xml(payload):
    """The XML the APIs answer when `format=json` is not asked for (flat elements, lists as <element>)."""

    def render(name, value):
        if isinstance(value, dict):
            inner = "".join(render(k, v) for k, v in value.items())
        elif isinstance(value, list):
            inner = "".join(render("element", v) for v in value)
        else:
            inner = html.escape("" if value is None else str(value), quote=False)
        return f"<{name}>{inner}</{name}>"

    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + render("response", payload)).encode()


class _Refused(Exception):
    """A session request the gateway answers with status FAILED and this failedreason."""


class SslCommerzServer:
    """SSLCommerz v4 on 127.0.0.1 at a free port, plus the gateway's IPN and browser POSTs to the merchant.

    Started on construction; use as a context manager or call `stop()`.

    Attributes a test may read or set:
      base_url, session_api_url, validation_api_url, transaction_api_url
      store_id, store_passwd   the credentials every API call must carry
      store_active             False: sessions refused with the credential error, APIs INACTIVE
      store_name
      exchange_rates           currency -> Decimal BDT rate; other currencies are refused
      fee_percent              Decimal; store_amount = amount less this share
      allow_duplicate_tran_id  True: a tran_id may start several sessions (the query then lists each)
      max_tran_id_length       30 as documented; None lifts it (sslcommerz-python's own uuid4
                               tran_id is 36 characters, see the module docstring)
      panel_ipn_url            the IPN listener set in the merchant panel, used when a session
                               gives no ipn_url (sslcommerz-python sends ipn_url="")
      callback_transport       callable(method, url, body, headers) -> (status, body[, headers])
      delay                    seconds every API request waits before its answer
      hold_after_accept        True: a created session sets `accepted_event`, its answer waits for release()
      sessions                 sessionkey -> record dict (see `_new_session`), in creation order
      refunds                  refund_ref_id -> record dict
      requests                 every request as RecordedRequest
      deliveries               every callback POST: dicts kind, url, fields, body, headers, answer
    """

    def __init__(self, store_id="testbox", store_passwd="qwerty", *, store_name="Demo"):
        self.store_id = store_id
        self.store_passwd = store_passwd
        self.store_name = store_name
        self.store_active = True
        self.exchange_rates = {
            "BDT": Decimal("1.0000"),
            "USD": Decimal("110.0000"),
            "EUR": Decimal("120.0000"),
            "GBP": Decimal("140.0000"),
            "INR": Decimal("1.3000"),
        }
        self.fee_percent = Decimal("2.5")
        self.allow_duplicate_tran_id = False
        self.max_tran_id_length = MAX_TRAN_ID
        self.panel_ipn_url = None
        self.callback_transport = urllib_transport
        self.delay = 0
        self.accepted_event = threading.Event()

        self.sessions = {}
        self.refunds = {}
        self.requests = []
        self.deliveries = []

        self.lock = threading.Lock()
        self._forced = []
        self._hold = False
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._stopped = False

        self._httpd = TrackingServer(("127.0.0.1", 0), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.session_api_url = self.base_url + SESSION_PATH
        self.validation_api_url = self.base_url + VALIDATION_PATH
        self.transaction_api_url = self.base_url + TRANSACTION_PATH
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"sslcommerz-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        """Stop serving, release held and delayed answers, close every socket, join threads."""
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

    # -- switches --------------------------------------------------------------------

    def fail_next(self, endpoint, value=None, times=1):
        """Answer the next `times` calls of `endpoint` (credentials correct) with a forced failure.

        What `value` is depends on the endpoint:
          "session"        the failedreason of a status FAILED answer
          "validation"     the status reported for the val_id asked about, e.g.
                           "INVALID_TRANSACTION" (default), "FAILED", "EXPIRED"
          "query", "refund_status"   the APIConnect word, e.g. "FAILED" (default), "INACTIVE"
          "refund"         the errorReason of a status "failed" refund answer
        Nothing is recorded or changed by a forced failure.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}")
        with self.lock:
            self._forced.extend([(endpoint, "fail", value)] * times)

    def malformed_next(self, endpoint=None, times=1):
        """The next `times` calls (of `endpoint`, or any API) answer HTTP 200 with an HTML page."""
        self._force(endpoint, "malformed", None, times)

    def http_error_next(self, status, endpoint=None, times=1):
        """The next `times` calls (of `endpoint`, or any API) answer HTTP `status` and nginx's HTML."""
        self._force(endpoint, "http_error", status, times)

    def _force(self, endpoint, kind, value, times):
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS} or None")
        with self.lock:
            self._forced.extend([(endpoint, kind, value)] * times)

    @property
    def hold_after_accept(self):
        """While True, a created session is recorded, `accepted_event` set, and the answer waits.

        The answer goes out on `release()`, `stop()` or after HOLD_TIMEOUT; a client timing
        out meanwhile has a session (and a used tran_id) it never heard of.
        """
        return self._hold

    @hold_after_accept.setter
    def hold_after_accept(self, value):
        with self.lock:
            self._hold = bool(value)
            if self._hold and not self._stopping.is_set():
                self.accepted_event.clear()
                self._released.clear()

    def release(self):
        """Let held answers go out; later sessions are no longer held."""
        with self.lock:
            self._hold = False
        self._released.set()

    # -- reading state ---------------------------------------------------------------

    def session(self, sessionkey):
        """The record of `sessionkey` (KeyError if never created)."""
        with self.lock:
            return self.sessions[sessionkey]

    def session_for(self, tran_id):
        """The latest session record for `tran_id`, or None."""
        with self.lock:
            found = [s for s in self.sessions.values() if s["tran_id"] == tran_id]
        return found[-1] if found else None

    def checkout_url(self, sessionkey):
        """The GatewayPageURL of `sessionkey` (the sandbox's EasyCheckOut form)."""
        return f"{self.base_url}{CHECKOUT_PREFIX}testcde{sessionkey.lower()}"

    # -- the customer (played by the test) -------------------------------------------

    def customer_pays(
        self,
        sessionkey,
        *,
        risk_level=0,
        amount=None,
        currency=None,
        card=None,
        signature="valid",
        tamper=None,
        send_ipn=True,
    ):
        """The customer pays: status VALID, a val_id and bank_tran_id, IPN sent, browser POST returned.

        `risk_level` 1 marks the payment risky (risk_title "Risky").
        `amount` / `currency` make the gateway record (and report in the IPN and the
        validation API, correctly signed) a paid amount or currency other than the
        session's, for tests of the desk's own comparison; `amount` is in `currency`.
        `card` replaces card fields (see VISA_CARD, BKASH_WALLET). For `signature`,
        `tamper` and `send_ipn` see `_conclude`.
        """
        now = datetime.datetime.now(DHAKA)
        with self.lock:
            record = self._pending(sessionkey)
            if currency is not None:
                record["currency_type"] = currency
                record["currency_rate"] = self.exchange_rates.get(currency, Decimal("1.0000"))
            if amount is not None:
                record["currency_amount"] = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
            record["amount"] = (record["currency_amount"] * record["currency_rate"]).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
            record["store_amount"] = self._store_amount(record["amount"])
            record["status"] = "VALID"
            record["val_id"] = _stamp(now) + _random_text(3, string.digits) + _random_text(12)
            record["bank_tran_id"] = _stamp(now) + _random_text(15)
            record["tran_date"] = now.strftime("%Y-%m-%d %H:%M:%S")
            record["card"] = {**VISA_CARD, **(card or {})}
            record["risk_level"] = str(int(risk_level))
            record["risk_title"] = "Risky" if int(risk_level) else "Safe"
            fields = {
                "tran_id": record["tran_id"],
                "val_id": record["val_id"],
                "amount": _money(record["amount"]),
                "card_type": record["card"]["card_type"],
                "store_amount": _money(record["store_amount"]),
                "card_no": record["card"]["card_no"],
                "bank_tran_id": record["bank_tran_id"],
                "status": "VALID",
                "tran_date": record["tran_date"],
                "currency": "BDT",
                "card_issuer": record["card"]["card_issuer"],
                "card_brand": record["card"]["card_brand"],
                "card_sub_brand": record["card"]["card_sub_brand"],
                "card_issuer_country": record["card"]["card_issuer_country"],
                "card_issuer_country_code": record["card"]["card_issuer_country_code"],
                "store_id": self.store_id,
                **self._conversion_fields(record),
                **self._pass_through(record),
                "risk_level": record["risk_level"],
                "risk_title": record["risk_title"],
            }
            # The official sample signs every field it posts but card_sub_brand: a posted
            # field is not necessarily a signed one.
            keys = [key for key in fields if key != "card_sub_brand"]
            target = record["success_url"]
        return self._conclude(record, fields, keys, target, signature, tamper, send_ipn)

    def customer_fails(
        self, sessionkey, *, error=DEFAULT_DECLINE, card=None, signature="valid", tamper=None, send_ipn=True
    ):
        """The payment fails (declined, wrong card data…): status FAILED, no val_id, POST to fail_url."""
        now = datetime.datetime.now(DHAKA)
        with self.lock:
            record = self._pending(sessionkey)
            record["status"] = "FAILED"
            record["error"] = error
            record["bank_tran_id"] = _stamp(now) + _random_text(15)
            record["tran_date"] = now.strftime("%Y-%m-%d %H:%M:%S")
            record["card"] = {**NO_CARD, "card_sub_brand": "Classic", **(card or {})}
            fields = {
                "tran_id": record["tran_id"],
                "error": error,
                "status": "FAILED",
                "bank_tran_id": record["bank_tran_id"],
                "currency": "BDT",
                "tran_date": record["tran_date"],
                "amount": _money(record["amount"]),
                "store_id": self.store_id,
                **record["card"],
                **self._conversion_fields(record),
                **self._pass_through(record),
            }
            target = record["fail_url"]
        return self._conclude(record, fields, None, target, signature, tamper, send_ipn)

    def customer_cancels(self, sessionkey, *, signature="valid", tamper=None, send_ipn=True):
        """The customer presses Cancel: status CANCELLED, error "Cancelled by User", POST to cancel_url."""
        now = datetime.datetime.now(DHAKA)
        with self.lock:
            record = self._pending(sessionkey)
            record["status"] = "CANCELLED"
            record["error"] = CANCEL_ERROR
            record["tran_date"] = now.strftime("%Y-%m-%d %H:%M:%S")
            fields = {
                "tran_id": record["tran_id"],
                "status": "CANCELLED",
                "error": CANCEL_ERROR,
                "bank_tran_id": "",
                "currency": "BDT",
                "tran_date": record["tran_date"],
                "amount": _money(record["amount"]),
                "store_id": self.store_id,
                **self._conversion_fields(record),
                **self._pass_through(record),
            }
            target = record["cancel_url"]
        return self._conclude(record, fields, None, target, signature, tamper, send_ipn)

    def customer_abandons(
        self, sessionkey, status="UNATTEMPTED", *, signature="valid", tamper=None, send_ipn=True
    ):
        """The customer never comes back: status UNATTEMPTED or EXPIRED, IPN only, no browser POST."""
        if status not in ABANDON_ERRORS:
            raise ValueError(f"status must be one of {tuple(ABANDON_ERRORS)}")
        now = datetime.datetime.now(DHAKA)
        with self.lock:
            record = self._pending(sessionkey)
            record["status"] = status
            record["error"] = ABANDON_ERRORS[status]
            record["tran_date"] = now.strftime("%Y-%m-%d %H:%M:%S")
            fields = {
                "tran_id": record["tran_id"],
                "val_id": "",
                "amount": _money(record["amount"]),
                **NO_CARD,
                "store_amount": "",
                "bank_tran_id": "",
                "status": status,
                "tran_date": record["tran_date"],
                "error": record["error"],
                "currency": "BDT",
                "store_id": self.store_id,
                **self._conversion_fields(record),
                **self._pass_through(record),
                "risk_level": "0",
                "risk_title": "Safe",
            }
        return self._conclude(record, fields, None, None, signature, tamper, send_ipn)

    def post_redirect(self, target):
        """POST the browser's landing form (an Outcome's `redirect`, or a Callback) to the merchant."""
        callback = target.redirect if isinstance(target, Outcome) else target
        if callback is None:
            raise ValueError("this outcome has no browser POST (the customer abandoned the session)")
        return self.deliver(callback)

    def post_ipn(self, target):
        """POST an IPN (an Outcome's `ipn`, or a Callback) to the merchant; again = a replayed IPN."""
        callback = target.ipn if isinstance(target, Outcome) else target
        if callback is None:
            raise ValueError("this outcome has no IPN: set ipn_url on the session or panel_ipn_url")
        return self.deliver(callback)

    def deliver(self, callback):
        """POST `callback` through `callback_transport`; returns the merchant's Answer and records it."""
        body = callback.body()
        result = self.callback_transport("POST", callback.url, body, dict(callback.headers))
        status, answer_body, *rest = result
        answer = Answer(status, answer_body, rest[0] if rest else {})
        with self.lock:
            self.deliveries.append(
                {
                    "kind": callback.kind,
                    "url": callback.url,
                    "fields": dict(callback.fields),
                    "body": body,
                    "headers": dict(callback.headers),
                    "answer": answer,
                }
            )
        return answer

    def resigned(self, callback, **changes):
        """A copy of `callback` with `changes` (None removes) and a fresh, correct signature.

        Models the gateway itself saying something else, e.g. a genuine callback for
        another transaction replayed at this one.
        """
        fields = {k: v for k, v in callback.fields.items() if not k.startswith("verify_")}
        for name, value in changes.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        return Callback(callback.kind, callback.url, self._signed(fields, None), dict(callback.headers))

    def settle_refund(self, refund_ref_id, status="refunded"):
        """Move a processing refund on: "refunded" (the money is back) or "cancelled"."""
        if status not in ("refunded", "cancelled"):
            raise ValueError('status must be "refunded" or "cancelled"')
        with self.lock:
            refund = self.refunds[refund_ref_id]
            if refund["status"] != "processing":
                raise ValueError(f"refund {refund_ref_id} is already {refund['status']}")
            refund["status"] = status
            if status == "refunded":
                refund["refunded_on"] = datetime.datetime.now(DHAKA).strftime("%Y-%m-%d %H:%M:%S")
            else:
                # A cancelled refund makes its amount refundable again.
                for record in self.sessions.values():
                    if record["bank_tran_id"] == refund["bank_tran_id"]:
                        record["refunded"] -= refund["amount"]

    # -- helpers for the customer side -----------------------------------------------

    def _pending(self, sessionkey):
        record = self.sessions[sessionkey]
        if record["status"] != "PENDING":
            raise ValueError(f"session {sessionkey} already ended as {record['status']}")
        return record

    def _store_amount(self, amount):
        return (amount - amount * self.fee_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)

    @staticmethod
    def _conversion_fields(record):
        return {
            "currency_type": record["currency_type"],
            "currency_amount": _money(record["currency_amount"]),
            "currency_rate": f"{record['currency_rate'].quantize(RATE):.4f}",
            "base_fair": "0.00",
        }

    @staticmethod
    def _pass_through(record):
        return {name: record["fields"].get(name, "") for name in PASS_THROUGH}

    def _signed(self, fields, keys, password=None):
        """`fields` with the three verify_* fields placed after store_id, as the gateway orders them."""
        signed = sign_fields(fields, self.store_passwd if password is None else password, keys)
        out = {}
        for name, value in fields.items():
            out[name] = value
            if name == "store_id":
                out.update(signed)
        if "verify_sign" not in out:
            out.update(signed)
        return out

    def _conclude(self, record, fields, keys, redirect_url, signature, tamper, send_ipn):
        """Sign the fields, send the IPN, and return the Outcome with the browser POST to replay.

        `signature`: "valid"; "wrong" (signed with another password); "missing" (no
        verify_* fields at all); "dangling_key" (verify_key also names a field that is
        not posted — the PHP rule skips it, Python clients raise KeyError).
        `tamper`: fields changed after signing (None removes), e.g. {"amount": "1.00"}.
        `send_ipn`: False keeps the IPN back (a late IPN: deliver it with post_ipn()).
        """
        if signature == "valid":
            signed = self._signed(fields, keys)
        elif signature == "wrong":
            signed = self._signed(fields, keys, password="not-" + self.store_passwd)
        elif signature == "missing":
            signed = dict(fields)
        elif signature == "dangling_key":
            names = list(keys or [k for k in fields]) + ["emi_instalment"]
            signed = self._signed(fields, names)
        else:
            raise ValueError('signature must be "valid", "wrong", "missing" or "dangling_key"')
        for name, value in (tamper or {}).items():
            if value is None:
                signed.pop(name, None)
            else:
                signed[name] = value
        with self.lock:
            record["callback_fields"] = dict(signed)
            ipn_url = record["ipn_url"] or self.panel_ipn_url
        ipn = None
        if ipn_url:
            ipn = Callback(
                "ipn",
                ipn_url,
                dict(signed),
                {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "SSLCOMMERZ-IPN/4.0"},
            )
        redirect = None
        if redirect_url:
            # The browser submits the gateway's auto-post form: a cross-site POST, so the
            # merchant's SameSite=Lax cookies do not come with it.
            redirect = Callback(
                "redirect",
                redirect_url,
                dict(signed),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Origin": self.base_url,
                    "Referer": record["gateway_page_url"],
                    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
                },
            )
        outcome = Outcome(
            record["sessionkey"], record["tran_id"], record["status"], dict(signed), redirect, ipn
        )
        if ipn is not None and send_ipn:
            outcome.ipn_answer = self.deliver(ipn)
        return outcome

    # -- the HTTP side ---------------------------------------------------------------

    def _route(self, path, query):
        if path == SESSION_PATH:
            return "session"
        if path == VALIDATION_PATH:
            return "validation"
        if path == TRANSACTION_PATH:
            if "refund_ref_id" in query:
                return "refund_status"
            if "bank_tran_id" in query or "refund_amount" in query:
                return "refund"
            return "query"
        if path.startswith(CHECKOUT_PREFIX) or path in LEGACY_PAGE_PATHS:
            return "checkout"
        return None

    def _take(self, endpoint, phase):
        """Pop the first forced answer for `endpoint` if it belongs to `phase` (lock held).

        Proxy-level faults ("malformed", "http_error") happen before the application runs;
        "fail" answers come from the application, after the credential check.
        """
        for index, (wanted, kind, value) in enumerate(self._forced):
            if wanted is not None and wanted != endpoint:
                continue
            if (kind == "fail") == (phase == "fail"):
                del self._forced[index]
                return kind, value
            return None
        return None

    def _handle(self, handler, method):
        raw = handler.read_body()
        split = urlsplit(handler.path)
        query = _php_fields(split.query)
        media = handler.headers.get("Content-Type", "").split(";")[0].strip().lower()
        # PHP fills $_POST only from a form body; JSON arrives as nothing at all.
        form = (
            _php_fields(raw.decode("utf-8", "replace"))
            if method == "POST" and media == "application/x-www-form-urlencoded"
            else {}
        )
        endpoint = self._route(split.path, query)
        with self.lock:
            self.requests.append(
                RecordedRequest(method, handler.path, endpoint, query, form, dict(handler.headers.items()))
            )
            delay = self.delay
            fault = self._take(endpoint, "proxy") if endpoint in ENDPOINTS else None
        if endpoint == "checkout":
            return self._checkout_page(handler, method, split, query, form)
        if endpoint is None:
            return self._http_error(handler, 404)
        if delay and self._stopping.wait(delay):
            handler.close_connection = True
            return
        if fault is not None:
            kind, value = fault
            if kind == "malformed":
                return handler.answer(200, MALFORMED_BODY, "text/html; charset=UTF-8")
            return self._http_error(handler, value)
        if endpoint == "session":
            return self._session_endpoint(handler, form)
        payload = getattr(self, f"_{endpoint}")(query)
        if query.get("format", "").lower() == "json":
            return self._json(handler, payload)
        handler.answer(200, _xml(payload), "text/xml; charset=UTF-8")

    def _json(self, handler, payload):
        handler.answer(200, json.dumps(payload).encode(), "application/json")

    def _http_error(self, handler, status):
        reason = handler.responses.get(status, ("Error",))[0]
        page = HTTP_ERROR_BODY.format(status=status, reason=reason).encode()
        handler.answer(status, page, "text/html")

    def _credentials(self, fields):
        """None when the store may call, else the APIConnect word refusing it (lock held)."""
        store_id, store_passwd = fields.get("store_id"), fields.get("store_passwd")
        if not store_id or not store_passwd:
            return "INVALID_REQUEST"
        if not (
            hmac.compare_digest(store_id.encode(), self.store_id.encode())
            and hmac.compare_digest(store_passwd.encode(), self.store_passwd.encode())
        ):
            return "FAILED"
        if not self.store_active:
            return "INACTIVE"
        return None

    # -- session creation --------------------------------------------------------------

    def _session_endpoint(self, handler, form):
        held = False
        with self.lock:
            try:
                if self._credentials(form) is not None:
                    raise _Refused(CREDENTIAL_ERROR)
                forced = self._take("session", "fail")
                if forced is not None:
                    raise _Refused(forced[1] or "Unable to process the request now, please try again")
                record = self._new_session(form)
            except _Refused as refused:
                payload = self._session_failed(str(refused))
            else:
                payload = self._session_created(record)
                if self._hold:
                    held = True
                    self.accepted_event.set()
        if held:
            self._released.wait(HOLD_TIMEOUT)
        self._json(handler, payload)

    def _new_session(self, form):
        """Check a create-session form as the gateway does and record the session (lock held)."""
        for name in REQUIRED_SESSION_FIELDS:
            if not form.get(name, "").strip():
                raise _Refused(f"Invalid Information! '{name}' is missing")
        if form["shipping_method"].strip().upper() == "YES":
            for name in SHIPPING_FIELDS:
                if not form.get(name, "").strip():
                    raise _Refused(f"Invalid Information! '{name}' is missing")
        try:
            total = Decimal(form["total_amount"].strip())
        except InvalidOperation:
            raise _Refused("Invalid Information! 'total_amount' is not a valid amount") from None
        if not total.is_finite():
            raise _Refused("Invalid Information! 'total_amount' is not a valid amount")
        # decimal(10,2): stored rounded to the paisa.
        total = total.quantize(CENT, rounding=ROUND_HALF_UP)
        currency = form["currency"].strip().upper()
        rate = self.exchange_rates.get(currency)
        if len(currency) != 3 or rate is None:
            raise _Refused(f"Invalid Information! currency '{form['currency']}' is not supported")
        amount = (total * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            raise _Refused(
                f"Invalid Information! 'total_amount' must be from {MIN_AMOUNT} BDT to {MAX_AMOUNT} BDT"
            )
        tran_id = form["tran_id"]
        limit = self.max_tran_id_length
        if limit is not None and len(tran_id) > limit:
            raise _Refused(f"Invalid Information! 'tran_id' must be within {limit} characters")
        for name in ("success_url", "fail_url", "cancel_url", "ipn_url"):
            if len(form.get(name, "")) > MAX_URL:
                raise _Refused(f"Invalid Information! '{name}' must be within {MAX_URL} characters")
        for name in PASS_THROUGH:
            if len(form.get(name, "")) > MAX_VALUE:
                raise _Refused(f"Invalid Information! '{name}' must be within {MAX_VALUE} characters")
        if not self.allow_duplicate_tran_id and any(s["tran_id"] == tran_id for s in self.sessions.values()):
            raise _Refused("Duplicate tran_id! The transaction ID has already been used")
        sessionkey = secrets.token_hex(16).upper()
        record = {
            "sessionkey": sessionkey,
            "tran_id": tran_id,
            "status": "PENDING",
            "created_at": datetime.datetime.now(DHAKA),
            "fields": dict(form),
            "total_amount": total,
            "currency": currency,
            "currency_type": currency,
            "currency_amount": total,
            "currency_rate": rate,
            "amount": amount,
            "store_amount": self._store_amount(amount),
            "success_url": form["success_url"],
            "fail_url": form["fail_url"],
            "cancel_url": form["cancel_url"],
            "ipn_url": form.get("ipn_url", ""),
            "gateway_page_url": self.checkout_url(sessionkey),
            "ssl_id": _stamp(datetime.datetime.now(DHAKA)) + _random_text(15),
            "val_id": "",
            "bank_tran_id": "",
            "tran_date": "",
            "error": "",
            "card": dict(NO_CARD),
            "risk_level": "0",
            "risk_title": "Safe",
            "validations": 0,
            "validated_on": "",
            "refunded": Decimal("0.00"),
            "callback_fields": None,
        }
        self.sessions[sessionkey] = record
        return record

    def _session_created(self, record):
        key = record["sessionkey"]
        redirect = (
            f"{self.base_url}/gwprocess/v4/bankgw/indexhtml.php?mamount={_money(record['amount'])}"
            f"&ssl_id={record['ssl_id']}&Q=REDIRECT&SESSIONKEY={key}&tran_type=success&cardname="
        )
        gateways = [
            ("VISA", "visa", "visacard"),
            ("MASTER", "master", "mastercard"),
            ("AMEX", "amex", "amexcard"),
            ("bKash", "mobilebanking", "bkash"),
        ]
        return {
            "status": "SUCCESS",
            "failedreason": "",
            "sessionkey": key,
            "gw": {
                "visa": "city_visa,ebl_visa,visacard",
                "master": "city_master,ebl_master,mastercard",
                "amex": "city_amex,amexcard",
                "othercards": "qcash,fastcash",
                "internetbanking": "city,bankasia,ibbl,mtbl",
                "mobilebanking": "dbblmobilebanking,bkash,nagad,abbank,ibbl",
            },
            "redirectGatewayURL": redirect,
            "directPaymentURLBank": "",
            "directPaymentURLCard": "",
            "directPaymentURL": "",
            "redirectGatewayURLFailed": "",
            "GatewayPageURL": record["gateway_page_url"],
            "storeBanner": f"{self.base_url}/stores/logos/demoLogo.png",
            "storeLogo": f"{self.base_url}/stores/logos/demoLogo.png",
            "store_name": self.store_name,
            "desc": [
                {
                    "name": name,
                    "type": kind,
                    "logo": f"{self.base_url}/gwprocess/v4/image/gw/{gw}.png",
                    "gw": gw,
                    "r_flag": "1",
                    "redirectGatewayURL": redirect.replace("indexhtml.php", "indexhtmlOTP.php") + gw,
                }
                for name, kind, gw in gateways
            ],
            "is_direct_pay_enable": "0",
        }

    @staticmethod
    def _session_failed(reason):
        return {
            "status": "FAILED",
            "failedreason": reason,
            "sessionkey": "",
            "gw": [],
            "redirectGatewayURL": "",
            "directPaymentURLBank": "",
            "directPaymentURLCard": "",
            "directPaymentURL": "",
            "redirectGatewayURLFailed": "",
            "GatewayPageURL": "",
            "storeBanner": "",
            "storeLogo": "",
            "store_name": "",
            "desc": [],
            "is_direct_pay_enable": "0",
        }

    # -- validation, query and refunds (each takes the query fields) ---------------------

    def _payment_details(self, record):
        """The transaction fields the validation API and the query share."""
        card = record["card"]
        return {
            "tran_date": record["tran_date"],
            "tran_id": record["tran_id"],
            "val_id": record["val_id"],
            "amount": _money(record["amount"]),
            "store_amount": _money(record["store_amount"])
            if record["status"] in ("VALID", "VALIDATED")
            else "",
            "currency": "BDT",
            "bank_tran_id": record["bank_tran_id"],
            "card_type": card["card_type"],
            "card_no": card["card_no"],
            "card_issuer": card["card_issuer"],
            "card_brand": card["card_brand"],
            "card_sub_brand": card["card_sub_brand"],
            "card_issuer_country": card["card_issuer_country"],
            "card_issuer_country_code": card["card_issuer_country_code"],
            **self._conversion_fields(record),
            **self._pass_through(record),
            "emi_instalment": "0",
            "emi_amount": "0.00",
            "emi_description": "",
            "emi_issuer": "",
            "account_details": "",
            "risk_title": record["risk_title"],
            "risk_level": record["risk_level"],
            "APIConnect": "DONE",
            "validated_on": record["validated_on"],
            "gw_version": "",
        }

    def _validation(self, query):
        with self.lock:
            refused = self._credentials(query)
            if refused is not None:
                return {"APIConnect": refused}
            val_id = query.get("val_id", "")
            record = next((s for s in self.sessions.values() if val_id and s["val_id"] == val_id), None)
            forced = self._take("validation", "fail")
            if record is None or forced is not None:
                status = (forced[1] if forced else None) or "INVALID_TRANSACTION"
                if record is None:
                    return {"status": status, "val_id": val_id, "APIConnect": "DONE"}
                return {"status": status, **self._payment_details(record)}
            record["validations"] += 1
            if record["validations"] == 1:
                record["validated_on"] = datetime.datetime.now(DHAKA).strftime("%Y-%m-%d %H:%M:%S")
                status = "VALID"
            else:
                status = "VALIDATED"
            return {"status": status, **self._payment_details(record)}

    def _query(self, query):
        with self.lock:
            refused = self._credentials(query)
            if refused is not None:
                return {"APIConnect": refused}
            forced = self._take("query", "fail")
            if forced is not None:
                return {"APIConnect": forced[1] or "FAILED"}
            if query.get("sessionkey"):
                found = [s for s in self.sessions.values() if s["sessionkey"] == query["sessionkey"]]
            elif query.get("tran_id"):
                found = [s for s in self.sessions.values() if s["tran_id"] == query["tran_id"]]
            else:
                return {"APIConnect": "INVALID_REQUEST"}
            elements = []
            for record in found:
                status = record["status"]
                if status == "VALID" and record["validations"]:
                    status = "VALIDATED"
                elements.append({"status": status, "error": record["error"], **self._payment_details(record)})
            return {"APIConnect": "DONE", "no_of_trans_found": len(elements), "element": elements}

    def _refund(self, query):
        with self.lock:
            refused = self._credentials(query)
            if refused is not None:
                return self._refund_failed(query, refused, "Store credentials are not valid")
            forced = self._take("refund", "fail")
            if forced is not None:
                return self._refund_failed(
                    query, "DONE", forced[1] or "Refund request could not be processed"
                )
            for name in ("bank_tran_id", "refund_amount", "refund_remarks"):
                if not query.get(name, "").strip():
                    return self._refund_failed(query, "INVALID_REQUEST", f"'{name}' is missing")
            record = next(
                (
                    s
                    for s in self.sessions.values()
                    if s["bank_tran_id"] == query["bank_tran_id"] and s["status"] == "VALID"
                ),
                None,
            )
            if record is None:
                return self._refund_failed(
                    query, "DONE", "Invalid bank_tran_id or the transaction is not refundable"
                )
            try:
                amount = Decimal(query["refund_amount"].strip())
            except InvalidOperation:
                return self._refund_failed(query, "DONE", "Invalid refund_amount")
            if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
                return self._refund_failed(query, "DONE", "Invalid refund_amount")
            if amount > record["amount"] - record["refunded"]:
                return self._refund_failed(query, "DONE", "Refund amount exceeds the refundable amount")
            reference = query.get("refund_trans_id") or query.get("refe_id")
            if reference and any(r["reference"] == reference for r in self.refunds.values()):
                return self._refund_failed(query, "DONE", "Duplicate refund request")
            now = datetime.datetime.now(DHAKA)
            refund_ref_id = _stamp(now) + _random_text(10)
            record["refunded"] += amount
            self.refunds[refund_ref_id] = {
                "refund_ref_id": refund_ref_id,
                "bank_tran_id": record["bank_tran_id"],
                "tran_id": record["tran_id"],
                "amount": amount,
                "remarks": query["refund_remarks"],
                "reference": reference,
                "status": "processing",
                "initiated_on": now.strftime("%Y-%m-%d %H:%M:%S"),
                "refunded_on": "",
            }
            return {
                "APIConnect": "DONE",
                "bank_tran_id": record["bank_tran_id"],
                "trans_id": record["tran_id"],
                "refund_ref_id": refund_ref_id,
                "status": "success",
                "errorReason": "",
            }

    @staticmethod
    def _refund_failed(query, api_connect, reason):
        return {
            "APIConnect": api_connect,
            "bank_tran_id": query.get("bank_tran_id", ""),
            "trans_id": "",
            "refund_ref_id": "",
            "status": "failed",
            "errorReason": reason,
        }

    def _refund_status(self, query):
        with self.lock:
            refused = self._credentials(query)
            if refused is not None:
                return {"APIConnect": refused}
            forced = self._take("refund_status", "fail")
            if forced is not None:
                return {"APIConnect": forced[1] or "FAILED"}
            refund = self.refunds.get(query["refund_ref_id"])
            if refund is None:
                return {
                    "APIConnect": "DONE",
                    "refund_ref_id": query["refund_ref_id"],
                    "status": "failed",
                    "errorReason": "Invalid refund_ref_id",
                }
            return {
                "APIConnect": "DONE",
                "bank_tran_id": refund["bank_tran_id"],
                "tran_id": refund["tran_id"],
                "refund_ref_id": refund["refund_ref_id"],
                "initiated_on": refund["initiated_on"],
                "refunded_on": refund["refunded_on"],
                "status": refund["status"],
                "errorReason": "",
            }

    # -- the gateway page (for a browser) ------------------------------------------------

    def _checkout_page(self, handler, method, split, query, form):
        """GET: Pay / Fail / Cancel buttons; POST action=…: end the session, auto-post to the merchant."""
        with self.lock:
            if split.path.startswith(CHECKOUT_PREFIX):
                token = split.path[len(CHECKOUT_PREFIX) :]
                record = next(
                    (s for s in self.sessions.values() if s["gateway_page_url"].endswith(token)), None
                )
            else:
                record = self.sessions.get(query.get("SESSIONKEY", ""))
            status = record["status"] if record else None
        if record is None or (status != "PENDING" and method == "GET"):
            page = "<!DOCTYPE html><html><body><h1>Session expired or invalid</h1></body></html>"
            return handler.answer(200, page.encode(), "text/html; charset=UTF-8")
        if method != "POST":
            return handler.answer(200, self._gateway_html(record).encode(), "text/html; charset=UTF-8")
        action = form.get("action")
        actions = {"pay": self.customer_pays, "fail": self.customer_fails, "cancel": self.customer_cancels}
        if action not in actions:
            return self._http_error(handler, 400)
        try:
            outcome = actions[action](record["sessionkey"])
        except ValueError:
            page = "<!DOCTYPE html><html><body><h1>Session expired or invalid</h1></body></html>"
            return handler.answer(200, page.encode(), "text/html; charset=UTF-8")
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in outcome.redirect.fields.items()
        )
        page = (
            "<!DOCTYPE html><html><head><title>Redirecting…</title></head>"
            '<body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(outcome.redirect.url)}">{inputs}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
        )
        handler.answer(200, page.encode(), "text/html; charset=UTF-8")

    def _gateway_html(self, record):
        amount = f"{_money(record['currency_amount'])} {record['currency_type']}"
        buttons = "".join(
            f'<form method="post"><input type="hidden" name="action" value="{action}">'
            f'<button type="submit" id="sslc-{action}">{label}</button></form>'
            for action, label in (("pay", "Pay"), ("fail", "Fail"), ("cancel", "Cancel"))
        )
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>SSLCOMMERZ</title></head><body>'
            f"<h1>{html.escape(self.store_name)}</h1>"
            f'<p id="sslc-amount">{html.escape(amount)}</p>'
            f'<p id="sslc-tran-id">{html.escape(record["tran_id"])}</p>'
            f"{buttons}</body></html>"
        )
