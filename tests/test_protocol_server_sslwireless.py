"""The SSL Wireless test server answers as PROTOCOLS.md section 4 says, so SMS client tests can trust it.

Spoken to with urllib only: the server must not depend on the client it will test.
"""

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.protocol_servers.sslwireless import GSM7_BASIC
from tests.protocol_servers.sslwireless import SslWirelessServer

TOKEN = "tok"
SID = "LOCKERDESK"
PHONE = "8801712345678"
OTHER_PHONE = "8801812345678"


@pytest.fixture
def sms():
    with SslWirelessServer(api_token=TOKEN, sid=SID) as server:
        yield server


def call(url, data=None, *, form=False, timeout=2):
    """(HTTP status, Content-Type, body text) of a request; JSON body unless `form`."""
    headers = {}
    if data is not None:
        if form:
            data = urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif not isinstance(data, bytes):
            data = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        else:
            headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def send(server, **overrides):
    """POST /send-sms with a valid single message, `overrides` replacing (or, as None, removing) fields."""
    body = {"api_token": TOKEN, "sid": SID, "msisdn": PHONE, "sms": "Your locker 12 is due", "csms_id": "r1"}
    body.update(overrides)
    body = {key: value for key, value in body.items() if value is not None}
    status, content_type, text = call(server.base_url + "/send-sms", body)
    assert (status, content_type) == (200, "application/json")
    return json.loads(text)


def assert_refused(answer, code):
    assert (answer["status"], answer["status_code"]) == ("FAILED", code)
    assert answer["error_message"]
    assert answer["smsinfo"] == []


def test_single_send_is_accepted_with_a_reference(sms):
    answer = send(sms)

    assert answer["status"] == "SUCCESS"
    assert answer["status_code"] == 200
    assert answer["error_message"] == ""
    [item] = answer["smsinfo"]
    assert item["sms_status"] == "SUCCESS"
    assert item["msisdn"] == PHONE
    assert item["csms_id"] == "r1"
    assert item["sms_type"] == "EN"
    assert item["sms_body"] == "Your locker 12 is due"
    assert item["reference_id"]
    [accepted] = sms.accepted
    assert accepted["reference_id"] == item["reference_id"]
    assert (accepted["msisdn"], accepted["sms"], accepted["csms_id"], accepted["sid"]) == (
        PHONE,
        "Your locker 12 is due",
        "r1",
        SID,
    )
    assert accepted["at"].tzinfo is not None
    path, body, headers = sms.requests[0]
    assert path == "/api/v3/send-sms"
    assert body["csms_id"] == "r1"
    assert headers["Content-Type"] == "application/json"


def test_bengali_text_is_bn_and_gsm_text_en(sms):
    assert send(sms, sms="আপনার লকার ১২", csms_id="bn")["smsinfo"][0]["sms_type"] == "BN"
    # Accented letters GSM-7 has, and its extension table (sent with an escape), stay EN.
    assert send(sms, sms="Übung für Ñoño à 5€ {x} ¿", csms_id="gsm")["smsinfo"][0]["sms_type"] == "EN"
    # One letter GSM-7 lacks makes the whole message UCS-2.
    assert send(sms, sms="naïve", csms_id="ucs")["smsinfo"][0]["sms_type"] == "BN"
    assert len(GSM7_BASIC) == len(set(GSM7_BASIC)) == 127


def test_reference_ids_are_unique(sms):
    ids = [send(sms, csms_id=f"r{n}")["smsinfo"][0]["reference_id"] for n in range(5)]
    assert len(set(ids)) == 5


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"api_token": "wrong"}, 4001),
        ({"sid": "OTHERBRAND"}, 4002),
        ({"msisdn": None}, 4022),
        ({"sms": None}, 4022),
        ({"csms_id": None}, 4022),
        ({"api_token": None}, 4022),
        ({"csms_id": ""}, 4020),
        ({"csms_id": "x" * 21}, 4020),
        ({"msisdn": "+8801712345678"}, 4025),
        ({"msisdn": "01712345678"}, 4025),
        ({"msisdn": "8801212345678"}, 4025),
        ({"msisdn": "88017123456789"}, 4025),
        ({"sms": "x" * 1001}, 4027),
        ({"sms": ""}, 4032),
    ],
)
def test_refusals_carry_the_documented_code_and_accept_nothing(sms, overrides, code):
    assert_refused(send(sms, **overrides), code)
    assert sms.accepted == []


