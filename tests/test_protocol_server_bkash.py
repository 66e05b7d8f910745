"""The local bKash Tokenized Checkout answers, redirects and notifies as PROTOCOLS.md §1 says bKash does.

The desk's payment tests will trust this server to stand for tokenized.sandbox.bka.sh,
so it is checked from the outside only: plain urllib for the desk's API calls, a small
http.server receiver for the desk's callback and IPN endpoints, and the `cryptography`
package to verify the SNS signatures the way the desk will have to.
"""

import base64
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.protocol_servers.bkash import DEBIT_BLOCKED_WALLET
from tests.protocol_servers.bkash import INSUFFICIENT_BALANCE_WALLET
from tests.protocol_servers.bkash import BkashServer
from tests.protocol_servers.bkash import flask_client_transport
from tests.protocol_servers.bkash import urllib_transport

USERNAME = "desk-user"
PASSWORD = "desk-pass"
APP_KEY = "desk-app-key"
APP_SECRET = "desk-app-secret"
WALLET = "01770618575"
# The local servers must be reached directly even if the environment sets a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


BROWSER = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


def post(url, body, headers, timeout=5):
    """One JSON POST; returns (status, headers, raw body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        method="POST",
    )
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def grant(bkash, username=USERNAME, password=PASSWORD, app_key=APP_KEY, app_secret=APP_SECRET):
    """The grant-token call as the official plugin makes it; returns (status, parsed body)."""
    status, _headers, raw = post(
        f"{bkash.base_url}/tokenized/checkout/token/grant",
        {"app_key": app_key, "app_secret": app_secret},
        {"username": username, "password": password},
    )
    return status, json.loads(raw)


class Desk:
    """The desk's bKash client in miniature: one token, the raw token in Authorization."""

    def __init__(self, bkash):
        self.bkash = bkash
        status, body = grant(bkash)
        assert status == 200 and body["statusCode"] == "0000"
        self.token = body["id_token"]
        self.refresh_token = body["refresh_token"]

    def call(self, path, body, *, token=None, app_key=APP_KEY, timeout=5):
        """POST to /tokenized/checkout/<path>; returns (status, parsed JSON or raw bytes)."""
        headers = {"Authorization": token or self.token}
        if app_key is not None:
            headers["X-APP-Key"] = app_key
        status, _headers, raw = post(f"{self.bkash.checkout_url}/{path}", body, headers, timeout)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def create(self, amount="500.00", invoice="INV-1", callback=None, **extra):
        body = {
            "mode": "0011",
            "payerReference": WALLET,
            "callbackURL": callback or "http://127.0.0.1:9/pay/bkash/callback",
            "amount": amount,
            "currency": "BDT",
            "intent": "sale",
            "merchantInvoiceNumber": invoice,
            **extra,
        }
        return self.call("create", body)

    def created(self, *args, **kwargs):
        status, body = self.create(*args, **kwargs)
        assert status == 200 and body["statusCode"] == "0000", body
        return body["paymentID"]

    def execute(self, payment_id, **kwargs):
        return self.call("execute", {"paymentID": payment_id}, **kwargs)

    def query(self, payment_id):
        return self.call("payment/status", {"paymentID": payment_id})

    def refund(self, payment_id, trx_id, amount=None, sku="locker-rent", reason="Rental cancelled"):
        body = {"paymentID": payment_id, "trxID": trx_id}
        if amount is not None:
            body.update(amount=amount, sku=sku, reason=reason)
        return self.call("payment/refund", body)


