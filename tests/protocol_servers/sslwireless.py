"""A local stand-in for SSL Wireless ISMS Plus SMS API v3 (docs: /work/shared/PROTOCOLS.md section 4).

The desk's SMS client is pointed at `SslWirelessServer.base_url` instead of
https://smsplus.sslwireless.com/api/v3; everything else on the wire is what the real
provider does: JSON (or form-encoded) requests carrying `api_token`, JSON answers whose
body carries the outcome under HTTP 200, the documented status codes, per-recipient
`smsinfo` for bulk and dynamic sends, and refusal of a `csms_id` seen before (the
desk's idempotency key).

Switches let a test provoke what the real provider and the network in front of it do
on a bad day: refusals (`fail_next`), a non-JSON 200 (`malformed_next`), a failing
proxy (`http_error_next`), slowness (`delay`) and a provider that accepted a message
but has not answered yet (`hold_after_accept`).

Usage::

    with SslWirelessServer(api_token="tok", sid="LOCKERDESK") as sms:
        app.config["SSLWIRELESS_BASE_URL"] = sms.base_url
        ...
        assert [m["msisdn"] for m in sms.accepted] == ["8801712345678"]
"""

import datetime
import json
import re
import threading
import time
from collections import namedtuple
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from tests.protocol_servers.base import Handler
from tests.protocol_servers.base import TrackingServer

API_PREFIX = "/api/v3"
MAX_SMS_LENGTH = 1000
MAX_CSMS_ID_LENGTH = 20
MAX_RECIPIENTS = 100
# The longest a held request waits for `release()`, so a test that forgets it still ends.
HOLD_TIMEOUT = 30.0

MSISDN_PATTERN = re.compile(r"8801[3-9]\d{8}")

# GSM 03.38 basic character set (without the escape code 0x1B).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape code, still GSM-7: a message using them stays "EN"
# (PROTOCOLS.md 4.5: only characters outside GSM-7 force UCS-2).
GSM7_EXTENSION = "\f^{}\\[~]|€"
GSM7_CHARACTERS = frozenset(GSM7_BASIC + GSM7_EXTENSION)

# Top-level `status_code` values and their messages (PROTOCOLS.md 4.3).
STATUS_MESSAGES = {
    200: "Success",
    4001: "Unauthorized",
    4002: "SID not permitted",
    4003: "IP blacklisted",
    4004: "Invalid request format",
    4005: "Endpoint not found",
    4020: "Invalid csms_id",
    4022: "Required parameter missing",
    4023: "Duplicate csms_id",
    4024: "Duplicate MSISDN",
    4025: "Invalid MSISDN",
    4026: "Blocked MSISDN",
    4027: "Message length exceeded",
    4028: "Invalid message data",
    4029: "Too many requests",
    4030: "Limit exceeded",
    4031: "TPS exceeded",
    4032: "Invalid SMS",
    4033: "Too many OTP requests",
    4034: "Unable to decrypt SMS",
    4035: "Signature mismatch",
    5000: "Internal error",
}

# Per-recipient `sms_status` for a refusal, by the code that explains it.
ITEM_STATUS = {4023: "DUPLICATE", 4024: "DUPLICATE", 4026: "BLOCKED"}

SEND_PATHS = {
    API_PREFIX + "/send-sms": "single",
    API_PREFIX + "/send-sms/bulk": "bulk",
    API_PREFIX + "/send-sms/dynamic": "dynamic",
}
BALANCE_PATH = API_PREFIX + "/balance"

# What a proxy or a broken deployment in front of the API answers instead of JSON.
MALFORMED_BODY = (
    "<!DOCTYPE html>\n<html><head><title>Server Error</title></head>"
    "<body><h1>Whoops, looks like something went wrong.</h1></body></html>\n"
)
HTTP_ERROR_BODY = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

RecordedRequest = namedtuple("RecordedRequest", "path body headers")
RecordedRequest.__doc__ = """One request as received: the request target (path and query as sent),
the parsed body (dict, or None when there was none or it did not parse) and the headers."""


