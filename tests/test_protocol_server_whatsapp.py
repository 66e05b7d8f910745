"""The local WhatsApp Cloud API answers and calls back exactly as PROTOCOLS.md §5 says Meta does.

Other tests trust this server to stand for graph.facebook.com, so here it is checked
from the outside only: plain urllib for the app's side, and a small http.server
receiver standing for the app's webhook, which verifies signatures over the raw bytes.
"""

import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from tests.protocol_servers.whatsapp import WhatsAppCloudServer
from tests.protocol_servers.whatsapp import flask_client_transport

TEMPLATE = "locker_expiry_reminder"
RECIPIENT = "8801711123456"
VERIFY_TOKEN = "verify-me"
# The local servers must be reached directly even if the environment sets a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def template_body(to=RECIPIENT, params=("M-014", "২৫ জুন"), name=TEMPLATE, language="bn", **extra):
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}],
        },
    }
    body.update(extra)
    return body


def call(wa, body, *, token="tok", url=None, method="POST", timeout=5):
    """One request as the app's client makes it; returns (status, headers, raw body)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url or wa.messages_url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def error_of(status_headers_body):
    """The `error` object of an error answer, after checking it has exactly Meta's shape."""
    _status, headers, raw = status_headers_body
    assert headers["Content-Type"].startswith("application/json")
    body = json.loads(raw)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "code", "error_data", "fbtrace_id"}
    assert isinstance(error["code"], int)
    assert set(error["error_data"]) == {"messaging_product", "details"}
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    return error


class Receiver:
    """The app's webhook endpoint in miniature: checks the handshake token and the signature."""

    def __init__(self, app_secret):
        self.app_secret = app_secret
        self.calls = []
        self.answer = None  # forces an HTTP status for POSTs when set
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                receiver.calls.append(("GET", self.path, dict(self.headers.items()), b""))
                ok = query.get("hub.mode") == ["subscribe"] and query.get("hub.verify_token") == [
                    VERIFY_TOKEN
                ]
                self.reply(200 if ok else 403, query["hub.challenge"][0].encode() if ok else b"Forbidden")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(("POST", self.path, dict(self.headers.items()), raw))
                expected = "sha256=" + hmac.new(receiver.app_secret.encode(), raw, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(self.headers.get("X-Hub-Signature-256", ""), expected)
                self.reply(receiver.answer or (200 if signed else 403), b"")

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/whatsapp"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.start()

    def posts(self):
        return [(headers, raw) for method, _path, headers, raw in self.calls if method == "POST"]

    def statuses(self):
        return [json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0] for _h, raw in self.posts()]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def wa():
    with WhatsAppCloudServer() as server:
        server.register_template(TEMPLATE, "bn", 2)
        yield server


@pytest.fixture
def receiver(wa):
    receiver = Receiver(wa.app_secret)
    wa.webhook_url = receiver.url
    yield receiver
    receiver.stop()


def test_a_template_send_is_accepted_with_a_wamid_and_recorded(wa):
    status, headers, raw = call(wa, template_body(biz_opaque_callback_data="notification:12345"))

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    body = json.loads(raw)
    wamid = body["messages"][0]["id"]
    assert body == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": RECIPIENT, "wa_id": RECIPIENT}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }
    assert wamid.startswith("wamid.") and len(wamid) <= 128
    [sent] = wa.sent
    assert sent["wamid"] == wamid
    assert sent["to"] == RECIPIENT
    assert (sent["template"], sent["language"]) == (TEMPLATE, "bn")
    assert sent["params"] == ["M-014", "২৫ জুন"]
    assert sent["header"] is None
    assert sent["biz_opaque_callback_data"] == "notification:12345"
    assert sent["at"] <= time.time()
    [(method, path, parsed, request_headers)] = wa.requests
    assert (method, path) == ("POST", "/v21.0/1234567890/messages")
    assert parsed["template"]["name"] == TEMPLATE
    assert request_headers["Authorization"] == "Bearer tok"
    # A second send gets its own id.
    assert json.loads(call(wa, template_body())[2])["messages"][0]["id"] != wamid


def test_a_document_header_for_the_receipt_is_accepted_and_recorded(wa):
    wa.register_template("locker_receipt", "en", 1)
    body = template_body(params=["R-7"], name="locker_receipt", language="en")
    document = {"link": "https://desk.example/receipts/7.pdf", "filename": "receipt-7.pdf"}
    body["template"]["components"].insert(
        0, {"type": "header", "parameters": [{"type": "document", "document": document}]}
    )

    assert call(wa, body)[0] == 200
    assert wa.sent[0]["header"] == {"type": "document", **document}


def with_template(change):
    def mutate(body):
        change(body["template"])
        return body

    return mutate


def header_without_link(template):
    header = {"type": "header", "parameters": [{"type": "document", "document": {"filename": "r.pdf"}}]}
    template["components"].append(header)