class Receiver:
    """The desk's callback (GET) and IPN (POST) endpoints in miniature."""

    def __init__(self):
        self.calls = []
        self.answer = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                receiver.calls.append(("GET", self.path, self.lowered(), b""))
                self.reply()

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(("POST", self.path, self.lowered(), raw))
                self.reply()

            def lowered(self):
                # Header names as sent vary in case (urllib capitalises them).
                return {name.lower(): value for name, value in self.headers.items()}

            def reply(self):
                self.send_response(receiver.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.callback_url = f"{origin}/pay/bkash/callback"
        self.ipn_url = f"{origin}/pay/bkash/ipn"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.start()

    def callbacks(self):
        """The query parameters of each callback, in order."""
        return [
            dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
            for method, path, _headers, _raw in self.calls
            if method == "GET"
        ]

    def posts(self):
        return [(headers, raw) for method, _path, headers, raw in self.calls if method == "POST"]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def bkash():
    with BkashServer(app_key=APP_KEY, app_secret=APP_SECRET, username=USERNAME, password=PASSWORD) as server:
        yield server


@pytest.fixture
def desk(bkash):
    return Desk(bkash)


@pytest.fixture
def receiver(bkash):
    receiver = Receiver()
    bkash.ipn_url = receiver.ipn_url
    yield receiver
    receiver.stop()


def paid(bkash, desk, amount="500.00", invoice="INV-1"):
    """A payment created, paid by the customer and executed; returns the execute answer."""
    payment_id = desk.created(amount, invoice)
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    status, body = desk.execute(payment_id)
    assert status == 200 and body["statusCode"] == "0000", body
    return body


# -- tokens ------------------------------------------------------------------------------


def test_grant_issues_a_token_for_an_hour_that_the_api_accepts_raw(bkash):
    status, body = grant(bkash)

    assert status == 200
    assert set(body) == {
        "statusCode",
        "statusMessage",
        "id_token",
        "token_type",
        "expires_in",
        "refresh_token",
    }
    assert (body["statusCode"], body["statusMessage"]) == ("0000", "Successful")
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["id_token"].count(".") == 2  # JWT-shaped, as Cognito's are
    [request] = bkash.calls("grant")
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["username"] == USERNAME and request.body == {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
    }

    status, _headers, raw = post(
        f"{bkash.checkout_url}/payment/status",
        {"paymentID": "TR0011unknown"},
        {"Authorization": body["id_token"], "X-APP-Key": APP_KEY},
    )
    assert (status, json.loads(raw)["statusCode"]) == (200, "2002")  # past the gateway


@pytest.mark.parametrize(
    "change, status, expected",
    [
        ({"username": "someone"}, 401, {"message": "Unauthorized"}),
        ({"password": "guess"}, 401, {"message": "Unauthorized"}),
        ({"app_key": "other"}, 200, {"statusCode": "2001", "statusMessage": "Invalid App Key"}),
        ({"app_secret": "other"}, 200, {"statusCode": "2001", "statusMessage": "Invalid App Key"}),
        ({"app_secret": ""}, 200, {"statusCode": "2065", "statusMessage": "Mandatory field missing"}),
    ],
)
def test_grant_checks_the_merchant_credentials(bkash, change, status, expected):
    assert grant(bkash, **change) == (status, expected)
    assert bkash.tokens == []


def test_refresh_issues_a_new_id_token_and_keeps_the_refresh_token(bkash, desk):
    url = f"{bkash.base_url}/tokenized/checkout/token/refresh"
    credentials = {"username": USERNAME, "password": PASSWORD}
    body = {"app_key": APP_KEY, "app_secret": APP_SECRET, "refresh_token": desk.refresh_token}

    status, _headers, raw = post(url, body, credentials)
    refreshed = json.loads(raw)

    assert status == 200 and refreshed["statusCode"] == "0000"
    assert refreshed["id_token"] != desk.token
    assert refreshed["refresh_token"] == desk.refresh_token
    # The old id_token lives on until its own expiry.
    assert desk.query("TR0011unknown")[1]["statusCode"] == "2002"
    assert desk.call("payment/status", {"paymentID": "x"}, token=refreshed["id_token"])[0] == 200
    assert [token["kind"] for token in bkash.tokens] == ["grant", "refresh"]

    bad = post(url, {**body, "refresh_token": "made-up"}, credentials)
    assert (bad[0], json.loads(bad[2])) == (401, {"message": "Unauthorized"})
    bkash.advance(29 * 24 * 3600)
    assert post(url, body, credentials)[0] == 401


def test_the_gateway_refuses_missing_unknown_prefixed_and_expired_tokens(bkash, desk):
    assert desk.call("payment/status", {"paymentID": "x"}, token="not-a-token") == (
        401,
        {"message": "Unauthorized"},
    )
    bearer = desk.call("payment/status", {"paymentID": "x"}, token="Bearer " + desk.token)
    assert bearer == (401, {"message": "Unauthorized"})
    status, headers, raw = post(
        f"{bkash.checkout_url}/payment/status", {"paymentID": "x"}, {"X-APP-Key": APP_KEY}
    )
    assert (status, json.loads(raw)) == (401, {"message": "Unauthorized"})
    assert headers["x-amzn-ErrorType"] == "UnauthorizedException"

    assert desk.call("payment/status", {"paymentID": "x"}, app_key="wrong")[1]["statusCode"] == "2001"
    assert desk.call("payment/status", {"paymentID": "x"}, app_key=None)[1]["statusCode"] == "2001"

    bkash.advance(3599)
    assert desk.query("x")[0] == 200
    bkash.advance(1)
    assert desk.query("x") == (401, {"message": "The incoming token has expired"})


def test_expire_and_revoke_tokens_force_a_new_grant(bkash, desk):
    bkash.expire_tokens()
    assert desk.query("x") == (401, {"message": "The incoming token has expired"})
    fresh = Desk(bkash)
    assert fresh.query("x")[0] == 200

    bkash.revoke_tokens()
    assert fresh.query("x") == (401, {"message": "Unauthorized"})


# -- a payment -----------------------------------------------------------------------------


def test_a_paid_payment_goes_create_callback_execute_query_search(bkash, desk, receiver):
    status, created = desk.create("500.00", "INV-42", callback=receiver.callback_url)

    assert status == 200
    payment_id = created["paymentID"]
    assert payment_id.startswith("TR0011")
    assert created["bkashURL"].startswith(bkash.origin + "/redirect/tokenized/?paymentID=" + payment_id)
    assert created["successCallbackURL"] == f"{receiver.callback_url}?paymentID={payment_id}&status=success"
    assert created["cancelledCallbackURL"].endswith("&status=cancel")
    assert created["failureCallbackURL"].endswith("&status=failure")
    assert (created["amount"], created["currency"], created["intent"]) == ("500.00", "BDT", "sale")
    assert (created["transactionStatus"], created["merchantInvoiceNumber"]) == ("Initiated", "INV-42")
    assert created["paymentCreateTime"].endswith(" GMT+0600")
    assert desk.query(payment_id)[1]["verificationStatus"] == "Incomplete"

    assert bkash.customer_pays(payment_id) == 200

    [callback] = receiver.callbacks()
    assert callback["paymentID"] == payment_id and callback["status"] == "success"
    assert callback["signature"] and callback["apiVersion"] == "1.2.0-beta"
    # The callback is the customer's browser: a GET that proves nothing by itself.
    assert receiver.calls[0][0] == "GET" and "Mobile" in receiver.calls[0][2]["user-agent"]
    queried = desk.query(payment_id)[1]
    assert (queried["transactionStatus"], queried["verificationStatus"]) == ("Initiated", "Complete")
    assert "trxID" not in queried

    status, executed = desk.execute(payment_id)

    assert status == 200
    assert executed["statusCode"] == "0000" and executed["transactionStatus"] == "Completed"
    assert (executed["amount"], executed["currency"], executed["merchantInvoiceNumber"]) == (
        "500.00",
        "BDT",
        "INV-42",
    )
    assert executed["customerMsisdn"] == WALLET and executed["payerReference"] == WALLET
    trx_id = executed["trxID"]
    assert len(trx_id) == 10 and trx_id.isalnum() and trx_id.upper() == trx_id

    queried = desk.query(payment_id)[1]
    assert queried["transactionStatus"] == "Completed" and queried["trxID"] == trx_id
    assert queried["merchantInvoice"] == "INV-42" and "merchantInvoiceNumber" not in queried
    assert queried["paymentExecuteTime"] == executed["paymentExecuteTime"]

    status, found = desk.call("general/searchTransaction", {"trxID": trx_id})
    assert found["statusCode"] == "0000" and found["transactionStatus"] == "Completed"
    assert (found["trxID"], found["amount"], found["customerMsisdn"]) == (trx_id, "500.00", WALLET)
    assert found["transactionType"] == "bKash Tokenized Checkout via API"
    assert bkash.payment(payment_id)["transactionStatus"] == "Completed"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"amount": None}, "2065"),
        ({"merchantInvoiceNumber": ""}, "2065"),
        ({"mode": "0001"}, "2064"),
        ({"mode": "11"}, "2063"),
        ({"payerReference": ["x"]}, "2048"),
        ({"callbackURL": "javascript:alert(1)"}, "2049"),
        ({"amount": 500}, "2006"),
        ({"amount": "500.001"}, "2006"),
        ({"amount": "-5"}, "2006"),
        ({"amount": "0.50"}, "2006"),
        ({"amount": "1e3"}, "2006"),
        ({"currency": "USD"}, "2007"),
        ({"intent": "authorization"}, "2008"),
        ({"merchantInvoiceNumber": "x" * 256}, "2031"),
    ],
)
def test_create_refuses_a_malformed_payment(bkash, desk, change, code):
    body = {
        "mode": "0011",
        "payerReference": WALLET,
        "callbackURL": "https://desk.example/pay/bkash/callback",
        "amount": "150.00",
        "currency": "BDT",
        "intent": "sale",
        "merchantInvoiceNumber": "INV-7",
    }
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}

    status, answer = desk.call("create", body)

    assert status == 200 and set(answer) == {"statusCode", "statusMessage"}
    assert answer["statusCode"] == code and answer["statusMessage"]
    assert bkash.payments() == []