def test_limits_themselves_are_accepted(sms):
    assert send(sms, csms_id="x" * 20, sms="y" * 1000)["status"] == "SUCCESS"


def test_blocked_msisdn_is_refused(sms):
    sms.blocked.add(PHONE)

    assert_refused(send(sms), 4026)


def test_unparseable_bodies_are_an_invalid_format(sms):
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        status, _, text = call(sms.base_url + "/send-sms", raw)
        assert status == 200
        assert_refused(json.loads(text), 4004)
    path, body, _ = sms.requests[0]
    assert (path, body) == ("/api/v3/send-sms", None)


def test_a_csms_id_is_accepted_once_for_the_servers_lifetime(sms):
    first = send(sms)
    again = send(sms, sms="A retry of the same message")

    assert first["status"] == "SUCCESS"
    assert_refused(again, 4023)
    assert len(sms.accepted) == 1
    # A refused csms_id is not used up: sending it again after fixing the message works.
    assert_refused(send(sms, csms_id="r2", msisdn="123"), 4025)
    assert send(sms, csms_id="r2")["status"] == "SUCCESS"


def test_concurrent_duplicates_accept_one(sms):
    answers = []

    def worker():
        answers.append(send(sms, csms_id="same")["status"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == ["FAILED"] * 7 + ["SUCCESS"]
    assert len(sms.accepted) == 1


def test_form_encoded_single_send(sms):
    body = {"api_token": TOKEN, "sid": SID, "msisdn": PHONE, "sms": "ফর্ম", "csms_id": "f1"}
    status, _, text = call(sms.base_url + "/send-sms", body, form=True)

    answer = json.loads(text)
    assert (status, answer["status"]) == (200, "SUCCESS")
    assert answer["smsinfo"][0]["sms_type"] == "BN"
    assert sms.accepted[0]["sms"] == "ফর্ম"
    assert sms.requests[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_api_token_may_come_in_the_query(sms):
    body = {"sid": SID, "msisdn": PHONE, "sms": "hi", "csms_id": "q1"}
    _, _, text = call(f"{sms.base_url}/send-sms?api_token={TOKEN}", body)

    assert json.loads(text)["status"] == "SUCCESS"


def test_bulk_partial_success_lists_every_recipient(sms):
    sms.blocked.add("8801912345678")
    body = {
        "api_token": TOKEN,
        "sid": SID,
        "msisdn": [PHONE, "12345", "8801912345678", PHONE, OTHER_PHONE],
        "sms": "Gym closed tomorrow",
        "batch_csms_id": "b1",
    }
    _, _, text = call(sms.base_url + "/send-sms/bulk", body)
    answer = json.loads(text)

    assert (answer["status"], answer["status_code"]) == ("SUCCESS", 200)
    assert [item["sms_status"] for item in answer["smsinfo"]] == [
        "SUCCESS",
        "INVALID",
        "BLOCKED",
        "DUPLICATE",
        "SUCCESS",
    ]
    assert [item["csms_id"] for item in answer["smsinfo"]] == ["b1"] * 5
    assert [m["msisdn"] for m in sms.accepted] == [PHONE, OTHER_PHONE]
    assert all(item["reference_id"] for item in answer["smsinfo"] if item["sms_status"] == "SUCCESS")
    # The batch id is used up like a csms_id.
    _, _, text = call(sms.base_url + "/send-sms/bulk", body)
    assert_refused(json.loads(text), 4023)


def test_bulk_with_no_recipient_accepted_fails(sms):
    body = {"api_token": TOKEN, "sid": SID, "msisdn": ["1", "2"], "sms": "x", "batch_csms_id": "b2"}
    _, _, text = call(sms.base_url + "/send-sms/bulk", body)
    answer = json.loads(text)

    assert (answer["status"], answer["status_code"]) == ("FAILED", 4025)
    assert [item["sms_status"] for item in answer["smsinfo"]] == ["INVALID", "INVALID"]
    assert sms.accepted == []
    # Nothing was accepted, so the batch id is still free.
    body["msisdn"] = [PHONE]
    _, _, text = call(sms.base_url + "/send-sms/bulk", body)
    assert json.loads(text)["status"] == "SUCCESS"


def test_bulk_form_encoded_uses_php_array_fields(sms):
    body = [
        ("api_token", TOKEN),
        ("sid", SID),
        ("msisdn[]", PHONE),
        ("msisdn[]", OTHER_PHONE),
        ("sms", "hello"),
        ("batch_csms_id", "bf"),
    ]
    _, _, text = call(sms.base_url + "/send-sms/bulk", body, form=True)

    assert json.loads(text)["status"] == "SUCCESS"
    assert [m["msisdn"] for m in sms.accepted] == [PHONE, OTHER_PHONE]


def test_dynamic_sends_each_message_on_its_own(sms):
    send(sms, csms_id="old")
    body = {
        "api_token": TOKEN,
        "sid": SID,
        "sms": [
            {"msisdn": PHONE, "text": "Locker 1 due", "csms_id": "d1"},
            {"msisdn": OTHER_PHONE, "text": "লকার ২", "csms_id": "d2"},
            {"msisdn": PHONE, "text": "again", "csms_id": "d1"},
            {"msisdn": PHONE, "text": "old one", "csms_id": "old"},
            {"msisdn": "880", "text": "bad number", "csms_id": "d3"},
            {"msisdn": PHONE, "text": "", "csms_id": "d4"},
        ],
    }
    _, _, text = call(sms.base_url + "/send-sms/dynamic", body)
    answer = json.loads(text)

    assert answer["status"] == "SUCCESS"
    assert [(item["csms_id"], item["sms_status"]) for item in answer["smsinfo"]] == [
        ("d1", "SUCCESS"),
        ("d2", "SUCCESS"),
        ("d1", "DUPLICATE"),
        ("old", "DUPLICATE"),
        ("d3", "INVALID"),
        ("d4", "INVALID"),
    ]
    assert answer["smsinfo"][1]["sms_type"] == "BN"
    assert [m["csms_id"] for m in sms.accepted] == ["old", "d1", "d2"]
    # d3 and d4 were refused, so they are still free.
    body["sms"] = [{"msisdn": PHONE, "text": "fixed", "csms_id": "d3"}]
    _, _, text = call(sms.base_url + "/send-sms/dynamic", body)
    assert json.loads(text)["status"] == "SUCCESS"


def test_dynamic_form_encoded(sms):
    body = {
        "api_token": TOKEN,
        "sid": SID,
        "sms[0][msisdn]": PHONE,
        "sms[0][text]": "one",
        "sms[0][csms_id]": "df1",
        "sms[1][msisdn]": OTHER_PHONE,
        "sms[1][text]": "two",
        "sms[1][csms_id]": "df2",
    }
    _, _, text = call(sms.base_url + "/send-sms/dynamic", body, form=True)

    assert json.loads(text)["status"] == "SUCCESS"
    assert [(m["msisdn"], m["sms"]) for m in sms.accepted] == [(PHONE, "one"), (OTHER_PHONE, "two")]


def test_balance(sms):
    sms.balance = "42.50"
    status, _, text = call(f"{sms.base_url}/balance?api_token={TOKEN}")
    answer = json.loads(text)

    assert (status, answer["status"], answer["balance"]) == (200, "SUCCESS", "42.50")
    _, _, text = call(f"{sms.base_url}/balance?api_token=wrong")
    assert_refused(json.loads(text), 4001)


def test_unknown_path_is_404_with_4005(sms):
    for url, body in ((sms.base_url + "/send", {}), (sms.base_url + "/balance", {"api_token": TOKEN})):
        status, content_type, text = call(url, body)
        assert (status, content_type) == (404, "application/json")
        assert_refused(json.loads(text), 4005)


def test_fail_next_refuses_the_next_sends_then_recovers(sms):
    sms.fail_next(4029, times=2)

    assert_refused(send(sms, csms_id="a"), 4029)
    # /balance does not use up a switch.
    assert json.loads(call(f"{sms.base_url}/balance?api_token={TOKEN}")[2])["status"] == "SUCCESS"
    assert_refused(send(sms, csms_id="a"), 4029)
    assert send(sms, csms_id="a")["status"] == "SUCCESS"
    sms.fail_next(5000)
    assert_refused(send(sms, csms_id="b"), 5000)
    assert len(sms.accepted) == 1


def test_malformed_next_answers_html_under_200(sms):
    sms.malformed_next()
    status, content_type, text = call(sms.base_url + "/send-sms", {"csms_id": "m"})

    assert status == 200
    assert content_type.startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert send(sms)["status"] == "SUCCESS"


def test_http_error_next_answers_like_a_failing_proxy(sms):
    sms.http_error_next(502, times=2)

    for _ in range(2):
        status, content_type, text = call(sms.base_url + "/send-sms", {})
        assert (status, content_type) == (502, "text/html")
        assert "502 Bad Gateway" in text
    assert sms.accepted == []
    assert send(sms)["status"] == "SUCCESS"


def test_delay_makes_a_client_time_out_and_the_message_is_still_accepted(sms):
    sms.delay = 0.2
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(
            sms.base_url + "/send-sms",
            {"api_token": TOKEN, "sid": SID, "msisdn": PHONE, "sms": "slow", "csms_id": "slow"},
            timeout=0.05,
        )
    assert time.monotonic() - started < 0.2
    deadline = time.monotonic() + 2
    while not sms.accepted and time.monotonic() < deadline:
        time.sleep(0.02)
    # The provider went on and accepted it: a retry is told it is a duplicate.
    assert [m["csms_id"] for m in sms.accepted] == ["slow"]
    sms.delay = 0
    assert_refused(send(sms, csms_id="slow", sms="slow"), 4023)


def test_hold_after_accept_answers_only_after_release(sms):
    sms.hold_after_accept = True
    answers = []
    client = threading.Thread(target=lambda: answers.append(send(sms)))
    client.start()

    assert sms.accepted_event.wait(2)
    assert [m["csms_id"] for m in sms.accepted] == ["r1"]
    time.sleep(0.05)
    assert client.is_alive() and answers == []
    sms.release()
    client.join(2)
    assert not client.is_alive()
    assert answers[0]["status"] == "SUCCESS"
    # After release, sends answer at once.
    assert send(sms, csms_id="r2")["status"] == "SUCCESS"


def test_stop_releases_held_and_delayed_requests_and_leaks_nothing():
    threads_before = set(threading.enumerate())
    server = SslWirelessServer(api_token=TOKEN, sid=SID)
    server.hold_after_accept = True
    results = []

    def client(csms_id):
        try:
            results.append(send(server, csms_id=csms_id)["status"])
        except (OSError, AssertionError, ValueError) as error:
            results.append(type(error).__name__)

    held = threading.Thread(target=client, args=("h",))
    held.start()
    assert server.accepted_event.wait(2)
    server.delay = 20
    delayed = threading.Thread(target=client, args=("d",))
    delayed.start()
    time.sleep(0.1)

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    held.join(2)
    delayed.join(2)
    server.stop()  # a second stop is harmless

    assert "SUCCESS" in results and len(results) == 2
    # The server's threads and this test's clients are gone. (Other threads of the
    # process, such as a rate limiter's timer an earlier test started, may come and go.)
    left = [thread for thread in set(threading.enumerate()) - threads_before
            if thread in (held, delayed) or "process_request" in thread.name
            or thread.name.startswith("sslwireless")]
    assert left == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
        pass