class Refused(Exception):
    """A request the provider refuses as a whole, with its top-level status code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def sms_type(text):
    """'EN' for text GSM-7 can carry, 'BN' when any character forces UCS-2 (e.g. Bengali)."""
    return "EN" if all(ch in GSM7_CHARACTERS for ch in text) else "BN"


def envelope(code, smsinfo=(), **extra):
    """The JSON body every answer has: outcome, code, message and per-message details."""
    ok = code == 200
    return {
        "status": "SUCCESS" if ok else "FAILED",
        "status_code": code,
        "error_message": "" if ok else STATUS_MESSAGES.get(code, "Error"),
        "smsinfo": list(smsinfo),
        **extra,
    }


def _scalar(value):
    """`value` as the text PHP would see, or None for a value that is not a scalar.

    JSON numbers are accepted where text is expected (an msisdn sent as a number),
    booleans, lists and objects are not.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _php_form(pairs):
    """Decode form fields the way PHP does: `a[]=`/`a[0][b]=` nest, a repeated plain key keeps its last value.

    The real API is a PHP application, so a client that repeats `msisdn=` instead of
    `msisdn[]=` loses recipients there too; this server must not hide that.
    """
    root = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            root[key] = value
            continue
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for index, part in enumerate(path):
            if part == "":
                part = str(len(node))
            if index == len(path) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child

    def listify(node):
        if not isinstance(node, dict):
            return node
        items = {key: listify(value) for key, value in node.items()}
        if items and all(key.isdigit() for key in items):
            return [items[key] for key in sorted(items, key=int)]
        return items

    return listify(root)


class _Server(TrackingServer):
    def handle_error(self, request, client_address):
        # A client that timed out or was killed has gone before its answer; the real
        # provider does not care either, and a traceback on stderr would only mislead.
        pass


class _Handler(Handler):
    server_version = "nginx"

    def read_body(self):
        # Content-Length only, no chunked decoding: the desk's SMS client always sends a length.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