def test_create_accepts_the_plugins_empty_optional_fields_and_echoes_the_amount(bkash, desk):
    status, body = desk.create("15", agreementID="", merchantAssociationInfo="")

    assert body["statusCode"] == "0000" and body["amount"] == "15"


def test_an_invoice_number_is_refused_a_second_time_by_default(bkash, desk):
    desk.created(invoice="INV-9")
    assert desk.create(invoice="INV-9")[1]["statusCode"] == "2029"

    bkash.duplicate_invoice = "completed"
    first = desk.created(invoice="INV-9")
    second = desk.created(invoice="INV-9")
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(first)
    bkash.customer_pays(second)
    assert desk.execute(first)[1]["statusCode"] == "0000"
    assert desk.execute(second)[1]["statusCode"] == "2029"
    assert desk.create(invoice="INV-9")[1]["statusCode"] == "2029"

    bkash.duplicate_invoice = None
    assert desk.create(invoice="INV-9")[1]["statusCode"] == "0000"


def test_execute_needs_the_customer_and_refuses_a_cancelled_or_failed_payment(bkash, desk, receiver):
    waiting = desk.created(invoice="A", callback=receiver.callback_url)
    assert desk.execute(waiting)[1] == {"statusCode": "2056", "statusMessage": "Invalid Payment State"}

    cancelled = desk.created(invoice="B", callback=receiver.callback_url)
    assert bkash.customer_cancels(cancelled) == 200
    assert desk.execute(cancelled)[1]["statusCode"] == "2056"
    assert desk.query(cancelled)[1]["transactionStatus"] == "Cancelled"

    failed = desk.created(invoice="C", callback=receiver.callback_url)
    assert bkash.customer_fails(failed, "2015") == 200
    assert desk.execute(failed)[1]["statusCode"] == "2056"
    assert desk.query(failed)[1]["transactionStatus"] == "Failed"
    assert bkash.payment(failed)["failure_code"] == "2015"

    assert [(c["paymentID"], c["status"]) for c in receiver.callbacks()] == [
        (cancelled, "cancel"),
        (failed, "failure"),
    ]
    assert "2015" not in receiver.calls[-1][1]  # the merchant is not told why
    assert desk.execute("TR0011nothing")[1]["statusCode"] == "2002"
    assert desk.call("execute", {})[1]["statusCode"] == "2065"