REFUSALS = [
    ("no such phone number id", lambda b: b, 400, 100),
    ("messaging_product is not whatsapp", lambda b: {**b, "messaging_product": "sms"}, 400, 100),
    ("to is missing", lambda b: {k: v for k, v in b.items() if k != "to"}, 400, 131008),
    ("to has a plus sign", lambda b: {**b, "to": "+8801711123456"}, 400, 131009),
    ("to is too short", lambda b: {**b, "to": "1234567"}, 400, 131009),
    ("to is too long", lambda b: {**b, "to": "1" * 16}, 400, 131009),
    ("to is in Bengali digits", lambda b: {**b, "to": "৮৮০১৭১১১২৩৪৫৬"}, 400, 131009),
    (
        "free-form text outside a customer window",
        lambda b: {**b, "type": "text", "text": {"body": "hi"}},
        400,
        131047,
    ),
    ("unknown template name", with_template(lambda t: t.update(name="nope")), 404, 132001),
    (
        "template not in that language",
        with_template(lambda t: t.update(language={"code": "en_US"})),
        404,
        132001,
    ),
    ("one parameter too few", with_template(lambda t: t["components"][0]["parameters"].pop()), 400, 132000),
    ("no body component at all", with_template(lambda t: t.update(components=[])), 400, 132000),
    (
        "an empty parameter",
        with_template(lambda t: t["components"][0]["parameters"][1].update(text="")),
        400,
        131009,
    ),
    (
        "a newline in a parameter",
        with_template(lambda t: t["components"][0]["parameters"][1].update(text="a\nb")),
        400,
        132018,
    ),
    ("a document header without a link", with_template(header_without_link), 400, 131008),
]


@pytest.mark.parametrize(("case", "mutate", "status", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_an_invalid_send_is_refused_with_metas_code_and_nothing_is_sent(wa, case, mutate, status, code):
    url = wa.messages_url.replace("/1234567890/", "/999/") if case == "no such phone number id" else None

    answer = call(wa, mutate(template_body()), url=url)

    assert answer[0] == status
    error = error_of(answer)
    assert error["code"] == code
    assert error["message"].startswith("Unsupported post request" if code == 100 and url else f"(#{code})")
    assert wa.sent == []


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_missing_or_wrong_token_is_refused_with_190(wa, token):
    answer = call(wa, template_body(), token=token)

    assert answer[0] == 401
    assert "invalid_token" in answer[1]["WWW-Authenticate"]
    error = error_of(answer)
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert wa.sent == []


def test_a_body_that_is_not_json_is_refused_with_100(wa):
    answer = call(wa, b"messaging_product=whatsapp&to=8801711123456")

    assert answer[0] == 400
    assert error_of(answer)["code"] == 100


def test_a_number_not_on_whatsapp_is_accepted_then_fails_in_the_webhook(wa, receiver):
    wa.not_on_whatsapp.add(RECIPIENT)
    status, _headers, raw = call(wa, template_body())
    wamid = json.loads(raw)["messages"][0]["id"]

    assert status == 200
    assert wa.emit_lifecycle(wamid) == [200, 200]
    sent, failed = receiver.statuses()
    assert (sent["id"], sent["status"]) == (wamid, "sent")
    assert (failed["id"], failed["status"], failed["recipient_id"]) == (wamid, "failed", RECIPIENT)
    assert [e["code"] for e in failed["errors"]] == [131026]
    assert failed["errors"][0]["error_data"]["details"]
    assert "pricing" not in failed


def test_fail_next_answers_the_next_sends_with_the_chosen_error_then_recovers(wa):
    wa.fail_next(130429, 429, times=2)
    wa.fail_next(131000)
    wa.fail_next(131016)
    wa.fail_next(368)
    wa.fail_next(190)

    answers = [call(wa, template_body()) for _ in range(7)]

    assert [(a[0], json.loads(a[2]).get("error", {}).get("code")) for a in answers] == [
        (429, 130429),
        (429, 130429),
        (500, 131000),
        (503, 131016),
        (400, 368),
        (401, 190),
        (200, None),
    ]
    for answer in answers[:-1]:
        error_of(answer)
    assert len(wa.sent) == 1


def test_a_refused_token_is_checked_before_an_injected_failure(wa):
    wa.fail_next(130429)

    assert error_of(call(wa, template_body(), token="wrong"))["code"] == 190
    assert error_of(call(wa, template_body()))["code"] == 130429


def test_malformed_next_answers_200_with_an_html_page(wa):
    wa.malformed_next()

    status, headers, raw = call(wa, template_body())

    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        json.loads(raw)
    assert wa.sent == []
    assert call(wa, template_body())[0] == 200


def test_delay_holds_the_answer_back(wa):
    wa.delay = 0.2
    started = time.monotonic()

    assert call(wa, template_body())[0] == 200
    assert time.monotonic() - started >= 0.2


def test_hold_after_accept_records_the_message_before_answering(wa):
    wa.hold_after_accept = True
    answers = []
    client = threading.Thread(target=lambda: answers.append(call(wa, template_body())))
    client.start()

    assert wa.accepted_event.wait(2)
    [sent] = wa.sent
    client.join(0.1)
    assert client.is_alive() and answers == []
    wa.release()
    client.join(2)
    assert not client.is_alive()
    assert json.loads(answers[0][2])["messages"][0]["id"] == sent["wamid"]


def test_stop_releases_a_held_answer_and_idle_connections():
    wa = WhatsAppCloudServer()
    wa.register_template(TEMPLATE, "bn", 2)
    idle = http.client.HTTPConnection("127.0.0.1", wa.port, timeout=5)
    idle.request("GET", "/v21.0/1234567890/messages", headers={"Authorization": "Bearer tok"})
    idle.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    wa.hold_after_accept = True
    client = threading.Thread(target=lambda: call_ignoring_connection_errors(wa))
    client.start()
    assert wa.accepted_event.wait(2)

    started = time.monotonic()
    wa.stop()
    client.join(2)
    idle.close()

    assert time.monotonic() - started < 1
    assert not client.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("whatsapp-cloud-")]


def call_ignoring_connection_errors(wa):
    try:
        call(wa, template_body())
    except (ConnectionError, urllib.error.URLError, http.client.HTTPException):
        pass


def test_a_status_webhook_is_signed_over_the_raw_ascii_bytes(wa, receiver):
    callback = "নোটিস:12345"
    wamid = json.loads(call(wa, template_body(biz_opaque_callback_data=callback))[2])["messages"][0]["id"]

    assert wa.emit_status(wamid, "delivered", timestamp=1750857384) == 200

    [(headers, raw)] = receiver.posts()
    assert headers["Content-Type"] == "application/json"
    assert (
        headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"appsecret", raw, hashlib.sha256).hexdigest()
    )
    raw.decode("ascii")  # non-ASCII travels as \uXXXX escapes
    assert b"\\u09a8" in raw
    payload = json.loads(raw)
    # Re-serialising the parsed object gives other bytes: verifying that would fail.
    assert json.dumps(payload, ensure_ascii=False).encode() != raw
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == "1234567890"
    assert value["statuses"] == [
        {
            "id": wamid,
            "status": "delivered",
            "timestamp": "1750857384",
            "recipient_id": RECIPIENT,
            "biz_opaque_callback_data": callback,
            "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
        }
    ]


