"""The local SSLCommerz answers and calls back as PROTOCOLS.md §3 says, so payment tests can trust it.

Checked from the outside only: urllib for the desk's side, and a small http.server
merchant standing for the desk's IPN and return URLs, which verifies verify_sign by the
documented rule (not by this server's helpers) and can call the validation API from
inside its IPN handler as the desk will.
"""

import hashlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from tests.protocol_servers.sslcommerz import BKASH_WALLET
from tests.protocol_servers.sslcommerz import CREDENTIAL_ERROR
from tests.protocol_servers.sslcommerz import SslCommerzServer
from tests.protocol_servers.sslcommerz import check_signature
from tests.protocol_servers.sslcommerz import flask_client_transport
from tests.protocol_servers.sslcommerz import sign_fields
from tests.protocol_servers.sslcommerz import verify_hash

STORE_ID = "lockerdesk"
STORE_PASSWD = "lockerdesk@ssl"
# The local servers must be reached directly even if the environment sets a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def md5_sign(fields, password):
    """verify_sign by the documented rule, written out independently of the server's helper."""
    keys = fields["verify_key"].split(",")
    signed = {key: fields[key] for key in keys}
    signed["store_passwd"] = hashlib.md5(password.encode()).hexdigest()
    text = "&".join(f"{key}={signed[key]}" for key in sorted(signed))
    return hashlib.md5(text.encode()).hexdigest()