def test_the_customer_cannot_decide_a_payment_twice(bkash, desk):
    payment_id = desk.created()
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_cancels(payment_id)

    with pytest.raises(ValueError):
        bkash.customer_pays(payment_id)
    with pytest.raises(KeyError):
        bkash.customer_pays("TR0011nothing")
    with pytest.raises(ValueError):
        bkash.customer_pays(desk.created(invoice="INV-2"), wallet="12345")


def test_a_payment_executes_once_even_when_asked_twice_at_the_same_moment(bkash, desk):
    executed = paid(bkash, desk)

    again = desk.execute(executed["paymentID"])[1]
    assert again == {
        "statusCode": "2117",
        "statusMessage": "The payment execution has already been completed",
    }
    bkash.replayed_execute_code = "2062"
    assert desk.execute(executed["paymentID"])[1]["statusCode"] == "2062"

    payment_id = desk.created(invoice="INV-2")
    bkash.customer_pays(payment_id)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(desk.execute(payment_id)[1])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer["statusCode"] for answer in answers) == ["0000", "2062", "2062", "2062"]


@pytest.mark.parametrize(
    "wallet, code", [(INSUFFICIENT_BALANCE_WALLET, "2023"), (DEBIT_BLOCKED_WALLET, "2037")]
)
def test_a_declining_wallet_authorises_on_the_page_and_fails_at_execute(bkash, desk, receiver, wallet, code):
    payment_id = desk.created(callback=receiver.callback_url)

    assert bkash.customer_pays(payment_id, wallet=wallet) == 200
    assert receiver.callbacks()[0]["status"] == "success"

    assert desk.execute(payment_id)[1]["statusCode"] == code
    assert desk.query(payment_id)[1]["transactionStatus"] == "Failed"
    assert desk.execute(payment_id)[1]["statusCode"] == "2056"


