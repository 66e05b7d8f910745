"""The local Nagad gateway answers, checks and calls back as PROTOCOLS.md §2 says Nagad does.

Other tests trust this server to stand for sandbox.mynagad.com, so here it is checked from
the outside only: a small merchant written with urllib and `cryptography` (its own key pair,
Nagad's public key; it encrypts, signs, decrypts and verifies on its own), and a small
http.server receiver standing for the merchant's callback route.
"""

import base64
import datetime
import http.client
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Flask
from flask import request as flask_request

from tests.protocol_servers.nagad import NagadServer
from tests.protocol_servers.nagad import PaymentStateError
from tests.protocol_servers.nagad import flask_client_transport
from tests.protocol_servers.nagad import make_key_pair
from tests.protocol_servers.nagad import pem_body

MERCHANT_ID = "683002007104225"
MERCHANT_NUMBER = "01300200710"
DHAKA = datetime.timezone(datetime.timedelta(hours=6))
# The local servers must be reached directly even if the environment sets a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HEADERS = {
    "Content-Type": "application/json",
    "X-KM-Api-Version": "v-0.2.0",
    "X-KM-IP-V4": "103.100.100.100",
    "X-KM-Client-Type": "PC_WEB",
}


def dhaka_now(shift=0):
    moment = datetime.datetime.now(DHAKA) + datetime.timedelta(seconds=shift)
    return moment.strftime("%Y%m%d%H%M%S")


def b64(data):
    return base64.b64encode(data).decode("ascii")


def seal_options(options):
    """Take the options meant for Merchant.seal out of a call's keyword arguments."""
    return {
        name: options.pop(name) for name in ("encrypt_for", "sign_with", "signed_text") if name in options
    }