class Merchant:
    """The desk's SSLCommerz URLs in miniature: records form POSTs, may validate inside the IPN."""

    def __init__(self):
        self.calls = []
        self.answer = 200
        self.on_ipn = None  # callable(fields) run inside the IPN request
        merchant = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                fields = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
                merchant.calls.append((self.path, dict(self.headers.items()), raw, fields))
                if self.path == "/ipn" and merchant.on_ipn is not None:
                    merchant.on_ipn(fields)
                self.send_response(merchant.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.start()

    def posts(self, path):
        return [fields for p, _h, _raw, fields in self.calls if p == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def sslc():
    with SslCommerzServer(STORE_ID, STORE_PASSWD) as server:
        yield server


@pytest.fixture
def merchant():
    merchant = Merchant()
    yield merchant
    merchant.stop()


def request(url, *, form=None, params=None, body=None, content_type=None, timeout=2):
    """(status, Content-Type, body text) of one call as the desk's client makes it."""
    if params is not None:
        url += "?" + urllib.parse.urlencode(params)
    headers = {}
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        content_type = content_type or "application/x-www-form-urlencoded"
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with OPENER.open(req, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def session_form(merchant_url="http://127.0.0.1:9", **overrides):
    form = {
        "store_id": STORE_ID,
        "store_passwd": STORE_PASSWD,
        "total_amount": "500.00",
        "currency": "BDT",
        "tran_id": "INV-2025-0001",
        "success_url": merchant_url + "/success",
        "fail_url": merchant_url + "/fail",
        "cancel_url": merchant_url + "/cancel",
        "ipn_url": merchant_url + "/ipn",
        "cus_name": "Rahim Uddin",
        "cus_email": "rahim@example.com",
        "cus_add1": "House 7, Road 3",
        "cus_city": "Dhaka",
        "cus_postcode": "1205",
        "cus_country": "Bangladesh",
        "cus_phone": "01712345678",
        "shipping_method": "NO",
        "num_of_item": "1",
        "product_name": "Locker rental",
        "product_category": "service",
        "product_profile": "non-physical-goods",
        "value_a": "payment:41",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def create(sslc, merchant_url="http://127.0.0.1:9", **overrides):
    status, content_type, text = request(sslc.session_api_url, form=session_form(merchant_url, **overrides))
    assert (status, content_type) == (200, "application/json")
    return json.loads(text)


def validate(sslc, val_id, **overrides):
    params = {
        "val_id": val_id,
        "store_id": STORE_ID,
        "store_passwd": STORE_PASSWD,
        "v": "1",
        "format": "json",
    }
    params.update(overrides)
    status, _content_type, text = request(sslc.validation_api_url, params=params)
    assert status == 200
    return json.loads(text)


def transaction_api(sslc, **params):
    params = {"store_id": STORE_ID, "store_passwd": STORE_PASSWD, "format": "json", **params}
    status, _content_type, text = request(sslc.transaction_api_url, params=params)
    assert status == 200
    return json.loads(text)


def test_the_signature_rule_reproduces_the_official_sample():
    # sslcommerz/SSLCommerz-Python test.py, store password test_testemi@ssl.
    fields = {
        "tran_id": "5E121A0D01F92",
        "val_id": "200105225826116qFnATY9sHIwo",
        "amount": "10.00",
        "card_type": "VISA-Dutch Bangla",
        "store_amount": "9.75",
        "card_no": "418117XXXXXX6675",
        "bank_tran_id": "200105225825DBgSoRGLvczhFjj",
        "status": "VALID",
        "tran_date": "2020-01-05 22:58:21",
        "currency": "BDT",
        "card_issuer": "TRUST BANK, LTD.",
        "card_brand": "VISA",
        "card_issuer_country": "Bangladesh",
        "card_issuer_country_code": "BD",
        "store_id": "test_testemi",
        "currency_type": "BDT",
        "currency_amount": "10.00",
        "currency_rate": "1.0000",
        "base_fair": "0.00",
        "value_a": "",
        "value_b": "",
        "value_c": "",
        "value_d": "",
        "risk_level": "0",
        "risk_title": "Safe",
    }

    signed = sign_fields(fields, "test_testemi@ssl")

    assert signed["verify_sign"] == "d42fab70ae0bcbda5280e7baffef60b0"
    assert signed["verify_sign_sha2"] == "02c0417ff467c109006382d56eedccecd68382e47245266e7b47abbb3d43976e"
    assert signed["verify_key"].startswith("amount,bank_tran_id,base_fair,card_brand,")
    assert check_signature({**fields, **signed}, "test_testemi@ssl")
    assert not check_signature({**fields, **signed, "amount": "1.00"}, "test_testemi@ssl")
    # A key naming an absent field is skipped, as the PHP SDK does.
    assert verify_hash(fields, ["amount", "nope"], "x") == verify_hash(fields, ["amount"], "x")


def test_a_session_is_created_with_a_gateway_page_on_this_server(sslc):
    body = create(sslc)

    assert body["status"] == "SUCCESS"
    assert body["failedreason"] == ""
    key = body["sessionkey"]
    assert len(key) == 32 and key == key.upper()
    assert body["GatewayPageURL"] == sslc.checkout_url(key)
    assert body["GatewayPageURL"].startswith(sslc.base_url + "/EasyCheckOut/")
    assert body["store_name"] == "Demo"
    assert {"gw", "redirectGatewayURL", "desc", "storeLogo", "directPaymentURL"} <= set(body)
    record = sslc.session(key)
    assert (record["tran_id"], record["status"]) == ("INV-2025-0001", "PENDING")
    assert record["amount"] == Decimal("500.00")
    assert record["fields"]["cus_name"] == "Rahim Uddin"
    [recorded] = sslc.requests
    assert (recorded.method, recorded.endpoint) == ("POST", "session")
    assert recorded.form["store_passwd"] == STORE_PASSWD
    assert sslc.session_for("INV-2025-0001") is record


SESSION_REFUSALS = [
    ("wrong store id", {"store_id": "other"}, CREDENTIAL_ERROR),
    ("wrong store password", {"store_passwd": "nope"}, CREDENTIAL_ERROR),
    ("no credentials", {"store_id": None, "store_passwd": None}, CREDENTIAL_ERROR),
    ("customer email missing", {"cus_email": None}, "'cus_email' is missing"),
    ("amount missing", {"total_amount": ""}, "'total_amount' is missing"),
    ("amount not a number", {"total_amount": "500 taka"}, "'total_amount' is not a valid amount"),
    ("amount below 10 BDT", {"total_amount": "9.99"}, "must be from 10.00 BDT"),
    ("amount above 500000 BDT", {"total_amount": "500000.01"}, "must be from 10.00 BDT"),
    ("unknown currency", {"currency": "XYZ"}, "currency 'XYZ' is not supported"),
    ("tran_id over 30 characters", {"tran_id": "X" * 31}, "'tran_id' must be within 30"),
    ("shipping YES without address", {"shipping_method": "YES"}, "'ship_name' is missing"),
    ("value_a over 255 characters", {"value_a": "a" * 256}, "'value_a' must be within 255"),
]


@pytest.mark.parametrize(
    ("case", "overrides", "reason"), SESSION_REFUSALS, ids=[case for case, *_ in SESSION_REFUSALS]
)
def test_an_invalid_session_request_is_refused_with_a_reason(sslc, case, overrides, reason):
    body = create(sslc, **overrides)

    assert body["status"] == "FAILED"
    assert reason in body["failedreason"]
    assert body["sessionkey"] == "" and body["GatewayPageURL"] == ""
    assert sslc.sessions == {}


def test_an_inactive_store_and_a_json_body_get_the_credential_error(sslc):
    body = json.dumps(session_form()).encode()
    status, _ct, text = request(sslc.session_api_url, body=body, content_type="application/json")
    assert status == 200
    assert json.loads(text)["failedreason"] == CREDENTIAL_ERROR

    sslc.store_active = False
    assert create(sslc)["failedreason"] == CREDENTIAL_ERROR
    assert sslc.sessions == {}


def test_a_tran_id_is_used_once_unless_duplicates_are_allowed(sslc):
    assert create(sslc)["status"] == "SUCCESS"
    assert "Duplicate tran_id" in create(sslc)["failedreason"]

    sslc.allow_duplicate_tran_id = True
    assert create(sslc)["status"] == "SUCCESS"
    assert transaction_api(sslc, tran_id="INV-2025-0001")["no_of_trans_found"] == 2


def test_a_payment_sends_a_signed_ipn_and_returns_the_browser_post(sslc, merchant):
    key = create(sslc, merchant.url)["sessionkey"]

    outcome = sslc.customer_pays(key)

    assert outcome.status == "VALID"
    assert outcome.ipn_answer.status == 200
    [(path, headers, raw, ipn)] = merchant.calls
    assert path == "/ipn"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert raw == outcome.ipn.body()
    assert ipn["verify_sign"] == md5_sign(ipn, STORE_PASSWD)
    assert len(ipn["verify_sign_sha2"]) == 64
    assert "card_sub_brand" in ipn and "card_sub_brand" not in ipn["verify_key"].split(",")
    assert ipn["status"] == "VALID"
    assert (ipn["tran_id"], ipn["amount"], ipn["currency"]) == ("INV-2025-0001", "500.00", "BDT")
    assert (ipn["currency_type"], ipn["currency_amount"], ipn["currency_rate"]) == ("BDT", "500.00", "1.0000")
    assert ipn["store_amount"] == "487.50"
    assert ipn["val_id"] == outcome.val_id and len(outcome.val_id) == 27
    assert ipn["bank_tran_id"] == outcome.bank_tran_id
    assert (ipn["value_a"], ipn["value_b"]) == ("payment:41", "")
    assert (ipn["risk_level"], ipn["risk_title"]) == ("0", "Safe")
    assert ipn["store_id"] == STORE_ID
    assert merchant.posts("/success") == []

    answer = sslc.post_redirect(outcome)

    assert answer.status == 200
    [landing] = merchant.posts("/success")
    assert landing == ipn
    browser_headers = merchant.calls[-1][1]
    assert browser_headers["Origin"] == sslc.base_url
    assert browser_headers["Referer"] == sslc.checkout_url(key)
    assert [d["kind"] for d in sslc.deliveries] == ["ipn", "redirect"]
    with pytest.raises(ValueError):
        sslc.customer_pays(key)


def test_validation_says_valid_once_then_validated(sslc, merchant):
    key = create(sslc, merchant.url)["sessionkey"]
    outcome = sslc.customer_pays(key)

    first = validate(sslc, outcome.val_id)
    second = validate(sslc, outcome.val_id)

    assert (first["status"], second["status"]) == ("VALID", "VALIDATED")
    assert first["APIConnect"] == "DONE"
    assert (first["tran_id"], first["amount"], first["currency"]) == ("INV-2025-0001", "500.00", "BDT")
    assert first["bank_tran_id"] == outcome.bank_tran_id
    assert first["validated_on"] and first["value_a"] == "payment:41"
    assert validate(sslc, "200105225826116qFnATY9sHIwo")["status"] == "INVALID_TRANSACTION"


def test_the_merchant_may_validate_from_inside_its_ipn_handler(sslc, merchant):
    seen = []
    merchant.on_ipn = lambda fields: seen.append(validate(sslc, fields["val_id"])["status"])
    key = create(sslc, merchant.url)["sessionkey"]

    sslc.customer_pays(key)

    assert seen == ["VALID"]


def test_validation_refuses_wrong_or_missing_credentials(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"])

    assert validate(sslc, outcome.val_id, store_passwd="nope") == {"APIConnect": "FAILED"}
    assert validate(sslc, outcome.val_id, store_id="") == {"APIConnect": "INVALID_REQUEST"}
    sslc.store_active = False
    assert validate(sslc, outcome.val_id) == {"APIConnect": "INACTIVE"}
    sslc.store_active = True
    # None of those counted as the first validation.
    assert validate(sslc, outcome.val_id)["status"] == "VALID"


def test_fail_next_forces_the_validation_status_then_recovers(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"])
    sslc.fail_next("validation")
    sslc.fail_next("validation", "FAILED")

    assert validate(sslc, outcome.val_id)["status"] == "INVALID_TRANSACTION"
    assert validate(sslc, outcome.val_id)["status"] == "FAILED"
    assert validate(sslc, outcome.val_id)["status"] == "VALID"


def test_validation_answers_xml_unless_json_is_asked_for(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"])
    params = {"val_id": outcome.val_id, "store_id": STORE_ID, "store_passwd": STORE_PASSWD}

    status, content_type, text = request(sslc.validation_api_url, params=params)

    assert (status, content_type) == (200, "text/xml; charset=UTF-8")
    assert "<status>VALID</status>" in text


def test_a_risky_payment_is_reported_in_the_ipn_and_the_validation(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"], risk_level=1)

    assert (outcome.fields["risk_level"], outcome.fields["risk_title"]) == ("1", "Risky")
    assert md5_sign(merchant.posts("/ipn")[0], STORE_PASSWD) == outcome.fields["verify_sign"]
    assert validate(sslc, outcome.val_id)["risk_level"] == "1"


def test_a_different_paid_amount_or_currency_is_reported_consistently(sslc, merchant):
    outcome = sslc.customer_pays(
        create(sslc, merchant.url)["sessionkey"], amount="50.00", currency="USD", card=BKASH_WALLET
    )

    ipn = merchant.posts("/ipn")[0]
    assert ipn["verify_sign"] == md5_sign(ipn, STORE_PASSWD)
    assert (ipn["currency_type"], ipn["currency_amount"], ipn["amount"]) == ("USD", "50.00", "5500.00")
    assert ipn["card_type"] == "BKASH-BKash"
    validation = validate(sslc, outcome.val_id)
    assert (validation["currency_type"], validation["currency_amount"]) == ("USD", "50.00")


def test_a_foreign_currency_session_is_converted_to_taka(sslc, merchant):
    key = create(sslc, merchant.url, total_amount="12.50", currency="usd")["sessionkey"]
    outcome = sslc.customer_pays(key)

    assert (outcome.fields["amount"], outcome.fields["currency"]) == ("1375.00", "BDT")
    assert (outcome.fields["currency_type"], outcome.fields["currency_amount"]) == ("USD", "12.50")
    assert outcome.fields["currency_rate"] == "110.0000"


@pytest.mark.parametrize("signature", ["wrong", "missing", "dangling_key"])
def test_a_bad_signature_reaches_both_the_ipn_and_the_browser_post(sslc, merchant, signature):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"], signature=signature)
    sslc.post_redirect(outcome)

    for fields in (merchant.posts("/ipn")[0], merchant.posts("/success")[0]):
        if signature == "missing":
            assert not {"verify_sign", "verify_key", "verify_sign_sha2"} & set(fields)
        elif signature == "wrong":
            assert fields["verify_sign"] != md5_sign(fields, STORE_PASSWD)
        else:
            # The Python clients fail on the absent field; the PHP rule skips it and matches.
            assert "emi_instalment" in fields["verify_key"].split(",")
            with pytest.raises(KeyError):
                md5_sign(fields, STORE_PASSWD)
            assert check_signature(fields, STORE_PASSWD)
    # The payment itself is genuine: the validation API still vouches for it.
    assert validate(sslc, outcome.val_id)["status"] == "VALID"


def test_fields_tampered_after_signing_no_longer_match(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"], tamper={"amount": "10.00"})

    ipn = merchant.posts("/ipn")[0]
    assert ipn["amount"] == "10.00"
    assert ipn["verify_sign"] != md5_sign(ipn, STORE_PASSWD)
    assert validate(sslc, outcome.val_id)["amount"] == "500.00"

    forged = outcome.redirect.altered(amount="1.00", risk_level=None)
    sslc.post_redirect(forged)
    landing = merchant.posts("/success")[0]
    assert landing["amount"] == "1.00" and "risk_level" not in landing
    assert not check_signature(landing, STORE_PASSWD)


def test_a_genuine_callback_for_another_transaction_can_be_replayed_signed(sslc, merchant):
    cheap = sslc.customer_pays(
        create(sslc, merchant.url, tran_id="CHEAP-1", total_amount="10.00")["sessionkey"]
    )
    create(sslc, merchant.url, tran_id="DEAR-1", total_amount="900.00")

    replay = sslc.resigned(cheap.redirect, tran_id="DEAR-1")
    sslc.post_redirect(replay)

    landing = merchant.posts("/success")[0]
    assert landing["tran_id"] == "DEAR-1"
    assert landing["verify_sign"] == md5_sign(landing, STORE_PASSWD)
    # The authority tells the truth about that val_id.
    validation = validate(sslc, landing["val_id"])
    assert (validation["tran_id"], validation["amount"]) == ("CHEAP-1", "10.00")


def test_an_ipn_can_be_replayed_and_held_back(sslc, merchant):
    key = create(sslc, merchant.url)["sessionkey"]
    outcome = sslc.customer_pays(key, send_ipn=False)
    assert outcome.ipn_answer is None and merchant.calls == []

    sslc.post_ipn(outcome)
    merchant.answer = 500
    assert sslc.post_ipn(outcome).status == 500

    first, second = merchant.calls
    assert first[2] == second[2] == outcome.ipn.body()


def test_a_declined_payment_goes_to_the_fail_url_without_a_val_id(sslc, merchant):
    outcome = sslc.customer_fails(create(sslc, merchant.url)["sessionkey"], error="Insufficient balance")
    sslc.post_redirect(outcome)

    ipn = merchant.posts("/ipn")[0]
    assert (ipn["status"], ipn["error"]) == ("FAILED", "Insufficient balance")
    assert "val_id" not in ipn
    assert ipn["verify_sign"] == md5_sign(ipn, STORE_PASSWD)
    assert merchant.posts("/fail") == [ipn]
    [element] = transaction_api(sslc, tran_id="INV-2025-0001")["element"]
    assert element["status"] == "FAILED"


def test_a_cancel_goes_to_the_cancel_url(sslc, merchant):
    outcome = sslc.customer_cancels(create(sslc, merchant.url)["sessionkey"])
    sslc.post_redirect(outcome)

    landing = merchant.posts("/cancel")[0]
    assert (landing["status"], landing["error"], landing["bank_tran_id"]) == (
        "CANCELLED",
        "Cancelled by User",
        "",
    )
    assert landing["verify_key"] == ",".join(sorted(k for k in landing if not k.startswith("verify_")))
    assert landing["verify_sign"] == md5_sign(landing, STORE_PASSWD)


@pytest.mark.parametrize("status", ["UNATTEMPTED", "EXPIRED"])
def test_an_abandoned_session_sends_only_the_ipn(sslc, merchant, status):
    outcome = sslc.customer_abandons(create(sslc, merchant.url)["sessionkey"], status)

    assert outcome.redirect is None
    assert [p for p, *_ in merchant.calls] == ["/ipn"]
    assert merchant.posts("/ipn")[0]["status"] == status
    with pytest.raises(ValueError):
        sslc.post_redirect(outcome)


def test_without_an_ipn_url_the_panel_listener_is_used(sslc, merchant):
    key = create(sslc, merchant.url, ipn_url="")["sessionkey"]
    assert sslc.customer_pays(key).ipn is None

    sslc.panel_ipn_url = merchant.url + "/ipn"
    other = create(sslc, merchant.url, ipn_url="", tran_id="INV-2")["sessionkey"]
    assert sslc.customer_pays(other).ipn_answer.status == 200
    assert merchant.posts("/ipn")[0]["tran_id"] == "INV-2"


def test_the_query_by_tran_id_and_by_session(sslc, merchant):
    key = create(sslc, merchant.url)["sessionkey"]
    pending = transaction_api(sslc, sessionkey=key)
    assert (pending["APIConnect"], pending["no_of_trans_found"]) == ("DONE", 1)
    assert pending["element"][0]["status"] == "PENDING"

    outcome = sslc.customer_pays(key)
    assert transaction_api(sslc, tran_id="INV-2025-0001")["element"][0]["status"] == "VALID"
    validate(sslc, outcome.val_id)
    [element] = transaction_api(sslc, tran_id="INV-2025-0001")["element"]
    assert (element["status"], element["val_id"], element["amount"]) == (
        "VALIDATED",
        outcome.val_id,
        "500.00",
    )

    assert transaction_api(sslc, tran_id="nope") == {
        "APIConnect": "DONE",
        "no_of_trans_found": 0,
        "element": [],
    }
    assert transaction_api(sslc, tran_id="INV-2025-0001", store_passwd="x") == {"APIConnect": "FAILED"}
    assert transaction_api(sslc) == {"APIConnect": "INVALID_REQUEST"}
    sslc.fail_next("query", "INACTIVE")
    assert transaction_api(sslc, tran_id="INV-2025-0001") == {"APIConnect": "INACTIVE"}


def test_a_refund_is_processing_then_refunded(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"])
    refund = {"bank_tran_id": outcome.bank_tran_id, "refund_remarks": "Locker not used"}

    started = transaction_api(sslc, refund_amount="200.00", refund_trans_id="R-1", **refund)

    assert (started["APIConnect"], started["status"]) == ("DONE", "success")
    assert (started["bank_tran_id"], started["trans_id"]) == (outcome.bank_tran_id, "INV-2025-0001")
    ref = started["refund_ref_id"]
    status = transaction_api(sslc, refund_ref_id=ref)
    assert (status["status"], status["refunded_on"]) == ("processing", "")
    sslc.settle_refund(ref)
    status = transaction_api(sslc, refund_ref_id=ref)
    assert status["status"] == "refunded" and status["refunded_on"]
    assert sslc.refunds[ref]["amount"] == Decimal("200.00")

    again = transaction_api(sslc, refund_amount="10.00", refund_trans_id="R-1", **refund)
    assert (again["status"], again["errorReason"]) == ("failed", "Duplicate refund request")
    too_much = transaction_api(sslc, refund_amount="300.01", **refund)
    assert "exceeds" in too_much["errorReason"]
    assert transaction_api(sslc, refund_amount="300.00", **refund)["status"] == "success"


def test_refund_refusals(sslc, merchant):
    outcome = sslc.customer_pays(create(sslc, merchant.url)["sessionkey"])
    ok = {"bank_tran_id": outcome.bank_tran_id, "refund_amount": "50.00", "refund_remarks": "r"}

    assert transaction_api(sslc, **{**ok, "bank_tran_id": "unknown"})["status"] == "failed"
    assert transaction_api(sslc, **{**ok, "refund_amount": "-5"})["errorReason"] == "Invalid refund_amount"
    assert transaction_api(sslc, **{**ok, "refund_amount": "1.005"})["errorReason"] == "Invalid refund_amount"
    assert transaction_api(sslc, **{**ok, "refund_remarks": ""})["APIConnect"] == "INVALID_REQUEST"
    assert transaction_api(sslc, **{**ok, "store_passwd": "x"})["APIConnect"] == "FAILED"
    sslc.fail_next("refund", "Refund not allowed for this store")
    assert transaction_api(sslc, **ok)["errorReason"] == "Refund not allowed for this store"
    started = transaction_api(sslc, **ok)
    sslc.settle_refund(started["refund_ref_id"], "cancelled")
    assert transaction_api(sslc, refund_ref_id=started["refund_ref_id"])["status"] == "cancelled"
    assert transaction_api(sslc, refund_ref_id="nope")["errorReason"] == "Invalid refund_ref_id"
    assert sslc.session_for("INV-2025-0001")["refunded"] == Decimal("0.00")


def test_session_fail_next_is_checked_after_the_credentials(sslc):
    sslc.fail_next("session", "Service temporarily unavailable")

    assert create(sslc, store_passwd="nope")["failedreason"] == CREDENTIAL_ERROR
    assert create(sslc)["failedreason"] == "Service temporarily unavailable"
    assert create(sslc)["status"] == "SUCCESS"


def test_malformed_and_http_error_answers(sslc):
    sslc.malformed_next("session")
    sslc.http_error_next(502, "validation")

    status, content_type, text = request(sslc.session_api_url, form=session_form())
    assert (status, content_type) == (200, "text/html; charset=UTF-8")
    with pytest.raises(ValueError):
        json.loads(text)
    status, content_type, text = request(sslc.validation_api_url, params={"val_id": "x", "format": "json"})
    assert (status, content_type) == (502, "text/html")
    assert "502 Bad Gateway" in text
    assert sslc.sessions == {}
    assert create(sslc)["status"] == "SUCCESS"
    assert request(sslc.base_url + "/nowhere")[0] == 404


def test_delay_makes_the_client_time_out(sslc):
    sslc.delay = 0.5

    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        request(sslc.session_api_url, form=session_form(), timeout=0.1)


def test_hold_after_accept_creates_the_session_before_answering(sslc):
    sslc.hold_after_accept = True
    answers = []
    client = threading.Thread(target=lambda: answers.append(create(sslc)))
    client.start()

    assert sslc.accepted_event.wait(2)
    [record] = sslc.sessions.values()
    client.join(0.1)
    assert client.is_alive() and answers == []
    sslc.release()
    client.join(2)
    assert answers[0]["sessionkey"] == record["sessionkey"]


def test_stop_releases_a_held_answer_and_idle_connections():
    sslc = SslCommerzServer(STORE_ID, STORE_PASSWD)
    idle = http.client.HTTPConnection("127.0.0.1", sslc.port, timeout=5)
    idle.request("GET", "/validator/api/validationserverAPI.php?format=json")
    idle.getresponse().read()  # the connection stays open (HTTP/1.1 keep-alive)
    sslc.hold_after_accept = True
    client = threading.Thread(target=lambda: create_ignoring_errors(sslc))
    client.start()
    assert sslc.accepted_event.wait(2)

    started = time.monotonic()
    sslc.stop()
    client.join(2)
    idle.close()

    assert time.monotonic() - started < 1
    assert not client.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("sslcommerz-")]


def create_ignoring_errors(sslc):
    try:
        create(sslc)
    except (ConnectionError, urllib.error.URLError, http.client.HTTPException):
        pass


def test_the_gateway_page_lets_a_browser_pay(sslc, merchant):
    body = create(sslc, merchant.url)
    status, content_type, page = request(body["GatewayPageURL"])
    assert (status, content_type) == (200, "text/html; charset=UTF-8")
    assert 'id="sslc-pay"' in page and "500.00 BDT" in page
    # The per-gateway address leads to the same page.
    assert 'id="sslc-pay"' in request(body["desc"][0]["redirectGatewayURL"])[2]

    status, _ct, page = request(body["GatewayPageURL"], form={"action": "pay"})

    assert status == 200
    assert f'action="{merchant.url}/success"' in page
    assert "document.forms[0].submit()" in page
    ipn = merchant.posts("/ipn")[0]
    assert f'name="val_id" value="{ipn["val_id"]}"' in page
    assert "Session expired" in request(body["GatewayPageURL"])[2]


def test_the_wire_calls_sslcommerz_python_makes_are_understood(sslc, merchant):
    # sslcommerz-python 0.0.7 sends these fields (no cus_state, product_profile 'None',
    # ipn_url '' by default) and validates without v=1. Its own uuid4 tran_id is 36
    # characters, over the documented 30: the desk must overwrite it with its own.
    form = {
        "success_url": merchant.url + "/success",
        "fail_url": merchant.url + "/fail",
        "cancel_url": merchant.url + "/cancel",
        "ipn_url": "",
        "store_id": STORE_ID,
        "store_passwd": STORE_PASSWD,
        "tran_id": "0b8d0a6e-4c3f-4f5e-9a52-0d3f5c1c2b7a",
        "total_amount": "150.00",
        "currency": "BDT",
        "product_category": "service",
        "product_name": "Locker rental",
        "num_of_item": "1",
        "shipping_method": "NO",
        "product_profile": "None",
        "cus_name": "Rahim",
        "cus_email": "rahim@example.com",
        "cus_add1": "Dhaka",
        "cus_add2": "",
        "cus_city": "Dhaka",
        "cus_postcode": "1205",
        "cus_country": "Bangladesh",
        "cus_phone": "01712345678",
    }
    refused = json.loads(request(sslc.session_api_url, form=form)[2])
    assert "'tran_id' must be within 30" in refused["failedreason"]
    form["tran_id"] = "INV-2025-0001"
    status, _ct, text = request(sslc.session_api_url, form=form)
    body = json.loads(text)
    assert status == 200 and body["status"] == "SUCCESS"

    outcome = sslc.customer_pays(body["sessionkey"])
    params = {"val_id": outcome.val_id, "store_id": STORE_ID, "store_passwd": STORE_PASSWD, "format": "json"}
    status, _ct, text = request(sslc.validation_api_url, params=params)
    assert json.loads(text)["status"] == "VALID"


def test_callbacks_can_go_through_a_flask_test_client(sslc):
    class FakeResponse:
        status_code = 302
        headers = {"Location": "/payments/done"}

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
    sslc.callback_transport = flask_client_transport(client)
    key = create(sslc, "http://localhost/pay")["sessionkey"]

    outcome = sslc.customer_pays(key)
    answer = sslc.post_redirect(outcome)

    assert (outcome.ipn_answer.status, answer.status) == (302, 302)
    assert answer.headers["Location"] == "/payments/done"
    assert [(url, method) for url, method, _d, _h in client.calls] == [
        ("http://localhost/pay/ipn", "POST"),
        ("http://localhost/pay/success", "POST"),
    ]
    assert client.calls[1][2] == outcome.redirect.body()