def test_a_payment_not_executed_within_the_session_expires(bkash, desk):
    bkash.transport = lambda method, url, body, headers: (200, b"")
    unpaid, unexecuted, forced = (
        desk.created(invoice="A"),
        desk.created(invoice="B"),
        desk.created(invoice="C"),
    )
    bkash.customer_pays(unexecuted)
    bkash.expire(forced)
    assert desk.query(forced)[1]["transactionStatus"] == "Expired"

    bkash.advance(bkash.session_seconds)

    assert desk.query(unpaid)[1]["transactionStatus"] == "Expired"
    assert desk.execute(unexecuted)[1]["statusCode"] == "2056"
    with pytest.raises(ValueError):
        bkash.customer_pays(unpaid)


def test_refunds_are_partial_limited_and_their_status_can_be_asked(bkash, desk):
    executed = paid(bkash, desk, amount="500.00")
    payment_id, trx_id = executed["paymentID"], executed["trxID"]
    assert desk.refund(payment_id, trx_id)[1]["statusCode"] == "2002"  # no refund yet

    status, refunded = desk.refund(payment_id, trx_id, "200.00")

    assert refunded["statusCode"] == "0000" and refunded["transactionStatus"] == "Completed"
    assert (refunded["originalTrxID"], refunded["amount"], refunded["currency"]) == (trx_id, "200.00", "BDT")
    assert refunded["refundTrxID"] != trx_id and refunded["charge"] == "0.00"
    assert desk.refund(payment_id, trx_id)[1] == refunded

    assert desk.refund(payment_id, trx_id, "300.01")[1]["statusCode"] == "2026"
    assert desk.refund(payment_id, trx_id, "300")[1]["statusCode"] == "0000"
    assert desk.refund(payment_id, trx_id, "0.01")[1]["statusCode"] == "2026"
    assert desk.refund(payment_id, "OTHERTRX01", "1")[1]["statusCode"] == "2033"
    assert desk.refund(payment_id, trx_id, "1", reason="")[1]["statusCode"] == "2065"
    assert [r["amount"] for r in bkash.payment(payment_id)["refunds"]] == ["200.00", "300"]

    late = paid(bkash, desk, amount="100.00", invoice="INV-2")
    bkash.advance(15 * 86400 + 1)
    desk = Desk(bkash)  # the old token expired long ago
    assert desk.refund(late["paymentID"], late["trxID"], "1.00")[1]["statusCode"] == "2035"


def test_unknown_ids_bad_bodies_and_unrouted_paths(bkash, desk):
    assert desk.query("TR0011nothing")[1]["statusCode"] == "2002"
    assert desk.call("general/searchTransaction", {"trxID": "NOSUCHTRX0"})[1]["statusCode"] == "2033"
    assert desk.call("execute", b"{not json")[1] == {
        "statusCode": "2025",
        "statusMessage": "Invalid request body",
    }
    assert desk.call("execute", b"[]")[1]["statusCode"] == "2025"

    for path in ("payment/create", "create/"):
        status, headers, raw = post(f"{bkash.checkout_url}/{path}", {}, {"Authorization": desk.token})
        assert (status, json.loads(raw)) == (403, {"message": "Missing Authentication Token"})
    request = urllib.request.Request(f"{bkash.checkout_url}/create", method="GET")
    with pytest.raises(urllib.error.HTTPError) as raised:
        OPENER.open(request, timeout=5)
    with raised.value as error:
        assert error.code == 403


# -- switches ------------------------------------------------------------------------------


