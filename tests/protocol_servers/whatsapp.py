"""A local WhatsApp Business Platform Cloud API: template sends and status webhooks (PROTOCOLS.md §5).

The app's WhatsApp client is pointed at `WhatsAppCloudServer().base_url` instead of
https://graph.facebook.com and must not notice any other difference: the same path
(`/{api-version}/{phone-number-id}/messages`), the same bearer-token check, the same
validation order and error bodies (`{"error": {"message", "type", "code", "error_data",
"fbtrace_id"}}`, no `error_subcode` since v16.0), the same success body with a `wamid`.

The other half of the protocol runs the other way: Meta calls the app. `emit_status()`
posts the documented status webhook, compact JSON with non-ASCII escaped
(`ensure_ascii=True`), signed `X-Hub-Signature-256: sha256=HMAC(app secret, raw body)`,
and `verify_subscription()` performs the GET handshake. Tests steer failures with
switches (`fail_next`, `malformed_next`, `delay`, `hold_after_accept`) and read what the
app sent from `sent` and `requests`.

Deliberate limits (see the report that came with this file): only template messages are
accepted (no customer-service window exists here, so anything else is 131047); body
parameters must be `text`; the only header accepted is a document given by `link`; the
per-template 1024-character hydrated-body limit (132005) is not checked because the
registry holds parameter counts, not template texts.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler

from tests.protocol_servers.base import Handler
from tests.protocol_servers.base import TrackingServer

# A held answer is released by the test; this bounds a test that forgets to.
HOLD_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0
ERROR_CODES_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

# code -> (default HTTP status, title, default details). Titles are Meta's; the message
# field carries them as "(#code) title", which is what Graph sends for these codes.
ERRORS = {
    1: (500, "An unknown error occurred", "An unknown error occurred."),
    2: (503, "Service temporarily unavailable", "Service temporarily unavailable. Please retry."),
    100: (400, "Invalid parameter", "Invalid parameter."),
    190: (401, "Invalid OAuth access token - Cannot parse access token", "Access token is invalid."),
    368: (400, "Temporarily blocked for policies violations", "The account is restricted from messaging."),
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131000: (500, "Something went wrong", "Something went wrong."),
    131008: (400, "Required parameter is missing", "A required parameter is missing."),
    131009: (400, "Parameter value is not valid", "A parameter value is not valid."),
    131016: (503, "Service unavailable", "A service is temporarily unavailable."),
    131026: (400, "Message undeliverable", "Message Undeliverable."),
    131031: (400, "Business Account locked", "The WhatsApp Business Account has been locked."),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131049: (
        400,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "The number of parameters does not match the template.",
    ),
    132001: (404, "Template name does not exist in the translation", "The template does not exist."),
    132015: (400, "Template is Paused", "The template is paused because of low quality."),
    132016: (400, "Template is Disabled", "The template has been disabled."),
    132018: (
        400,
        "There was an issue with the parameters in your template.",
        "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
    ),
}
# Graph phrases a bad token without the "(#190)" prefix.
UNPREFIXED = {190}

# `\d` would accept Bengali and other Unicode digits; Meta wants ASCII digits.
RECIPIENT = re.compile(r"[0-9]{8,15}")
MESSAGES_PATH = re.compile(r"/(?:(v[0-9]+\.[0-9]+)/)?([^/]+)/messages/?")
# Meta refuses parameter text that would break the template's layout.
LAYOUT_BREAKING = re.compile(r"[\n\t]| {5,}")
MALFORMED_BODY = (
    b"<!DOCTYPE html><html><head><title>Error</title></head>"
    b"<body>Sorry, something went wrong. We're working on getting this fixed as soon as we can."
    b"</body></html>"
)

# Webhook deliveries must reach the local receiver directly even when the environment
# sets http_proxy for the outside world.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ApiError(Exception):
    """One Graph API error answer: code, details and (optionally) HTTP status, message, type."""

    def __init__(self, code, details=None, *, status=None, message=None, type_="OAuthException"):
        super().__init__(code, details)
        default_status, title, default_details = ERRORS.get(code, (400, "Error", "Error."))
        self.code = code
        self.status = status or default_status
        self.details = details or default_details
        self.message = message or (title if code in UNPREFIXED else f"(#{code}) {title}")
        self.type = type_

    def body(self):
        """The error object exactly as Graph nests it."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "code": self.code,
                "error_data": {"messaging_product": "whatsapp", "details": self.details},
                "fbtrace_id": _trace_id(),
            }
        }