class Merchant:
    """The desk's side in miniature: its private key, Nagad's public key, and urllib."""

    def __init__(self, server, private_pem, pg_public_pem):
        self.server = server
        self.key = serialization.load_pem_private_key(
            private_pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
        self.pg = serialization.load_pem_public_key(pg_public_pem.encode())
        self.order_number = 0
        self.orders = {}  # paymentReferenceId -> orderId, as the desk would keep it

    def next_order_id(self):
        self.order_number += 1
        return f"LD{int(time.time())}{self.order_number:04d}"

    def seal(self, payload, *, encrypt_for=None, sign_with=None, signed_text=None):
        """sensitiveData and signature over one JSON text, as Nagad's sample builds them."""
        text = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        ciphertext = (encrypt_for or self.pg).encrypt(text, padding.PKCS1v15())
        signature = (sign_with or self.key).sign(signed_text or text, padding.PKCS1v15(), hashes.SHA256())
        return {"sensitiveData": b64(ciphertext), "signature": b64(signature)}

    def open(self, body):
        """Nagad's sensitiveData decrypted with our key, after checking Nagad's signature over it."""
        plaintext = self.key.decrypt(base64.b64decode(body["sensitiveData"]), padding.PKCS1v15())
        self.pg.verify(base64.b64decode(body["signature"]), plaintext, padding.PKCS1v15(), hashes.SHA256())
        return json.loads(plaintext)

    def call(self, method, path, body=None, *, headers=None, timeout=5, base=None):
        """One request; returns (HTTP status, response headers, parsed JSON or raw bytes)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            (base or self.server.base_url) + path,
            data=data,
            headers=HEADERS if headers is None else headers,
            method=method,
        )
        try:
            with OPENER.open(request, timeout=timeout) as response:
                status, answer_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, answer_headers, raw = error.code, error.headers, error.read()
        try:
            return status, answer_headers, json.loads(raw)
        except ValueError:
            return status, answer_headers, raw

    def initialize(self, order_id, *, challenge=None, date_time=None, sensitive=None, body=None, **options):
        date_time = date_time or dhaka_now()
        sensitive = sensitive or {
            "merchantId": MERCHANT_ID,
            "datetime": date_time,
            "orderId": order_id,
            "challenge": challenge or secrets.token_hex(20),
        }
        sealed = self.seal(sensitive, **seal_options(options))
        if body is None:
            body = {"accountNumber": MERCHANT_NUMBER, "dateTime": date_time, **sealed}
        return self.call("POST", f"/check-out/initialize/{MERCHANT_ID}/{order_id}", body, **options)

    def complete(
        self, ref, challenge, *, amount="500.00", callback_url=None, sensitive=None, extra=None, **options
    ):
        sensitive = sensitive or {
            "merchantId": MERCHANT_ID,
            "orderId": self.orders.get(ref, "UNKNOWN"),
            "currencyCode": "050",
            "amount": amount,
            "challenge": challenge,
        }
        body = {
            **self.seal(sensitive, **seal_options(options)),
            "merchantCallbackURL": callback_url or "https://desk.example/payments/nagad/callback",
            "additionalMerchantInfo": {"invoice": "INV-7", "branch": "Dhanmondi"},
            **(extra or {}),
        }
        return self.call("POST", f"/check-out/complete/{ref}", body, **options)

    def verify(self, ref, **options):
        return self.call("GET", f"/verify/payment/{ref}", **options)

    def start(self, order_id=None):
        """Initialize; returns (order_id, paymentReferenceId, Nagad's challenge)."""
        order_id = order_id or self.next_order_id()
        status, _headers, body = self.initialize(order_id)
        assert status == 200, body
        opened = self.open(body)
        self.orders[opened["paymentReferenceId"]] = order_id
        return order_id, opened["paymentReferenceId"], opened["challenge"]

    def checkout(self, amount="500.00", callback_url=None):
        """Initialize and complete; returns (order_id, paymentReferenceId, callBackUrl)."""
        order_id, ref, challenge = self.start()
        status, _headers, body = self.complete(ref, challenge, amount=amount, callback_url=callback_url)
        assert status == 200, body
        return order_id, ref, body["callBackUrl"]


class Receiver:
    """The merchant's callback route in miniature: records each GET, redirects to a receipt page."""

    def __init__(self):
        self.calls = []
        self.answer = 302
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                receiver.calls.append((self.path, dict(self.headers.items())))
                self.send_response(receiver.answer)
                self.send_header("Location", "/payments/receipt")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/payments/nagad/callback"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.start()

    def queries(self):
        return [urllib.parse.urlsplit(path).query for path, _headers in self.calls]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def keys():
    return SimpleNamespace(merchant=make_key_pair(), pg=make_key_pair(), stranger=make_key_pair())


@pytest.fixture
def nagad(keys):
    with NagadServer(keys.merchant.public_pem, keys.pg.private_pem) as server:
        yield server


@pytest.fixture
def merchant(nagad, keys):
    return Merchant(nagad, keys.merchant.private_pem, nagad.pg_public_key_pem)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def refusal(answer, reason, status=400):
    """Assert `answer` is Nagad's {reason, message} refusal with this reason and HTTP status."""
    got_status, headers, body = answer
    assert (got_status, body.get("reason") if isinstance(body, dict) else body) == (status, reason)
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == {"reason", "message"} and body["message"]


# -- the happy path --------------------------------------------------------------------


def test_the_checkout_round_trip_is_encrypted_signed_and_verified(nagad, merchant, receiver, keys):
    order_id = merchant.next_order_id()
    challenge = secrets.token_hex(20)

    status, headers, body = merchant.initialize(order_id, challenge=challenge)

    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert set(body) == {"sensitiveData", "signature"}
    opened = merchant.open(body)  # decrypts with our key, checks Nagad's signature
    assert set(opened) == {"paymentReferenceId", "challenge", "acceptDateTime"}
    ref = opened["paymentReferenceId"]
    # Nagad's own challenge, not an echo of ours.
    assert opened["challenge"] != challenge and len(opened["challenge"]) == 40
    accepted = datetime.datetime.strptime(opened["acceptDateTime"], "%Y%m%d%H%M%S").replace(tzinfo=DHAKA)
    assert abs((datetime.datetime.now(DHAKA) - accepted).total_seconds()) < 5
    stamp, merchant_id, ref_order, _nonce = base64.b64decode(ref).decode().split(".")
    assert (len(stamp), merchant_id, ref_order) == (13, MERCHANT_ID, order_id)
    # Nagad's key cannot read it: it was encrypted for the merchant.
    with pytest.raises(ValueError):
        json.loads(
            serialization.load_pem_private_key(keys.pg.private_pem.encode(), None).decrypt(
                base64.b64decode(body["sensitiveData"]), padding.PKCS1v15()
            )
        )
    assert merchant.verify(ref)[2]["status"] == "OrderInitiated"
    merchant.orders[ref] = order_id

    status, _headers, body = merchant.complete(
        ref, opened["challenge"], amount="500.00", callback_url=receiver.url
    )

    assert (status, body) == (200, {"status": "Success", "callBackUrl": f"{nagad.page_url}/check-out/{ref}"})
    page = merchant.call("GET", "", base=body["callBackUrl"], headers={})
    assert page[0] == 200 and b"500.00" in page[2]
    assert merchant.verify(ref)[2]["status"] == "InProgress"

    assert nagad.customer_pays(ref, client_mobile="01712347504") == 302

    [(path, callback_headers)] = receiver.calls
    query = urllib.parse.urlsplit(path).query
    assert [pair.split("=", 1)[0] for pair in query.split("&")] == [
        "merchant",
        "order_id",
        "payment_ref_id",
        "status",
        "status_code",
        "message",
        "payment_dt",
        "issuer_payment_ref",
    ]
    # Nagad's redirects leave the Base64 padding raw and write spaces as %20.
    assert f"&payment_ref_id={ref}&" in query
    assert "message=Successful%20Transaction" in query
    params = dict(urllib.parse.parse_qsl(query))
    assert params["merchant"] == MERCHANT_ID and params["order_id"] == order_id
    assert (params["status"], params["status_code"]) == ("Success", "00_0000_000")
    assert len(params["payment_dt"]) == 14 and len(params["issuer_payment_ref"]) == 8
    assert callback_headers["User-Agent"].startswith("Mozilla/5.0")

    status, _headers, verified = merchant.verify(ref)
    assert status == 200
    assert verified == {
        "merchantId": MERCHANT_ID,
        "orderId": order_id,
        "paymentRefId": ref,
        "amount": "500.00",
        "clientMobileNo": "017****7504",
        "merchantMobileNo": MERCHANT_NUMBER,
        "orderDateTime": verified["orderDateTime"],
        "issuerPaymentDateTime": verified["issuerPaymentDateTime"],
        "issuerPaymentRefNo": params["issuer_payment_ref"],
        "additionalMerchantInfo": '{"invoice":"INV-7","branch":"Dhanmondi"}',
        "status": "Success",
        "statusCode": "000",
        "cancelIssuerDateTime": None,
        "cancelIssuerRefNo": None,
    }
    assert Decimal(verified["amount"]) == Decimal("500")
    datetime.datetime.strptime(verified["orderDateTime"], "%Y-%m-%d %H:%M:%S.0")
    datetime.datetime.strptime(verified["issuerPaymentDateTime"], "%Y-%m-%d %H:%M:%S.0")

    # initialize, verify, complete, verify, verify: the hosted page is not an API call.
    assert [r.method for r in nagad.requests] == ["POST", "GET", "POST", "GET", "GET"]
    first = nagad.requests[0]
    assert {k.lower(): v for k, v in first.headers.items()}["x-km-api-version"] == "v-0.2.0"
    assert first.sensitive["challenge"] == challenge and first.body["accountNumber"] == MERCHANT_NUMBER
    assert nagad.requests[2].sensitive["amount"] == "500.00"
    assert nagad.callbacks[0]["status"] == 302 and nagad.callbacks[0]["params"] == params


def test_keys_may_be_bare_base64_and_paths_may_carry_double_slashes(keys):
    with NagadServer(pem_body(keys.merchant.public_pem), pem_body(keys.pg.private_pem)) as nagad:
        merchant = Merchant(nagad, keys.merchant.private_pem, keys.pg.public_pem)
        order_id, ref, challenge = merchant.start()
        status, _headers, body = merchant.complete(ref, challenge, base=nagad.base_url + "/")
        assert status == 200, body
        assert merchant.call("GET", f"//verify/payment/{ref}")[2]["status"] == "Ready"
    assert nagad.pg_public_key_pem == keys.pg.public_pem


# -- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"X-KM-Api-Version": None}, "MISSING_HEADER"),
        ({"X-KM-IP-V4": None}, "MISSING_HEADER"),
        ({"X-KM-Client-Type": None}, "MISSING_HEADER"),
        ({"X-KM-Api-Version": "v-0.1.0"}, "INVALID_API_VERSION"),
        ({"X-KM-IP-V4": "2001:db8::1"}, "INVALID_IP"),
        ({"X-KM-Client-Type": "DESKTOP"}, "INVALID_CLIENT_TYPE"),
        ({"X-KM-MC-Id": "999999999999999"}, "UNKNOWN_MERCHANT"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_initialize_and_complete_need_the_km_headers(nagad, merchant, change, reason):
    headers = {name: value for name, value in {**HEADERS, **change}.items() if value is not None}
    status = 415 if reason == "UNSUPPORTED_MEDIA_TYPE" else 400

    refusal(merchant.initialize(merchant.next_order_id(), headers=headers), reason, status)
    _order, ref, challenge = merchant.start()
    refusal(merchant.complete(ref, challenge, headers=headers), reason, status)
    assert nagad.payment(ref)["status"] == "OrderInitiated"


def test_verify_is_a_bare_get_as_in_nagads_sample_unless_told_otherwise(nagad, merchant):
    _order, ref, _challenge = merchant.start()

    assert merchant.verify(ref, headers={})[0] == 200
    nagad.verify_requires_headers = True
    refusal(merchant.verify(ref, headers={}), "MISSING_HEADER")
    assert merchant.verify(ref)[0] == 200
    refusal(merchant.verify("bm8gc3VjaA=="), "UNKNOWN_PAYMENT_REFERENCE")
    refusal(merchant.call("POST", f"/verify/payment/{ref}", {}), "METHOD_NOT_ALLOWED", 405)


# -- the merchant's cryptography -------------------------------------------------------


def test_a_signature_not_made_by_the_merchant_over_that_text_is_refused(nagad, merchant, keys):
    stranger = serialization.load_pem_private_key(keys.stranger.private_pem.encode(), None)
    order_id = merchant.next_order_id()

    refusal(merchant.initialize(order_id, sign_with=stranger), "INVALID_SIGNATURE")
    refusal(merchant.initialize(order_id, signed_text=b'{"other":"text"}'), "INVALID_SIGNATURE")
    date_time = dhaka_now()
    sensitive = {"merchantId": MERCHANT_ID, "datetime": date_time, "orderId": order_id, "challenge": "c"}
    sealed = merchant.seal(sensitive)
    body = {"dateTime": date_time, "sensitiveData": sealed["sensitiveData"], "signature": "not base64!"}
    refusal(merchant.initialize(order_id, body=body), "INVALID_SIGNATURE")
    # None of these took the order id.
    _order, ref, challenge = merchant.start(order_id)

    refusal(merchant.complete(ref, challenge, sign_with=stranger), "INVALID_SIGNATURE")
    assert nagad.payment(ref)["status"] == "OrderInitiated"


def test_sensitive_data_that_nagad_cannot_decrypt_is_refused(nagad, merchant, keys):
    stranger = serialization.load_pem_public_key(keys.stranger.public_pem.encode())
    order_id = merchant.next_order_id()
    date_time = dhaka_now()
    sensitive = {"merchantId": MERCHANT_ID, "datetime": date_time, "orderId": order_id, "challenge": "x" * 40}
    text = json.dumps(sensitive).encode()
    signature = b64(merchant.key.sign(text, padding.PKCS1v15(), hashes.SHA256()))
    # Too long for one RSA block, so a client that splits it into two blocks.
    chunked = b64(b"".join(merchant.pg.encrypt(part, padding.PKCS1v15()) for part in (text[:60], text[60:])))

    refusal(merchant.initialize(order_id, encrypt_for=stranger), "DECRYPTION_FAILED")
    not_json = b64(merchant.pg.encrypt(b"not json", padding.PKCS1v15()))
    for sensitive_data in (chunked, "%%%", b64(b"plain text"), not_json):
        body = {"dateTime": date_time, "sensitiveData": sensitive_data, "signature": signature}
        refusal(merchant.initialize(order_id, body=body), "DECRYPTION_FAILED")
    incomplete = {"merchantId": MERCHANT_ID, "datetime": date_time, "orderId": order_id}
    answer = merchant.initialize(order_id, date_time=date_time, sensitive=incomplete)
    refusal(answer, "INVALID_SENSITIVE_DATA")
    assert nagad.payment_for_order(order_id) is None


def test_every_answer_of_nagad_can_be_opened_only_by_the_merchant_it_was_sealed_for(nagad, merchant):
    nagad.bad_signature_next()
    status, _headers, body = merchant.initialize(merchant.next_order_id())

    assert status == 200
    with pytest.raises(InvalidSignature):
        merchant.open(body)
    # The payment exists all the same: only a verifying merchant notices.
    assert len(nagad.requests) == 1 and merchant.start()[1]


# -- freshness and replays -------------------------------------------------------------


def test_a_stale_future_or_inconsistent_datetime_is_refused(nagad, merchant):
    order_id = merchant.next_order_id()

    refusal(merchant.initialize(order_id, date_time=dhaka_now(-301)), "STALE_DATETIME")
    refusal(merchant.initialize(order_id, date_time=dhaka_now(+301)), "STALE_DATETIME")
    refusal(merchant.initialize(order_id, date_time="2024-01-01 10:00"), "INVALID_DATETIME")
    sensitive = {"merchantId": MERCHANT_ID, "datetime": dhaka_now(-60), "orderId": order_id}
    sensitive["challenge"] = "c1"
    refusal(merchant.initialize(order_id, sensitive=sensitive), "DATA_MISMATCH")
    assert merchant.initialize(order_id, date_time=dhaka_now(-240))[0] == 200

    # A request signed now arrives at a Nagad whose clock is ahead: the same refusal.
    nagad.advance(400)
    refusal(merchant.initialize(merchant.next_order_id()), "STALE_DATETIME")


def test_a_replayed_challenge_or_order_id_is_refused(nagad, merchant):
    order_id = merchant.next_order_id()
    status, _headers, _body = merchant.initialize(order_id, challenge="c" * 40)
    assert status == 200

    # The very same request again is a replay.
    first = nagad.requests[0]
    refusal(merchant.call("POST", first.path, first.body, base=nagad.page_url), "REPLAYED_CHALLENGE")
    refusal(merchant.initialize(merchant.next_order_id(), challenge="c" * 40), "REPLAYED_CHALLENGE")
    refusal(merchant.initialize(order_id), "DUPLICATE_ORDER_ID")
    assert all(r.sensitive for r in nagad.requests)
    assert nagad.payment_for_order(order_id)["merchant_challenge"] == "c" * 40


def test_an_unknown_merchant_or_a_mismatched_order_is_refused(nagad, merchant):
    order_id = merchant.next_order_id()
    date_time = dhaka_now()
    sensitive = {"merchantId": MERCHANT_ID, "datetime": date_time, "orderId": order_id, "challenge": "c2"}
    body = {"dateTime": date_time, **merchant.seal(sensitive)}

    ours = f"/check-out/initialize/{MERCHANT_ID}/{order_id}"

    stranger = f"/check-out/initialize/683000000000000/{order_id}"

    refusal(merchant.call("POST", stranger, body), "UNKNOWN_MERCHANT")
    refusal(merchant.call("POST", f"/check-out/initialize/{MERCHANT_ID}/OTHER1", body), "DATA_MISMATCH")
    refusal(merchant.call("POST", f"/check-out/initialize/{MERCHANT_ID}/LD-1", body), "INVALID_ORDER_ID")
    refusal(merchant.call("POST", ours, {**body, "accountNumber": "01799999999"}), "UNKNOWN_MERCHANT")
    assert merchant.call("POST", ours, body)[0] == 200


# -- complete --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"challenge": "our-own-challenge"}, "CHALLENGE_MISMATCH"),
        ({"currencyCode": "840"}, "INVALID_CURRENCY"),
        ({"amount": 500}, "INVALID_SENSITIVE_DATA"),
        ({"amount": "500.005"}, "INVALID_AMOUNT"),
        ({"amount": "1,500.00"}, "INVALID_AMOUNT"),
        ({"amount": "0.50"}, "INVALID_AMOUNT"),
        ({"amount": "-5"}, "INVALID_AMOUNT"),
        ({"orderId": "SOMEOTHER1"}, "DATA_MISMATCH"),
        ({"merchantId": "683000000000000"}, "DATA_MISMATCH"),
        ({"merchantCallbackURL": "javascript:alert(1)"}, "INVALID_CALLBACK_URL"),
        ({"merchantCallbackURL": None}, "INVALID_CALLBACK_URL"),
    ],
)
def test_complete_checks_the_challenge_currency_amount_and_callback(nagad, merchant, change, reason):
    order_id, ref, challenge = merchant.start()
    sensitive = {"merchantId": MERCHANT_ID, "orderId": order_id, "currencyCode": "050", "amount": "500.00"}
    sensitive["challenge"] = challenge
    extra = {}
    for name, value in change.items():
        (extra if name == "merchantCallbackURL" else sensitive)[name] = value

    refusal(merchant.complete(ref, challenge, sensitive=sensitive, extra=extra), reason)
    assert nagad.payment(ref)["status"] == "OrderInitiated"
    assert merchant.complete(ref, challenge)[0] == 200


def test_complete_has_limits_cannot_be_replayed_and_expires(nagad, merchant):
    nagad.max_amount = Decimal("25000")
    _order, ref, challenge = merchant.start()
    refusal(merchant.complete(ref, challenge, amount="25000.01"), "INVALID_AMOUNT")
    assert merchant.complete(ref, challenge, amount="50")[0] == 200  # the sample's "50"
    refusal(merchant.complete(ref, challenge), "ALREADY_COMPLETED")
    refusal(merchant.complete("bm8gc3VjaA==", challenge), "UNKNOWN_PAYMENT_REFERENCE")

    _order, late, late_challenge = merchant.start()
    nagad.advance(nagad.session_ttl + 1)
    refusal(merchant.complete(late, late_challenge), "SESSION_EXPIRED")
    assert merchant.verify(late)[2]["status"] == "Aborted"


def test_malformed_bodies_and_unknown_paths_are_refused(nagad, merchant):
    path = f"/check-out/initialize/{MERCHANT_ID}/{merchant.next_order_id()}"

    refusal(merchant.call("POST", path, b"{not json"), "INVALID_REQUEST")
    refusal(merchant.call("POST", path, b"[1, 2]"), "INVALID_REQUEST")
    refusal(merchant.call("POST", path, b""), "INVALID_REQUEST")
    refusal(merchant.call("POST", path, {"dateTime": dhaka_now(), "sensitiveData": "x"}), "INVALID_REQUEST")
    refusal(merchant.call("POST", path, {"sensitiveData": 5, "signature": "x"}), "INVALID_REQUEST")
    refusal(merchant.call("GET", path), "METHOD_NOT_ALLOWED", 405)
    refusal(merchant.call("POST", "/check-out/initialise", {}), "NOT_FOUND", 404)
    assert merchant.call("GET", "/check-out/bm8gc3VjaA==", base=nagad.page_url, headers={})[0] == 404


# -- the customer's side ---------------------------------------------------------------


def test_a_cancelled_declined_or_abandoned_payment_comes_back_as_such(nagad, merchant, receiver):
    _order, cancelled, _url = merchant.checkout(callback_url=receiver.url)
    _order, declined, _url = merchant.checkout(callback_url=receiver.url + "?gateway=nagad")
    _order, abandoned, _url = merchant.checkout(callback_url=receiver.url)

    assert nagad.customer_cancels(cancelled) == 302
    assert nagad.customer_fails(declined, "Failed", message="Insufficient Balance") == 302
    nagad.expire(abandoned)

    first, second = (dict(urllib.parse.parse_qsl(q, keep_blank_values=True)) for q in receiver.queries())
    assert (first["status"], first["issuer_payment_ref"]) == ("Aborted", "")
    assert (second["gateway"], second["status"]) == ("nagad", "Failed")
    assert second["message"] == "Insufficient Balance"
    assert [merchant.verify(ref)[2]["status"] for ref in (cancelled, declined, abandoned)] == [
        "Aborted",
        "Failed",
        "Aborted",
    ]
    codes = {merchant.verify(ref)[2]["statusCode"] for ref in (cancelled, declined, abandoned)}
    assert len(codes) == 3 and "000" not in codes
    assert merchant.verify(cancelled)[2]["issuerPaymentRefNo"] is None
    for ref in (cancelled, declined, abandoned):
        with pytest.raises(PaymentStateError):
            nagad.customer_pays(ref)


def test_a_page_left_open_too_long_expires(nagad, merchant):
    _order, ref, page = merchant.checkout()
    nagad.advance(nagad.payment_ttl + 1)

    with pytest.raises(PaymentStateError):
        nagad.customer_pays(ref)
    assert merchant.verify(ref)[2]["status"] == "Aborted"
    assert b"closed" in merchant.call("GET", "", base=page, headers={})[2]


def test_the_customer_cannot_pay_before_complete_or_twice(nagad, merchant, receiver):
    _order, ref, _challenge = merchant.start()
    with pytest.raises(PaymentStateError):
        nagad.customer_pays(ref)
    with pytest.raises(PaymentStateError):
        nagad.send_callback(ref)

    _order, ref, _url = merchant.checkout(callback_url=receiver.url)
    assert nagad.customer_pays(ref, deliver=False) is None
    assert receiver.calls == [] and merchant.verify(ref)[2]["status"] == "Success"
    with pytest.raises(PaymentStateError):
        nagad.customer_pays(ref)


def test_duplicate_and_forged_callbacks(nagad, merchant, receiver):
    _order, paid, _url = merchant.checkout(callback_url=receiver.url)
    _order, unpaid, _url = merchant.checkout(callback_url=receiver.url)
    receiver.answer = 200

    assert nagad.customer_pays(paid, duplicate=True) == 200
    assert nagad.send_callback(unpaid, status="Success", issuer_payment_ref="FORGED01") == 200

    first, again, forged = receiver.queries()
    assert first == again
    assert "status=Success" in forged and "issuer_payment_ref=FORGED01" in forged
    # The browser's word is not proof: verify still knows better.
    assert merchant.verify(unpaid)[2]["status"] == "Ready"
    assert [c["status"] for c in nagad.callbacks] == [200, 200, 200]


def test_verify_can_be_made_to_misreport(nagad, merchant):
    _order, ref, _url = merchant.checkout(amount="500.00")
    nagad.customer_pays(ref, deliver=False)
    nagad.tamper_verify(ref, amount="5.00", orderId="SOMEONEELSE")

    verified = merchant.verify(ref)[2]
    assert (verified["status"], verified["amount"], verified["orderId"]) == ("Success", "5.00", "SOMEONEELSE")
    assert nagad.payment(ref)["amount"] == "500.00"


# -- switches --------------------------------------------------------------------------


def test_fail_malformed_and_drop_switches_hit_the_chosen_endpoint(nagad, merchant):
    nagad.fail_next("SERVICE_UNAVAILABLE", endpoint="complete")
    nagad.malformed_next(endpoint="verify", status=502)
    order_id, ref, challenge = merchant.start()  # not consumed here

    refusal(merchant.complete(ref, challenge), "SERVICE_UNAVAILABLE", 503)
    status, headers, raw = merchant.verify(ref)
    assert status == 502 and headers["Content-Type"].startswith("text/html") and b"<html" in raw
    assert merchant.complete(ref, challenge)[0] == 200

    nagad.drop_next()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        merchant.verify(ref)
    nagad.fail_next("K_OWN", "Anything", status=500, times=2)
    refusal(merchant.verify(ref), "K_OWN", 500)
    refusal(merchant.initialize(merchant.next_order_id()), "K_OWN", 500)
    assert merchant.verify(ref)[2]["orderId"] == order_id


def test_a_delay_lets_the_merchant_time_out_before_anything_happens(nagad, merchant):
    nagad.delay = 0.5
    order_id = merchant.next_order_id()

    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        merchant.initialize(order_id, timeout=0.1)
    assert nagad.payment_for_order(order_id) is None


def test_hold_after_accept_completes_while_the_merchant_waits(nagad, merchant):
    _order, ref, challenge = merchant.start()
    nagad.hold_after_accept = True
    answers = []
    client = threading.Thread(target=lambda: answers.append(merchant.complete(ref, challenge)))
    client.start()

    assert nagad.accepted_event.wait(2)
    assert merchant.verify(ref)[2]["status"] == "Ready"  # verify is never held
    client.join(0.1)
    assert client.is_alive() and answers == []
    nagad.release()
    client.join(2)
    assert answers[0][2]["status"] == "Success"


def test_stop_releases_held_answers_and_leaves_no_thread(keys):
    nagad = NagadServer(keys.merchant.public_pem, keys.pg.private_pem)
    merchant = Merchant(nagad, keys.merchant.private_pem, nagad.pg_public_key_pem)
    idle = http.client.HTTPConnection("127.0.0.1", nagad.port, timeout=5)
    idle.request("GET", "/nothing")
    idle.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    nagad.hold_after_accept = True
    client = threading.Thread(target=lambda: initialize_ignoring_connection_errors(merchant))
    client.start()
    assert nagad.accepted_event.wait(2)

    started = time.monotonic()
    nagad.stop()
    client.join(2)
    idle.close()

    assert time.monotonic() - started < 1
    assert not client.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("nagad-")]


def initialize_ignoring_connection_errors(merchant):
    try:
        merchant.initialize(merchant.next_order_id())
    except (ConnectionError, urllib.error.URLError, http.client.HTTPException):
        pass


def test_callbacks_can_go_through_a_flask_test_client(nagad, merchant):
    app = Flask("merchant")
    seen = []

    @app.get("/payments/nagad/callback")
    def callback():
        seen.append(flask_request.args.to_dict())
        return "", 302, {"Location": "/payments/receipt"}

    nagad.callback_transport = flask_client_transport(app.test_client())
    _order, ref, _url = merchant.checkout(callback_url="https://desk.example/payments/nagad/callback")

    assert nagad.customer_pays(ref) == 302
    assert seen[0]["payment_ref_id"] == ref and seen[0]["status"] == "Success"