def test_fail_next_refuses_the_chosen_endpoint_then_recovers(bkash, desk):
    bkash.fail_next("503", endpoint="create")
    bkash.fail_next(2023, endpoint="execute", envelope="error")

    assert desk.query("x")[1]["statusCode"] == "2002"  # another endpoint: untouched
    assert desk.create()[1] == {
        "statusCode": "503",
        "statusMessage": "System is undergoing maintenance. Please try again later",
    }
    assert bkash.payments() == []
    payment_id = desk.created()
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    assert desk.execute(payment_id)[1] == {"errorCode": "2023", "errorMessage": "Insufficient Balance"}
    assert desk.query(payment_id)[1]["transactionStatus"] == "Initiated"  # nothing happened
    assert desk.execute(payment_id)[1]["statusCode"] == "0000"

    with pytest.raises(ValueError):
        bkash.fail_next("2001", endpoint="pay")


def test_a_refused_token_is_checked_before_an_injected_failure(bkash, desk):
    bkash.fail_next("503")
    assert desk.call("payment/status", {}, token="nope")[0] == 401
    assert desk.create()[1]["statusCode"] == "503"


def test_a_gateway_timeout_after_execute_leaves_the_payment_completed_for_query(bkash, desk):
    payment_id = desk.created()
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    bkash.http_error_next(504, endpoint="execute", performed=True)

    assert desk.execute(payment_id) == (504, {"message": "Endpoint request timed out"})

    queried = desk.query(payment_id)[1]
    assert queried["transactionStatus"] == "Completed" and queried["trxID"]
    assert desk.execute(payment_id)[1]["statusCode"] == "2117"

    bkash.http_error_next(502)
    assert desk.query(payment_id) == (502, {"message": "Internal server error"})


def test_malformed_and_dropped_answers(bkash, desk):
    payment_id = desk.created()
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    bkash.malformed_next("execute", performed=True)

    status, body = desk.execute(payment_id)
    assert status == 200 and body.startswith(b"<!DOCTYPE html>")
    assert desk.query(payment_id)[1]["transactionStatus"] == "Completed"

    bkash.malformed_next("query", body=b'{"statusCode":"0000","statusMess')
    assert desk.query(payment_id) == (200, b'{"statusCode":"0000","statusMess')

    bkash.disconnect_next("create")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        desk.create(invoice="INV-2")
    assert len(bkash.payments()) == 1
    bkash.disconnect_next("create", performed=True)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        desk.create(invoice="INV-3")
    assert len(bkash.payments()) == 2


def test_delay_and_delay_next_hold_the_answer_back(bkash, desk):
    bkash.delay_next(0.3, endpoint="execute")
    started = time.monotonic()
    assert desk.query("x")[0] == 200
    assert time.monotonic() - started < 0.3

    with pytest.raises((TimeoutError, urllib.error.URLError)):
        desk.execute("x", timeout=0.1)
    bkash.delay = 0.1
    started = time.monotonic()
    assert desk.query("x")[0] == 200
    assert time.monotonic() - started >= 0.1


def test_hold_after_accept_completes_the_payment_before_answering(bkash, desk):
    payment_id = desk.created()
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    bkash.hold_after_accept = {"execute"}
    answers = []
    client = threading.Thread(target=lambda: answers.append(desk.execute(payment_id)))
    client.start()

    assert bkash.accepted_event.wait(2)
    assert desk.query(payment_id)[1]["transactionStatus"] == "Completed"  # not held: another endpoint
    client.join(0.1)
    assert client.is_alive() and answers == []
    bkash.release()
    client.join(2)
    assert answers[0][1]["transactionStatus"] == "Completed"


def test_stop_releases_a_held_answer_and_idle_connections():
    bkash = BkashServer(app_key=APP_KEY, app_secret=APP_SECRET, username=USERNAME, password=PASSWORD)
    desk = Desk(bkash)
    idle = http.client.HTTPConnection("127.0.0.1", bkash.port, timeout=5)
    idle.request("POST", "/nowhere", body=b"{}")
    idle.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    bkash.hold_after_accept = True
    outcome = []

    def create():
        # Released by stop(), the held call ends either way: an answer, or the server
        # closing the connection first (which one is a race; both let the desk go on).
        try:
            outcome.append(desk.create())
        except OSError as closed:  # urllib's URLError around RemoteDisconnected
            outcome.append(closed)

    client = threading.Thread(target=create)
    client.start()
    assert bkash.accepted_event.wait(2)

    started = time.monotonic()
    bkash.stop()
    client.join(2)
    idle.close()

    assert time.monotonic() - started < 1
    assert not client.is_alive() and len(outcome) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("bkash-")]