class SslWirelessServer:
    """SSL Wireless ISMS Plus SMS API v3 on 127.0.0.1, started on construction, stopped by stop() or `with`.

    Endpoints (under `base_url`): POST /send-sms, /send-sms/bulk, /send-sms/dynamic;
    GET /balance?api_token=…  Anything else answers 404 with status_code 4005.

    Attributes a test may read or set:
      base_url           "http://127.0.0.1:PORT/api/v3"
      api_token, sid     what requests must carry (4001, 4002 otherwise)
      blocked            set of msisdns refused with 4026 / BLOCKED
      balance            the string GET /balance reports, e.g. "1000.00"
      delay              seconds to wait before handling each request
      hold_after_accept  True: accept, set `accepted_event`, wait for release()
      accepted_event     threading.Event set when a held request has accepted
      accepted           accepted messages in order: dicts with msisdn, sms, csms_id,
                         reference_id, sid, sms_type, at (aware UTC datetime)
      requests           every request received, as RecordedRequest(path, body, headers)

    Switches: fail_next(code, times), malformed_next(times), http_error_next(status, times),
    release().  The switches are consumed by send requests only, never by /balance.
    """

    def __init__(self, api_token="tok", sid="LOCKERDESK", balance="1000.00"):
        self.api_token = api_token
        self.sid = sid
        self.balance = balance
        self.blocked = set()
        self.delay = 0
        self.accepted = []
        self.requests = []
        self.accepted_event = threading.Event()
        self._lock = threading.Lock()
        self._csms_ids = set()
        self._forced = []
        self._hold = False
        self._released = threading.Event()
        self._stopping = threading.Event()
        # uniqid()-like: 13 hex digits from the clock, then counting up, so ids never repeat.
        self._next_reference = int(time.time() * 1_000_000)
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}{API_PREFIX}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            # stop() waits up to one poll interval; tests start and stop a server each.
            kwargs={"poll_interval": 0.01},
            name=f"sslwireless-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        """Stop: held requests answer, delayed ones are dropped unanswered; close the socket, join threads."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    # Switches -------------------------------------------------------------------------

    def fail_next(self, code, times=1):
        """The next `times` send requests answer FAILED with `code` (e.g. 4029, 5000), accepting nothing."""
        self._force("fail", code, times)

    def malformed_next(self, times=1):
        """The next `times` send requests answer HTTP 200 with an HTML page instead of JSON."""
        self._force("malformed", None, times)

    def http_error_next(self, status, times=1):
        """The next `times` send requests answer HTTP `status` (e.g. 502) and HTML, like a failing proxy."""
        self._force("http_error", status, times)

    def _force(self, kind, value, times):
        with self._lock:
            self._forced.extend([(kind, value)] * times)

    @property
    def hold_after_accept(self):
        """True: each send records its messages as accepted, sets `accepted_event`, waits for release()."""
        return self._hold

    @hold_after_accept.setter
    def hold_after_accept(self, value):
        with self._lock:
            self._hold = bool(value)
            if self._hold and not self._stopping.is_set():
                self.accepted_event.clear()
                self._released.clear()

    def release(self):
        """Let held requests answer; later ones are no longer held."""
        with self._lock:
            self._hold = False
        self._released.set()

    # Serving ----------------------------------------------------------------------------

    def _handle(self, handler, method):
        target = handler.path
        url = urlsplit(target)
        raw = handler.read_body()
        body = None
        parse_error = False
        if raw:
            try:
                body = self._parse_body(raw, handler.headers.get("Content-Type", ""))
            except ValueError:
                parse_error = True
        with self._lock:
            self.requests.append(RecordedRequest(target, body, dict(handler.headers.items())))
            kind = None
            if method == "POST" and url.path in SEND_PATHS:
                kind = SEND_PATHS[url.path]
            elif method == "GET" and url.path == BALANCE_PATH:
                kind = "balance"
            forced = self._forced.pop(0) if kind not in (None, "balance") and self._forced else None
        if self.delay and self._stopping.wait(self.delay):
            return
        if kind is None:
            return self._send_json(handler, envelope(4005), status=404)
        if forced is not None:
            forced_kind, value = forced
            if forced_kind == "malformed":
                return self._send(handler, 200, MALFORMED_BODY, "text/html; charset=UTF-8")
            if forced_kind == "http_error":
                reason = handler.responses.get(value, ("Error",))[0]
                page = HTTP_ERROR_BODY.format(status=value, reason=reason)
                return self._send(handler, value, page, "text/html")
            return self._send_json(handler, envelope(value))
        # Laravel-style: query parameters and body fields together, the body winning.
        fields = dict(parse_qsl(url.query, keep_blank_values=True))
        if kind == "balance":
            return self._send_json(handler, self._balance(fields))
        if parse_error:
            return self._send_json(handler, envelope(4004))
        fields.update(body or {})
        held = False
        with self._lock:
            try:
                answer = getattr(self, f"_send_{kind}")(fields)
            except Refused as refused:
                answer = envelope(refused.code)
            if answer["status"] == "SUCCESS" and self._hold:
                held = True
                self.accepted_event.set()
        if held:
            self._released.wait(HOLD_TIMEOUT)
        self._send_json(handler, answer)

    @staticmethod
    def _parse_body(raw, content_type):
        """The request's fields as a dict; ValueError for what the API calls an invalid request format."""
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        media = content_type.split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            parsed = json.loads(text)
        elif media == "application/x-www-form-urlencoded":
            parsed = _php_form(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
        else:
            # No or another content type: JSON if it is JSON, else form fields.
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = _php_form(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
        return parsed

    def _send_json(self, handler, payload, status=200):
        self._send(handler, status, json.dumps(payload), "application/json")

    @staticmethod
    def _send(handler, status, text, content_type):
        data = text.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            # The client gave up (timeout, killed worker); the provider's side is done anyway.
            pass

    # The API's rules (called with the lock held) ------------------------------------------

    def _balance(self, fields):
        token = fields.get("api_token")
        if token is None:
            return envelope(4022)
        if token != self.api_token:
            return envelope(4001)
        return envelope(200, balance=self.balance)

    def _check_common(self, fields, required):
        missing = [name for name in required if fields.get(name) is None]
        if missing:
            raise Refused(4022)
        if fields["api_token"] != self.api_token:
            raise Refused(4001)
        if fields["sid"] != self.sid:
            raise Refused(4002)

    def _check_csms_id(self, value, taken=()):
        """The code refusing this csms_id, or None when it is usable."""
        csms_id = _scalar(value)
        if csms_id is None or not 1 <= len(csms_id) <= MAX_CSMS_ID_LENGTH:
            return 4020
        if csms_id in self._csms_ids or csms_id in taken:
            return 4023
        return None

    def _check_msisdn(self, value):
        msisdn = _scalar(value)
        if msisdn is None or not MSISDN_PATTERN.fullmatch(msisdn):
            return 4025
        if msisdn in self.blocked:
            return 4026
        return None

    @staticmethod
    def _check_text(value):
        text = _scalar(value)
        if text is None or text == "":
            return 4032
        if len(text) > MAX_SMS_LENGTH:
            return 4027
        return None

    def _accept(self, msisdn, text, csms_id):
        text = _scalar(text)
        self._next_reference += 1
        reference_id = format(self._next_reference, "x")
        kind = sms_type(text)
        self.accepted.append(
            {
                "msisdn": msisdn,
                "sms": text,
                "csms_id": csms_id,
                "reference_id": reference_id,
                "sid": self.sid,
                "sms_type": kind,
                "at": datetime.datetime.now(datetime.UTC),
            }
        )
        return self._item("SUCCESS", 200, msisdn, text, csms_id, reference_id)

    @staticmethod
    def _item(status, code, msisdn, text, csms_id, reference_id=""):
        text = _scalar(text) or ""
        return {
            "sms_status": status,
            "status_message": STATUS_MESSAGES.get(code, "Error"),
            "msisdn": _scalar(msisdn) or "",
            "sms_type": sms_type(text),
            "csms_id": _scalar(csms_id) or "",
            "reference_id": reference_id,
            "sms_body": text,
        }

    def _send_single(self, fields):
        self._check_common(fields, ("api_token", "sid", "msisdn", "sms", "csms_id"))
        for code in (
            self._check_csms_id(fields["csms_id"]),
            self._check_msisdn(fields["msisdn"]),
            self._check_text(fields["sms"]),
        ):
            if code is not None:
                raise Refused(code)
        csms_id = _scalar(fields["csms_id"])
        self._csms_ids.add(csms_id)
        item = self._accept(_scalar(fields["msisdn"]), fields["sms"], csms_id)
        return envelope(200, [item])

    def _send_bulk(self, fields):
        """One text to up to 100 recipients under one batch_csms_id; a refused recipient spares the rest."""
        self._check_common(fields, ("api_token", "sid", "msisdn", "sms", "batch_csms_id"))
        code = self._check_csms_id(fields["batch_csms_id"]) or self._check_text(fields["sms"])
        if code is not None:
            raise Refused(code)
        recipients = fields["msisdn"]
        if not isinstance(recipients, list):
            recipients = [recipients]
        if not recipients:
            raise Refused(4025)
        if len(recipients) > MAX_RECIPIENTS:
            raise Refused(4028)
        batch_csms_id = _scalar(fields["batch_csms_id"])
        text = fields["sms"]
        items, codes, seen = [], [], set()
        for value in recipients:
            code = self._check_msisdn(value)
            if code is None and _scalar(value) in seen:
                code = 4024
            seen.add(_scalar(value))
            codes.append(code)
            if code is None:
                items.append(self._accept(_scalar(value), text, batch_csms_id))
            else:
                items.append(self._item(ITEM_STATUS.get(code, "INVALID"), code, value, text, batch_csms_id))
        return self._batch_outcome(items, codes, [batch_csms_id])

    def _send_dynamic(self, fields):
        """Up to 100 {msisdn, text, csms_id} messages; each is accepted or refused on its own."""
        self._check_common(fields, ("api_token", "sid", "sms"))
        messages = fields["sms"]
        if not isinstance(messages, list) or not messages or len(messages) > MAX_RECIPIENTS:
            raise Refused(4028)
        items, codes, taken = [], [], []
        for message in messages:
            if not isinstance(message, dict):
                message = {}
            msisdn, text, csms_id = message.get("msisdn"), message.get("text"), message.get("csms_id")
            code = None
            if msisdn is None or text is None or csms_id is None:
                code = 4022
            code = (
                code
                or self._check_csms_id(csms_id, taken)
                or self._check_msisdn(msisdn)
                or self._check_text(text)
            )
            codes.append(code)
            if code is None:
                taken.append(_scalar(csms_id))
                items.append(self._accept(_scalar(msisdn), _scalar(text), _scalar(csms_id)))
            else:
                items.append(self._item(ITEM_STATUS.get(code, "INVALID"), code, msisdn, text, csms_id))
        return self._batch_outcome(items, codes, taken)

    def _batch_outcome(self, items, codes, csms_ids):
        """SUCCESS when any message was accepted (its csms_ids then count as used), else the first refusal."""
        if any(code is None for code in codes):
            self._csms_ids.update(csms_ids)
            return envelope(200, items)
        return envelope(codes[0], items)