def test_the_lifecycle_duplicates_and_bad_signatures(wa, receiver):
    wamid = json.loads(call(wa, template_body())[2])["messages"][0]["id"]

    assert wa.emit_lifecycle(wamid) == [200, 200, 200]
    assert [s["status"] for s in receiver.statuses()] == ["sent", "delivered", "read"]
    assert "biz_opaque_callback_data" not in receiver.statuses()[0]

    assert wa.emit_status(wamid, "read", duplicate=True) == 200
    assert receiver.posts()[-1][1] == receiver.posts()[-2][1]

    assert wa.emit_status(wamid, "delivered", bad_signature=True) == 403
    receiver.answer = 500
    assert wa.emit_status(wamid, "failed", errors=[131049]) == 500
    assert receiver.statuses()[-1]["errors"][0]["code"] == 131049
    assert [d["status"] for d in wa.webhook_deliveries] == [200, 200, 200, 200, 200, 403, 500]


def test_emit_raw_sends_the_bytes_and_signature_given(wa, receiver):
    body = b"{not json"

    assert wa.emit_raw(body, wa.sign(body)) == 200
    assert wa.emit_raw(body, None) == 403
    assert [raw for _h, raw in receiver.posts()] == [body, body]
    assert "X-Hub-Signature-256" not in receiver.posts()[1][0]


def test_a_status_for_a_wamid_never_issued_needs_a_recipient(wa, receiver):
    with pytest.raises(KeyError):
        wa.emit_status("wamid.unknown", "sent")

    assert wa.emit_status("wamid.unknown", "sent", recipient_id=RECIPIENT) == 200
    assert receiver.statuses()[0]["recipient_id"] == RECIPIENT


def test_the_subscribe_handshake_echoes_the_challenge_only_for_the_right_token(wa, receiver):
    assert wa.verify_subscription(VERIFY_TOKEN, "1158201444") == (200, "1158201444")
    assert wa.verify_subscription("wrong", "1158201444")[0] == 403
    path = receiver.calls[0][1]
    assert "hub.mode=subscribe" in path and "hub.challenge=1158201444" in path


def test_webhooks_can_go_through_a_flask_test_client(wa):
    class FakeResponse:
        status_code = 204

        def get_data(self):
            return b""

        def close(self):
            pass

    class FakeClient:
        def __init__(self):
            self.calls = []

        def open(self, url, method, data, headers):
            self.calls.append((url, method, data, headers))
            return FakeResponse()

    client = FakeClient()
    wa.webhook_transport = flask_client_transport(client)
    wa.webhook_url = "/webhooks/whatsapp"
    wamid = json.loads(call(wa, template_body())[2])["messages"][0]["id"]

    assert wa.emit_status(wamid, "sent") == 204
    [(url, method, data, headers)] = client.calls
    assert (url, method) == ("/webhooks/whatsapp", "POST")
    assert headers["X-Hub-Signature-256"] == wa.sign(data)