def test_tamper_next_changes_the_fields_the_desk_must_check(bkash, desk):
    payment_id = desk.created("500.00")
    bkash.transport = lambda method, url, body, headers: (200, b"")
    bkash.customer_pays(payment_id)
    bkash.tamper_next("execute", amount="5.00", currency="USD")
    bkash.tamper_next("query", merchantInvoice="INV-OTHER", trxID=None)

    executed = desk.execute(payment_id)[1]
    assert (executed["amount"], executed["currency"]) == ("5.00", "USD")
    queried = desk.query(payment_id)[1]
    assert queried["merchantInvoice"] == "INV-OTHER" and "trxID" not in queried
    assert desk.query(payment_id)[1]["merchantInvoice"] == "INV-1"  # once only
    assert bkash.payment(payment_id)["amount"] == "500.00"


# -- the customer's browser and the callback ---------------------------------------------------


def test_callbacks_can_be_replayed_and_forged(bkash, desk, receiver):
    payment_id = desk.created(callback=receiver.callback_url + "?desk=1")
    bkash.customer_pays(payment_id)

    assert bkash.replay_callback(payment_id) == 200
    first, replayed = receiver.callbacks()
    assert first == replayed and first["desk"] == "1"

    other = desk.created(invoice="INV-2", callback=receiver.callback_url)
    receiver.answer = 302
    assert bkash.send_callback(other, "success", signature="forged") == 302
    assert receiver.callbacks()[-1] == {
        "paymentID": other,
        "status": "success",
        "signature": "forged",
        "apiVersion": "1.2.0-beta",
    }
    assert desk.query(other)[1]["verificationStatus"] == "Incomplete"  # nobody paid
    assert bkash.send_callback("TR0011madeup", "success", callback_url=receiver.callback_url) == 302
    assert [d["status"] for d in bkash.deliveries] == [200, 200, 302, 302]


def test_the_hosted_page_takes_a_real_browser_to_the_callback(bkash, desk):
    status, created = desk.create(callback="https://desk.example/pay/bkash/callback")
    page_url = created["bkashURL"]
    with BROWSER.open(page_url, timeout=5) as response:
        page = response.read().decode()
    assert response.status == 200 and 'name="wallet" value="01770618575"' in page
    fields = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page_url).query))
    form = {"paymentID": fields["paymentID"], "hash": fields["hash"], "wallet": WALLET, "otp": "123456"}

    def submit(**change):
        data = urllib.parse.urlencode({**form, **change}).encode()
        try:
            with BROWSER.open(bkash.origin + "/redirect/tokenized/", data=data, timeout=5) as answer:
                return answer.status, answer.headers
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers

    assert submit(action="pay", pin="00000")[0] == 400
    assert submit(action="pay", pin="12121", hash="wrong")[0] == 404
    status, headers = submit(action="pay", pin="12121")

    assert status == 302
    location = urllib.parse.urlsplit(headers["Location"])
    assert location.netloc == "desk.example" and location.path == "/pay/bkash/callback"
    assert dict(urllib.parse.parse_qsl(location.query))["status"] == "success"
    assert desk.execute(created["paymentID"])[1]["statusCode"] == "0000"
    assert submit(action="cancel")[0] == 400  # the session is over


def test_callbacks_and_ipns_can_go_through_a_flask_test_client(bkash, desk):
    class FakeResponse:
        status_code = 302

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
    bkash.transport = flask_client_transport(client)
    bkash.ipn_url = "/pay/bkash/ipn"
    payment_id = desk.created(callback="http://localhost/pay/bkash/callback")

    assert bkash.customer_pays(payment_id) == 302
    desk.execute(payment_id)
    assert bkash.emit_ipn(payment_id) == 302
    (url, method, data, _headers), (ipn_url, ipn_method, ipn_body, ipn_headers) = client.calls
    assert (method, data) == ("GET", None) and url.startswith(
        "http://localhost/pay/bkash/callback?paymentID="
    )
    assert (ipn_url, ipn_method) == ("/pay/bkash/ipn", "POST")
    assert (
        ipn_headers["x-amz-sns-message-type"] == "Notification"
        and json.loads(ipn_body)["Type"] == "Notification"
    )