def _trace_id():
    return base64.b64encode(secrets.token_bytes(17)).decode().rstrip("=")[:23]


def webhook_error(code, details=None):
    """One entry of a failed status's `errors` array, as the webhook carries it."""
    _status, title, default_details = ERRORS.get(code, (400, "Error", "Error."))
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or default_details},
        "href": ERROR_CODES_HREF,
    }


def urllib_transport(method, url, body, headers):
    """Deliver one webhook call over real HTTP; returns (status, response body bytes)."""
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=WEBHOOK_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def flask_client_transport(client):
    """A webhook transport that calls a Flask test client instead of a listening app.

    Set `wa.webhook_transport = flask_client_transport(app.test_client())` and
    `wa.webhook_url = "/path/of/the/webhook"` to emit webhooks without a live server.
    """

    def send(method, url, body, headers):
        response = client.open(url, method=method, data=body, headers=headers)
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    return send


class _Handler(Handler):
    # This server imitates no provider's Server header, so it keeps Python's default in full.
    sys_version = BaseHTTPRequestHandler.sys_version


class WhatsAppCloudServer:
    """The Cloud API on 127.0.0.1 at a free port, plus Meta's webhook calls to the app.

    Use as a context manager (or call `stop()`). The server runs from construction on.
    """

    def __init__(
        self,
        access_token="tok",
        phone_number_id="1234567890",
        app_secret="appsecret",
        api_version="v21.0",
        *,
        waba_id="102290129340398",
        display_phone_number="15550001234",
    ):
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.api_version = api_version
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number

        self.templates = {}
        self.not_on_whatsapp = set()
        self.delay = 0
        self.accepted_event = threading.Event()
        self.sent = []
        self.requests = []
        self.webhook_url = None
        # callable(method, url, body bytes or None, headers dict) -> (status, body bytes)
        self.webhook_transport = urllib_transport
        self.webhook_deliveries = []

        self.lock = threading.Lock()
        self._failures = []
        self._by_wamid = {}
        self._counter = 0
        self._hold = False
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._stopped = False

        self._httpd = TrackingServer(("127.0.0.1", 0), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"whatsapp-cloud-{self.port}",
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

    # -- configuration and switches --------------------------------------------------

    @property
    def messages_url(self):
        """The URL the app's client should post to."""
        return f"{self.base_url}/{self.api_version}/{self.phone_number_id}/messages"

    def register_template(self, name, language, params):
        """Make template `name` in `language` sendable with exactly `params` body parameters."""
        with self.lock:
            self.templates[(name, language)] = int(params)

    def fail_next(self, code, http_status=None, times=1, *, details=None, message=None):
        """Answer the next `times` authorised sends with Graph error `code` (status from ERRORS)."""
        with self.lock:
            self._failures.extend([("error", code, http_status, details, message)] * times)

    def malformed_next(self, times=1):
        """Answer the next `times` authorised sends with HTTP 200 and an HTML page."""
        with self.lock:
            self._failures.extend([("malformed", None, None, None, None)] * times)

    @property
    def hold_after_accept(self):
        """While True, an accepted send is recorded, `accepted_event` set, and the answer waits.

        The answer goes out on `release()`, `stop()` or after HOLD_TIMEOUT. `release()`
        opens the gate for every later send too; set this to True again to re-arm it.
        """
        return self._hold

    @hold_after_accept.setter
    def hold_after_accept(self, value):
        with self.lock:
            self._hold = bool(value)
            if self._hold:
                self.accepted_event.clear()
                self._released.clear()

    def release(self):
        """Let held answers go out."""
        self._released.set()

    def message(self, wamid):
        """The `sent` record of `wamid`, or None."""
        with self.lock:
            return self._by_wamid.get(wamid)

    # -- the Graph API side ----------------------------------------------------------

    def _handle(self, handler, method):
        body = handler.read_body()
        split = urllib.parse.urlsplit(handler.path)
        headers = dict(handler.headers.items())
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self.lock:
            self.requests.append((method, handler.path, parsed, headers))
            delay = self.delay
        if delay and self._stopping.wait(delay):
            handler.close_connection = True
            return
        try:
            record = self._process(method, split, headers, body)
        except ApiError as error:
            extra = []
            if error.status == 401:
                extra.append(
                    ("WWW-Authenticate", f'OAuth "Facebook Platform" "invalid_token" "{error.message}"')
                )
            self._answer_json(handler, error.status, error.body(), extra)
            return
        if record is None:
            handler.answer(200, MALFORMED_BODY, "text/html; charset=utf-8")
            return
        if self._hold:
            self.accepted_event.set()
            self._released.wait(HOLD_TIMEOUT)
        self._answer_json(
            handler,
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": record["to"], "wa_id": record["to"]}],
                "messages": [{"id": record["wamid"], "message_status": "accepted"}],
            },
        )

    def _answer_json(self, handler, status, payload, extra=()):
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = [
            ("facebook-api-version", self.api_version),
            ("x-fb-trace-id", _trace_id()),
            ("x-fb-request-id", _trace_id()),
            *extra,
        ]
        handler.answer(status, body, "application/json; charset=UTF-8", headers)

    def _process(self, method, split, headers, body):
        """Validate one call in Graph's order; returns the `sent` record, None for malformed."""
        self._check_token(split, headers)
        match = MESSAGES_PATH.fullmatch(split.path)
        if match is None:
            raise ApiError(
                2500,
                f"Unknown path components: {split.path}",
                message=f"Unknown path components: {split.path}",
            )
        object_id = match.group(2)
        if method != "POST" or object_id != self.phone_number_id:
            verb = method.lower()
            raise ApiError(
                100,
                f"Unsupported {verb} request.",
                message=(
                    f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation. Please read "
                    "the Graph API documentation at https://developers.facebook.com/docs/graph-api"
                ),
                type_="GraphMethodException",
            )
        with self.lock:
            injected = self._failures.pop(0) if self._failures else None
        if injected is not None:
            kind, code, status, details, message = injected
            if kind == "malformed":
                return None
            raise ApiError(code, details, status=status, message=message)
        try:
            payload = json.loads(body)
        except ValueError:
            raise ApiError(100, "The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise ApiError(100, "The request body must be a JSON object.")
        return self._accept(self._validate(payload))

    def _check_token(self, split, headers):
        token = None
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            token = value.strip()
        else:
            token = urllib.parse.parse_qs(split.query).get("access_token", [None])[0]
        if token is None:
            raise ApiError(
                190,
                "An access token is required.",
                message="An active access token must be used to query information about the current user.",
            )
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            raise ApiError(190, "The access token could not be decrypted.")

    def _validate(self, payload):
        """Check a send body like the Cloud API does; returns the fields `sent` records."""
        product = payload.get("messaging_product")
        if product is None:
            raise ApiError(100, "The parameter messaging_product is required.")
        if product != "whatsapp":
            raise ApiError(100, f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
        recipient_type = payload.get("recipient_type", "individual")
        if recipient_type != "individual":
            raise ApiError(
                100, f'Param recipient_type must be one of {{INDIVIDUAL}} - got "{recipient_type}".'
            )
        to = payload.get("to")
        if to is None or to == "":
            raise ApiError(131008, "The parameter to is required.")
        if not isinstance(to, str) or not RECIPIENT.fullmatch(to):
            raise ApiError(
                131009, "Param to must be the recipient's phone number: 8 to 15 digits with country code."
            )
        message_type = payload.get("type", "text")
        if message_type != "template":
            raise ApiError(131047)
        template = payload.get("template")
        if not isinstance(template, dict):
            raise ApiError(131008, "The parameter template is required.")
        name = template.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(131008, "The parameter template.name is required.")
        language = template.get("language")
        if (
            not isinstance(language, dict)
            or not isinstance(language.get("code"), str)
            or not language["code"]
        ):
            raise ApiError(131008, "The parameter template.language.code is required.")
        code = language["code"]
        with self.lock:
            expected = self.templates.get((name, code))
        if expected is None:
            raise ApiError(132001, f"template name ({name}) does not exist in {code}")
        components = template.get("components", [])
        if not isinstance(components, list):
            raise ApiError(100, "Param template.components must be an array.")
        params, header = self._components(components)
        if len(params) != expected:
            raise ApiError(
                132000,
                f"body: number of localizable_params ({len(params)}) does not match the expected number "
                f"of params ({expected})",
            )
        callback = payload.get("biz_opaque_callback_data")
        if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
            raise ApiError(
                131009, "Param biz_opaque_callback_data must be a string of at most 512 characters."
            )
        return {
            "to": to,
            "template": name,
            "language": code,
            "params": params,
            "header": header,
            "biz_opaque_callback_data": callback,
        }

    def _components(self, components):
        """The body parameter texts and the document header (or None) of a template object."""
        params, header, seen = [], None, set()
        for index, component in enumerate(components):
            kind = component.get("type") if isinstance(component, dict) else None
            kind = kind.lower() if isinstance(kind, str) else kind
            if kind not in ("body", "header", "button"):
                raise ApiError(
                    100, f"Param template.components[{index}].type must be one of {{BODY, HEADER, BUTTON}}."
                )
            if kind in seen and kind != "button":
                raise ApiError(100, f"Duplicate {kind} component in template.components.")
            seen.add(kind)
            parameters = component.get("parameters", [])
            if not isinstance(parameters, list):
                raise ApiError(100, f"Param template.components[{index}].parameters must be an array.")
            if kind == "button":
                # The registry's templates have no buttons, so any button parameter is one too many.
                raise ApiError(
                    132000, "button: number of parameters does not match the expected number of params (0)"
                )
            if kind == "header":
                header = self._document_header(parameters)
                continue
            for number, parameter in enumerate(parameters, start=1):
                if not isinstance(parameter, dict) or str(parameter.get("type", "")).lower() != "text":
                    raise ApiError(131009, f"body parameter {number}: only text parameters are supported.")
                text = parameter.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise ApiError(131009, f"body parameter {number}: Parameter text is empty.")
                if LAYOUT_BREAKING.search(text):
                    raise ApiError(132018)
                params.append(text)
        return params, header

    def _document_header(self, parameters):
        if len(parameters) != 1 or not isinstance(parameters[0], dict):
            raise ApiError(
                132000, "header: number of parameters does not match the expected number of params (1)"
            )
        parameter = parameters[0]
        if str(parameter.get("type", "")).lower() != "document":
            raise ApiError(131009, "header: only a document header parameter is supported.")
        document = parameter.get("document")
        link = document.get("link") if isinstance(document, dict) else None
        if not link:
            raise ApiError(131008, "The parameter header.document.link is required.")
        if not isinstance(link, str) or urllib.parse.urlsplit(link).scheme not in ("http", "https"):
            raise ApiError(131009, "Param header.document.link must be an http or https URL.")
        filename = document.get("filename")
        if filename is not None and not isinstance(filename, str):
            raise ApiError(131009, "Param header.document.filename must be a string.")
        return {"type": "document", "link": link, "filename": filename}

    def _accept(self, fields):
        with self.lock:
            self._counter += 1
            counter = self._counter
        to = fields["to"]
        # The shape of a real wamid: base64 of a small protobuf holding the recipient and an id.
        raw = (
            b"\x1c\x18"
            + bytes([len(to)])
            + to.encode()
            + b"\x15\x02\x00\x11\x18\x12"
            + f"{counter:04X}{secrets.token_hex(7).upper()}".encode()
            + b"\x00"
        )
        record = {"wamid": "wamid." + base64.b64encode(raw).decode(), **fields, "at": time.time()}
        with self.lock:
            self.sent.append(record)
            self._by_wamid[record["wamid"]] = record
        return record

    # -- the webhook side (Meta calling the app) -------------------------------------

    def sign(self, body, secret=None):
        """The X-Hub-Signature-256 value Meta sends for `body` (raw bytes)."""
        key = (self.app_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def status_payload(self, wamid, status, *, errors=None, pricing=None, timestamp=None, recipient_id=None):
        """The webhook object for one status of `wamid` (see emit_status for the arguments)."""
        record = self.message(wamid)
        if record is None and recipient_id is None:
            raise KeyError(f"{wamid} was never accepted here; pass recipient_id to emit a status for it")
        recipient = recipient_id or record["to"]
        entry = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "recipient_id": recipient,
        }
        if record is not None and record["biz_opaque_callback_data"] is not None:
            entry["biz_opaque_callback_data"] = record["biz_opaque_callback_data"]
        if pricing is None and status != "failed":
            # Per-message pricing since 1 July 2025: no `conversation` object for these.
            pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
        if pricing:
            entry["pricing"] = pricing
        if errors is None and status == "failed":
            errors = [131026 if recipient in self.not_on_whatsapp else 131000]
        if errors:
            entry["errors"] = [webhook_error(e) if isinstance(e, int) else e for e in errors]
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self.display_phone_number,
                                    "phone_number_id": self.phone_number_id,
                                },
                                "statuses": [entry],
                            },
                        }
                    ],
                }
            ],
        }

    @staticmethod
    def serialise(payload):
        """Meta's wire form: compact JSON, non-ASCII as lower-case \\uXXXX escapes."""
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    def emit_status(
        self,
        wamid,
        status,
        *,
        errors=None,
        pricing=None,
        duplicate=False,
        bad_signature=False,
        timestamp=None,
        recipient_id=None,
    ):
        """POST one signed status webhook to `webhook_url`; returns the app's HTTP status.

        `errors`: list of codes (expanded to Meta's error objects) or ready dicts; a
        `failed` status without them gets 131026 (recipient in `not_on_whatsapp`) or 131000.
        `pricing`: dict to send, False to leave it out; by default PMP/utility, none on
        `failed`. `duplicate` delivers the same bytes twice (the second answer is returned);
        `bad_signature` signs with a wrong secret. `timestamp` fixes the status time
        (for out-of-order tests); `recipient_id` allows a wamid this server never issued.
        """
        payload = self.status_payload(
            wamid, status, errors=errors, pricing=pricing, timestamp=timestamp, recipient_id=recipient_id
        )
        body = self.serialise(payload)
        secret = "not-" + self.app_secret if bad_signature else None
        answer = self._post_webhook(body, self.sign(body, secret), self._sha1(body, secret))
        if duplicate:
            answer = self._post_webhook(body, self.sign(body, secret), self._sha1(body, secret))
        return answer

    def emit_lifecycle(self, wamid):
        """sent → delivered → read, or sent → failed (131026) for a number not on WhatsApp.

        Returns the app's HTTP status for each call.
        """
        record = self.message(wamid)
        if record is None:
            raise KeyError(f"{wamid} was never accepted here")
        if record["to"] in self.not_on_whatsapp:
            return [self.emit_status(wamid, "sent"), self.emit_status(wamid, "failed", errors=[131026])]
        return [self.emit_status(wamid, status) for status in ("sent", "delivered", "read")]

    def emit_raw(self, body, signature):
        """POST `body` bytes as a webhook with `signature` as X-Hub-Signature-256 (None: no header)."""
        return self._post_webhook(body, signature, None)

    def verify_subscription(self, verify_token, challenge=None):
        """Meta's subscribe handshake against `webhook_url`; returns (status, body text)."""
        challenge = str(secrets.randbelow(10**9)) if challenge is None else str(challenge)
        query = urllib.parse.urlencode(
            {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}
        )
        url = self._webhook_target()
        url += ("&" if "?" in url else "?") + query
        status, body = self._deliver("GET", url, None, {"User-Agent": "facebookplatform/1.0"})
        return status, body.decode("utf-8", "replace")

    def _sha1(self, body, secret=None):
        # Meta still sends the legacy SHA-1 header next to the SHA-256 one.
        key = (self.app_secret if secret is None else secret).encode()
        return "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()

    def _post_webhook(self, body, signature, sha1_signature):
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if sha1_signature is not None:
            headers["X-Hub-Signature"] = sha1_signature
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        status, _answer = self._deliver("POST", self._webhook_target(), body, headers)
        return status

    def _webhook_target(self):
        if not self.webhook_url:
            raise RuntimeError("set wa.webhook_url to the app's webhook before emitting")
        return self.webhook_url

    def _deliver(self, method, url, body, headers):
        status, answer = self.webhook_transport(method, url, body, headers)
        with self.lock:
            self.webhook_deliveries.append(
                {
                    "method": method,
                    "url": url,
                    "body": body,
                    "headers": headers,
                    "status": status,
                    "answer": answer,
                }
            )
        return status, answer