# -- the IPN over SNS ---------------------------------------------------------------------------


def canonical(envelope):
    """SNS's string to sign, rebuilt here independently of the server's code."""
    if envelope["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope).encode()


def verify(envelope):
    """True when the envelope's signature checks out against the certificate at SigningCertURL."""
    with OPENER.open(envelope["SigningCertURL"], timeout=5) as response:
        certificate = x509.load_pem_x509_certificate(response.read())
    algorithm = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
    try:
        certificate.public_key().verify(
            base64.b64decode(envelope["Signature"]), canonical(envelope), padding.PKCS1v15(), algorithm
        )
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize("version", ["1", "2"])
def test_an_ipn_is_a_signed_sns_notification_of_the_completed_payment(bkash, desk, receiver, version):
    executed = paid(bkash, desk, amount="150", invoice="INV-150")
    bkash.transport = urllib_transport  # real HTTP again
    bkash.sns_signature_version = version

    assert bkash.emit_ipn(executed["paymentID"]) == 200

    [(headers, raw)] = receiver.posts()
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["x-amz-sns-message-type"] == "Notification"
    envelope = json.loads(raw)
    assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == bkash.topic_arn
    assert envelope["SignatureVersion"] == version and envelope["SigningCertURL"].endswith(".pem")
    assert verify(envelope)
    message = json.loads(envelope["Message"])
    assert message["trxID"] == executed["trxID"] and message["transactionStatus"] == "Completed"
    assert Decimal(message["amount"]) == Decimal("150") and message["currency"] == "BDT"
    assert message["merchantInvoiceNumber"] == "INV-150" and message["debitMSISDN"] == WALLET
    assert len(message["dateTime"]) == 14 and message["dateTime"].isdigit()


def test_duplicate_forged_and_misdirected_ipns(bkash, desk, receiver):
    executed = paid(bkash, desk)
    bkash.transport = urllib_transport

    assert bkash.emit_ipn(executed["paymentID"], duplicate=True) == 200
    first, second = (json.loads(raw) for _headers, raw in receiver.posts())
    assert first == second  # an SNS retry: same MessageId, same signature

    bkash.emit_ipn(executed["paymentID"], bad_signature=True)
    assert not verify(json.loads(receiver.posts()[-1][1]))

    bkash.emit_ipn(executed["paymentID"], topic_arn="arn:aws:sns:ap-southeast-1:999999999999:someone-else")
    envelope = json.loads(receiver.posts()[-1][1])
    assert verify(envelope) and envelope["TopicArn"].endswith("someone-else")

    bkash.emit_ipn(executed["paymentID"], message={"amount": "1.00"})
    envelope = json.loads(receiver.posts()[-1][1])
    assert json.loads(envelope["Message"])["amount"] == "1.00" and verify(envelope)

    bkash.signing_cert_url = "https://sns.ap-southeast-1.amazonaws.com/SimpleNotificationService-x.pem"
    receiver.answer = 500
    assert bkash.emit_ipn(executed["paymentID"]) == 500
    assert json.loads(receiver.posts()[-1][1])["SigningCertURL"] == bkash.signing_cert_url
    assert bkash.certificate_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    assert bkash.emit_raw_ipn(b"{not json") == 500
    with pytest.raises(ValueError):
        bkash.emit_ipn(desk.created(invoice="INV-2"))


def test_the_subscription_is_confirmed_by_fetching_subscribe_url(bkash, receiver):
    assert bkash.emit_subscription_confirmation() == 200

    [(headers, raw)] = receiver.posts()
    envelope = json.loads(raw)
    assert headers["x-amz-sns-message-type"] == envelope["Type"] == "SubscriptionConfirmation"
    assert verify(envelope) and envelope["Token"]
    assert not bkash.subscription_confirmed
    with OPENER.open(envelope["SubscribeURL"], timeout=5) as response:
        assert response.status == 200 and b"<SubscriptionArn>" in response.read()
    assert bkash.subscription_confirmed

    wrong = envelope["SubscribeURL"].replace("Token=", "Token=x")
    with pytest.raises(urllib.error.HTTPError) as raised:
        OPENER.open(wrong, timeout=5)
    with raised.value as error:
        assert error.code == 400
