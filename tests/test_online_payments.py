"""Clients pay an invoice online through a payment link, credited exactly once (SPEC P4).

Every gateway is a protocol server under tests/protocol_servers; the app is
pointed at it only through its settings, as an install would be.
"""

import html
import re
import time
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import Payment
from app.models import PaymentMethod
from app.models import PaymentStatus
from app.models import Refund
from app.models import RentalTerm
from app.models import utcnow
from app.services import billing
from app.services import online_payments
from app.services import rentals
from app.services import settings
from app.services.billing import InvoiceState
from tests.protocol_servers.bkash import INSUFFICIENT_BALANCE_WALLET
from tests.protocol_servers.bkash import BkashServer
from tests.protocol_servers.bkash import flask_client_transport
from tests.races import race


@pytest.fixture
def client(app):
    """The client's phone browser, asking for English (Bengali is tested on its own)."""
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


@pytest.fixture
def bkash(desk, client):
    """A bKash merchant account on the protocol server, entered in the settings."""
    with BkashServer(app_key="bk-key", app_secret="bk-secret", username="gym",
                     password="gym-pass") as server:
        for key, value in (("bkash_base_url", server.base_url), ("bkash_app_key", "bk-key"),
                           ("bkash_app_secret", "bk-secret"), ("bkash_username", "gym"),
                           ("bkash_password", "gym-pass")):
            settings.put(key, value)
        db.session.commit()
        server.transport = flask_client_transport(client)
        yield server


@pytest.fixture
def invoice(desk):
    """A monthly rental's invoice, nothing paid on it."""
    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    return billing.invoice_of(rental.id)


def link_path(invoice):
    link = online_payments.create_link(invoice.id, by_user_id=None)
    return f"/pay/{online_payments.link_token(link)}"


def start_bkash(client, path):
    """The client opens the link and chooses bKash; returns bKash's paymentID."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.search(r"paymentID=([^&]+)", gateway_page(client.post(f"{path}/bkash"))).group(1)


def gateway_page(answer):
    """The gateway's page the in-between page sends the browser on to."""
    assert answer.status_code == 200, answer.get_data(as_text=True)
    text = answer.get_data(as_text=True)
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', text).group(1)
    link = re.search(r'id="gateway-page" href="([^"]+)"', text).group(1)
    assert html.unescape(refresh) == html.unescape(link)
    return html.unescape(link)


def payments_of(invoice):
    return db.session.execute(db.select(Payment).where(Payment.invoice_id == invoice.id)).scalars().all()


def the_attempt():
    return db.session.execute(db.select(GatewayTransaction)).scalar_one()


def assert_refused(invoice, field):
    """The gateway's answer was refused on `field`: the attempt failed, nothing credited."""
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.FAILED and field in attempt.error, attempt.error
    assert payments_of(invoice) == []


def test_a_client_pays_an_invoice_with_bkash_from_the_link(desk, client, bkash, invoice):
    path = link_path(invoice)
    page = client.get(path).get_data(as_text=True)
    assert invoice.number in page and "bKash" in page
    payment_id = start_bkash(client, path)
    assert bkash.payment(payment_id)["amount"] == f"{invoice.total_poisha / 100:.2f}"

    assert bkash.customer_pays(payment_id) == 200
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.COMPLETED
    [payment] = payments_of(invoice)
    assert (payment.amount_poisha, payment.method, payment.status) == (
        invoice.total_poisha, PaymentMethod.BKASH, PaymentStatus.PAID)
    assert payment.reference == attempt.transaction_id == bkash.payment(payment_id)["trxID"]
    assert billing.invoice_state(invoice) is InvoiceState.PAID
    # The result page said so, with the receipt; the ledger kept the exchange, without secrets.
    result = bkash.deliveries[-1]
    assert b"your payment was received" in result["answer"]
    assert [exchange["call"] for exchange in attempt.exchanges] == [
        "token/grant", "create", "execute"]
    assert "bk-secret" not in str(attempt.exchanges) and "gym-pass" not in str(attempt.exchanges)
    # The link paid once: opening it again says so, and nothing can start on it.
    again = client.get(path)
    assert again.status_code == 404 and "already used" in again.get_data(as_text=True)
    assert client.post(f"{path}/bkash").status_code == 409
    assert len(bkash.calls("execute")) == 1


def test_a_declined_wallet_credits_nothing_and_the_link_still_works(desk, client, bkash, invoice):
    path = link_path(invoice)
    payment_id = start_bkash(client, path)
    bkash.customer_pays(payment_id, wallet=INSUFFICIENT_BALANCE_WALLET)
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.FAILED and "2023" in attempt.error
    assert payments_of(invoice) == []
    assert b"did not go through" in bkash.deliveries[-1]["answer"]
    assert client.get(path).status_code == 200


def test_a_forged_success_callback_credits_nothing(desk, client, bkash, invoice):
    """Nobody paid; a browser claims success. bKash's execute refuses and nothing is credited."""
    payment_id = start_bkash(client, link_path(invoice))
    bkash.send_callback(payment_id, "success")
    db.session.expire_all()
    assert the_attempt().status is not GatewayStatus.COMPLETED
    assert payments_of(invoice) == []
    # A made-up paymentID is refused outright.
    response = client.get("/pay/return/bkash?paymentID=TR0011nothing&status=success")
    assert response.status_code == 404


def test_a_tampered_execute_answer_is_refused_and_logged(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.tamper_next("execute", amount="1.00")
    bkash.customer_pays(payment_id)
    assert_refused(invoice, "amount")


def test_the_same_callback_replayed_100_times_credits_once(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_pays(payment_id)
    for _ in range(99):
        assert bkash.replay_callback(payment_id) == 200
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1
    assert len(bkash.calls("execute")) == 1


def _replay(payment_id):
    attempt = online_payments.bkash_returned(payment_id, "success")
    return attempt.status.name


@pytest.mark.race
def test_the_callback_replayed_from_parallel_processes_credits_once(app, desk, client, bkash,
                                                                     invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash._authorise(payment_id, "pay")  # the customer paid; the callbacks arrive all at once
    outcomes = race(app, _replay, [(payment_id,)] * 8)
    assert "COMPLETED" in outcomes and all(o in ("COMPLETED", "PENDING") for o in outcomes), outcomes
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1
    assert len(bkash.calls("execute")) == 1


def test_an_execute_that_times_out_is_settled_by_query_never_a_second_execute(desk, client, bkash,
                                                                            invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.http_error_next(504, "execute", performed=True)
    bkash.http_error_next(503, "query")
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.PENDING and payments_of(invoice) == []
    assert billing.invoice_state(invoice) is InvoiceState.DUE
    # The client reloads the result page: still only a query.
    bkash.replay_callback(payment_id)
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.COMPLETED
    assert len(bkash.calls("execute")) == 1
    assert len(payments_of(invoice)) == 1


def test_the_verification_job_settles_a_pending_attempt(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.http_error_next(504, "execute", performed=True)
    bkash.disconnect_next("query")
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.PENDING
    assert online_payments.verify_due() == {}  # not due yet
    attempt.next_check_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert online_payments.verify_due() == {"COMPLETED": 1}
    assert len(payments_of(invoice)) == 1 and len(bkash.calls("execute")) == 1


def test_an_attempt_bkash_says_failed_is_never_credited(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_cancels(payment_id)
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.CANCELLED
    attempt = the_attempt()
    attempt.status, attempt.next_check_at = GatewayStatus.PENDING, utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"CANCELLED": 1}
    assert payments_of(invoice) == []


def test_an_abandoned_attempt_expires_with_the_gateway(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.expire(payment_id)
    attempt = the_attempt()
    attempt.next_check_at = utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"EXPIRED": 1}


def test_cash_and_bkash_on_one_invoice(desk, client, bkash, invoice):
    """Part at the desk in cash, the rest by bKash: the link asks for what is left."""
    half = invoice.total_poisha // 2
    billing.record_payment(invoice.id, half, PaymentMethod.CASH, by_user_id=None)
    assert billing.invoice_state(invoice) is InvoiceState.PARTIAL
    payment_id = start_bkash(client, link_path(invoice))
    assert bkash.payment(payment_id)["amount"] == f"{(invoice.total_poisha - half) / 100:.2f}"
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    assert billing.balance(invoice) == 0
    assert billing.invoice_state(invoice) is InvoiceState.PAID
    assert sorted(p.method.name for p in payments_of(invoice)) == ["BKASH", "CASH"]


def test_bkash_is_not_executed_once_the_desk_was_paid(desk, client, bkash, invoice):
    """The client authorises on bKash while the desk takes cash: bKash never takes the money."""
    payment_id = start_bkash(client, link_path(invoice))
    billing.record_payment(invoice.id, invoice.total_poisha, PaymentMethod.CASH, by_user_id=None)
    bkash.customer_pays(payment_id)
    assert b"already paid" in bkash.deliveries[-1]["answer"]
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.CANCELLED and attempt.payment_id is None
    assert bkash.calls("execute") == [] and len(payments_of(invoice)) == 1


def test_links_are_signed_expire_and_offer_only_configured_gateways(desk, client, invoice):
    assert client.get("/pay/not-a-token").status_code == 404
    link = online_payments.create_link(invoice.id, by_user_id=None)
    token = online_payments.link_token(link)
    page = client.get(f"/pay/{token}").get_data(as_text=True)
    assert "not available" in page  # no gateway has its settings yet
    assert client.post(f"/pay/{token}/bkash").status_code == 409
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert "expired" in client.get(f"/pay/{token}").get_data(as_text=True)
    # The token names the link's row and its nonce; another nonce is another link.
    forged = online_payments._serializer().dumps([link.id, "0" * 32])
    assert client.get(f"/pay/{forged}").status_code == 404


def test_no_link_for_a_paid_or_cancelled_invoice(desk, invoice):
    billing.record_payment(invoice.id, invoice.total_poisha, PaymentMethod.CASH, by_user_id=None)
    with pytest.raises(online_payments.PaymentError, match="nothing is owed"):
        online_payments.create_link(invoice.id, by_user_id=None)


# --- the desk's side ---------------------------------------------------------------------

def test_the_desk_makes_a_link_shows_its_qr_and_follows_the_attempt(desk, client, bkash, invoice):
    front = desk.login_as("Front Desk", locale="bn")
    page = front.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert 'id="make-payment-link"' in page and "অনলাইন" in page
    assert front.post(f"/admin/take_payment/link/{invoice.id}/").status_code == 302
    page = front.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert 'class="payment-link-qr"' in page
    url = re.search(r'id="payment-link-url" value="([^"]+)"', page).group(1)
    path = url.split("127.0.0.1:5000", 1)[1] if "127.0.0.1:5000" in url else url
    payment_id = start_bkash(client, path)
    bkash.http_error_next(504, "execute", performed=True)
    bkash.http_error_next(503, "query")
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    attempt = the_attempt()
    page = front.get(f"/admin/take_payment/?invoice_id={invoice.id}").get_data(as_text=True)
    assert attempt.reference in page and 'id="gateway-attempts"' in page
    # Check now asks bKash (a query, never a second execute) and credits the invoice.
    assert front.post(f"/admin/take_payment/check/{attempt.id}/").status_code == 302
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.COMPLETED
    assert billing.invoice_state(invoice) is InvoiceState.PAID
    assert len(bkash.calls("execute")) == 1
    # The log names who pressed Check now on the payment it brought in.
    from app.models import ActivityLog
    assert front.user.id in {entry.user_id for entry in db.session.execute(db.select(ActivityLog)
                             .where(ActivityLog.model == "Payment")).scalars()}
    page = front.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert "payment-link-qr" not in page  # the link paid; nothing is owed


def test_making_a_link_needs_the_right_to_take_payments(desk, bkash, invoice):
    from app.models import Role

    db.session.add(Role(name="Viewer", description="reads payments", permissions=["payments-view"]))
    db.session.commit()
    viewer = desk.login_as("Viewer")
    page = viewer.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert "make-payment-link" not in page
    assert viewer.post(f"/admin/take_payment/link/{invoice.id}/").status_code == 403
    assert online_payments.current_link(invoice.id) is None


def test_the_payment_page_speaks_bengali(desk, bkash, invoice, app):
    phone = app.test_client()
    phone.environ_base["HTTP_ACCEPT_LANGUAGE"] = "bn"
    page = phone.get(link_path(invoice)).get_data(as_text=True)
    assert "বিকাশ" in page and "Pay with" not in page


# --- refunds -----------------------------------------------------------------------------

def _paid_by_bkash(client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    return payment_id, payments_of(invoice)[0]


def test_a_bkash_payment_is_refunded_through_bkash(desk, client, bkash, invoice):
    payment_id, payment = _paid_by_bkash(client, bkash, invoice)
    accountant = desk.login_as("Accountant")
    response = accountant.post(f"/admin/take_payment/refund/{payment.id}/",
                               data={"amount": "100", "reason": "Locker closed for repair"})
    assert response.status_code == 302, response.get_data(as_text=True)
    [call] = bkash.calls("refund")
    assert call.body["amount"] == "100.00" and call.body["trxID"] == payment.reference
    db.session.expire_all()
    assert billing.refundable(payment) == payment.amount_poisha - 10000
    [refund] = db.session.execute(db.select(Refund).where(Refund.payment_id == payment.id)).scalars()
    assert refund.amount_poisha == 10000
    assert bkash.payment(payment_id)["refunds"][0]["refundTrxID"] in refund.reason


def test_a_refund_bkash_refuses_records_nothing(desk, client, bkash, invoice):
    _payment_id, payment = _paid_by_bkash(client, bkash, invoice)
    bkash.fail_next("2026", "refund")
    with pytest.raises(online_payments.PaymentError, match="2026"):
        online_payments.refund(payment.id, 10000, "Changed mind", by_user_id=None)
    assert billing.refundable(payment) == payment.amount_poisha
    # Beyond what was paid: refused by the desk's own rule, bKash is never asked.
    calls = len(bkash.calls("refund"))
    with pytest.raises(billing.BillingError):
        online_payments.refund(payment.id, payment.amount_poisha + 1, "Too much", by_user_id=None)
    assert len(bkash.calls("refund")) == calls


def test_bkash_refunds_stop_after_the_window(desk, client, bkash, invoice):
    _payment_id, payment = _paid_by_bkash(client, bkash, invoice)
    payment.paid_at = utcnow() - timedelta(days=16)
    db.session.commit()
    with pytest.raises(online_payments.PaymentError, match="15"):
        online_payments.refund(payment.id, 10000, "Late", by_user_id=None)
    assert bkash.calls("refund") == []
    # Handed back at the desk instead: recorded, bKash not asked.
    accountant = desk.login_as("Accountant")
    form = accountant.get(f"/admin/take_payment/refund/{payment.id}/").get_data(as_text=True)
    assert "Through bKash" in form and "Handed back at the desk" in form
    response = accountant.post(f"/admin/take_payment/refund/{payment.id}/", data={
        "amount": "100", "reason": "Late", "returned": "desk"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert bkash.calls("refund") == []
    assert billing.refundable(payment) == payment.amount_poisha - 10000


def test_unapplied_money_is_sent_back_through_the_gateway(desk, client, sslcommerz, invoice):
    """SSLCommerz took the money after the desk was paid in cash: flagged, then refunded."""
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    billing.record_payment(invoice.id, invoice.total_poisha, PaymentMethod.CASH, by_user_id=None)
    outcome = sslcommerz.customer_pays(sessionkey)
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.UNAPPLIED and attempt.payment_id is None
    assert attempt.transaction_id == outcome.bank_tran_id
    assert billing.balance(invoice) == 0 and len(payments_of(invoice)) == 1
    manager = desk.login_as("Manager")
    assert "Refund through SSLCommerz" in manager.get(
        f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    front = desk.login_as("Front Desk")
    assert front.post(f"/admin/take_payment/refund-unapplied/{attempt.id}/").status_code == 403
    assert manager.post(f"/admin/take_payment/refund-unapplied/{attempt.id}/").status_code == 302
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.REFUNDED
    [refund] = sslcommerz.refunds.values()
    assert refund["amount"] * 100 == invoice.total_poisha


# --- the link in a message ---------------------------------------------------------------

def test_a_reminder_carries_a_payment_link_that_opens_the_payment_page(desk, client, bkash,
                                                                      invoice, sms):
    from app.models import Channel
    from app.models import Language
    from app.models import MessageKind
    from app.models import MessageTemplate
    from app.services import notifications
    from tests.messaging import configure
    from tests.messaging import run_worker

    configure(sms=sms)
    invoice.client.opt_in_sms, invoice.client.preferred_language = True, Language.BENGALI
    db.session.commit()
    template = db.session.execute(db.select(MessageTemplate).where(
        MessageTemplate.kind == MessageKind.REMINDER, MessageTemplate.channel == Channel.SMS,
        MessageTemplate.language == Language.BENGALI)).scalar_one()
    notifications.update_template(template.id, {
        "body": "{{ client_name }}: {{ amount }} বকেয়া। পরিশোধ করুন: {{ payment_link }}",
        "is_active": True}, by_user_id=None)
    # A preview shows an example link and makes none.
    preview = notifications.preview(template.body, None, Channel.SMS, invoice.client_id,
                                    MessageKind.REMINDER)
    assert "/pay/…" in preview["body"] and online_payments.current_link(invoice.id) is None
    notifications.remind_now(invoice.rental_id, by_user_id=None)
    notifications.send_due()
    run_worker()
    [sent] = sms.accepted
    path = re.search(r"https?://[^/\s]+(/pay/\S+)", sent["sms"]).group(1)
    assert online_payments.current_link(invoice.id) is not None
    assert invoice.number in client.get(path).get_data(as_text=True)


# --- SSLCommerz ----------------------------------------------------------------------------

@pytest.fixture
def sslcommerz(desk, client):
    """An SSLCommerz store on the protocol server, entered in the settings."""
    from tests.protocol_servers.sslcommerz import SslCommerzServer
    from tests.protocol_servers.sslcommerz import flask_client_transport as sslc_transport

    with SslCommerzServer(store_id="gymstore", store_passwd="gym-store-pass") as server:
        for key, value in (("sslcommerz_base_url", server.base_url),
                           ("sslcommerz_store_id", "gymstore"),
                           ("sslcommerz_store_password", "gym-store-pass")):
            settings.put(key, value)
        db.session.commit()
        server.callback_transport = sslc_transport(client)
        yield server


def start_sslcommerz(client, server, path):
    """The client opens the link and chooses SSLCommerz; returns the session key."""
    page = gateway_page(client.post(f"{path}/sslcommerz"))
    [sessionkey] = [key for key, record in server.sessions.items()
                    if page == server.checkout_url(key)]
    return sessionkey


def test_a_client_pays_with_sslcommerz_validated_before_credit(desk, client, sslcommerz, invoice):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    record = sslcommerz.session(sessionkey)
    attempt = the_attempt()
    # Our own 30-character tran_id, not sslcommerz-python's 36-character uuid.
    assert record["tran_id"] == attempt.reference and len(attempt.reference) <= 30
    # The library's class-level dict, which every instance would share, stays untouched.
    from sslcommerz_python.payment import SSLCommerz
    assert SSLCommerz.integration_data == {}
    [sent] = [r for r in sslcommerz.requests if r.endpoint == "session"]
    assert sent.form["cus_name"] == invoice.client.full_name
    assert sent.form["tran_id"] == attempt.reference
    outcome = sslcommerz.customer_pays(sessionkey)
    assert outcome.ipn_answer.status == 200
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.COMPLETED
    assert attempt.transaction_id == outcome.bank_tran_id
    assert [e["call"] for e in attempt.exchanges if e["call"].endswith(".php")] == [
        "api.php", "validationserverAPI.php"]
    assert "gym-store-pass" not in str(attempt.exchanges)
    [payment] = payments_of(invoice)
    assert payment.method is PaymentMethod.SSLCOMMERZ
    assert billing.invoice_state(invoice) is InvoiceState.PAID
    # The browser lands afterwards: the thank-you page, nothing credited twice.
    landing = sslcommerz.post_redirect(outcome)
    assert landing.status == 200 and b"your payment was received" in landing.body
    for _ in range(99):
        sslcommerz.post_ipn(outcome)
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1


@pytest.mark.parametrize("signature", ["wrong", "missing", "dangling_key"])
def test_an_sslcommerz_callback_without_a_valid_signature_changes_nothing(
        desk, client, sslcommerz, invoice, signature):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    outcome = sslcommerz.customer_pays(sessionkey, signature=signature)
    assert outcome.ipn_answer.status == 400
    assert sslcommerz.post_redirect(outcome).status == 400
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.STARTED and payments_of(invoice) == []
    assert any(e["call"] == "callback refused: signature" for e in attempt.exchanges)
    assert sslcommerz.session(sessionkey)["validations"] == 0


def test_an_sslcommerz_amount_changed_after_signing_is_refused(desk, client, sslcommerz, invoice):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    outcome = sslcommerz.customer_pays(sessionkey, tamper={"amount": "1.00"})
    assert outcome.ipn_answer.status == 400
    assert payments_of(invoice) == []


def test_a_signed_callback_for_a_smaller_payment_is_never_credited(desk, client, sslcommerz,
                                                                   invoice):
    """The gateway itself says less was paid: the validation API's amount decides."""
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    sslcommerz.customer_pays(sessionkey, amount="10.00")
    assert_refused(invoice, "amount")


def test_a_declined_card_is_recorded_and_nothing_credited(desk, client, sslcommerz, invoice):
    path = link_path(invoice)
    outcome = sslcommerz.customer_fails(start_sslcommerz(client, sslcommerz, path))
    landing = sslcommerz.post_redirect(outcome)
    assert b"did not go through" in landing.body
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.FAILED and payments_of(invoice) == []
    assert client.get(path).status_code == 200  # the link still works


def test_the_job_settles_an_sslcommerz_payment_whose_ipn_never_came(desk, client, sslcommerz,
                                                                    invoice):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    sslcommerz.customer_pays(sessionkey, send_ipn=False)
    attempt = the_attempt()
    attempt.next_check_at = utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"COMPLETED": 1}
    assert len(payments_of(invoice)) == 1


def test_an_abandoned_sslcommerz_session_stays_open_then_expires(desk, client, sslcommerz,
                                                                 invoice):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    sslcommerz.customer_abandons(sessionkey, "UNATTEMPTED", send_ipn=False)
    attempt = the_attempt()
    attempt.next_check_at = utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"STARTED": 1}
    attempt = the_attempt()
    assert attempt.checks == 1 and attempt.next_check_at > utcnow()
    attempt.created_at = utcnow() - timedelta(days=3)
    attempt.next_check_at = utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"EXPIRED": 1}


def test_an_sslcommerz_payment_is_refunded_through_sslcommerz(desk, client, sslcommerz, invoice):
    outcome = sslcommerz.customer_pays(start_sslcommerz(client, sslcommerz, link_path(invoice)))
    db.session.expire_all()
    [payment] = payments_of(invoice)
    online_payments.refund(payment.id, 5000, "Partly unused", by_user_id=None)
    [refund] = sslcommerz.refunds.values()
    assert refund["bank_tran_id"] == outcome.bank_tran_id and str(refund["amount"]) == "50.00"
    assert billing.refundable(payment) == payment.amount_poisha - 5000


def _notify(fields):
    return online_payments.sslcommerz_notified(fields).status.name


@pytest.mark.race
def test_the_sslcommerz_ipn_and_the_browser_at_once_credit_once(app, desk, client, sslcommerz,
                                                                invoice):
    sessionkey = start_sslcommerz(client, sslcommerz, link_path(invoice))
    outcome = sslcommerz.customer_pays(sessionkey, send_ipn=False)
    outcomes = race(app, _notify, [(outcome.ipn.fields,)] * 8)
    assert set(outcomes) == {"COMPLETED"}, outcomes
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1


# --- Nagad ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def merchant_keys():
    """The gym's own RSA key pair for Nagad (made once: 2048-bit keys take a moment)."""
    from tests.protocol_servers.nagad import make_key_pair

    return make_key_pair()


@pytest.fixture
def nagad(desk, client, merchant_keys):
    """A Nagad merchant on the protocol server; the keys entered as a gym gets them (Base64)."""
    from tests.protocol_servers.nagad import NagadServer
    from tests.protocol_servers.nagad import flask_client_transport as nagad_transport
    from tests.protocol_servers.nagad import pem_body

    with NagadServer(merchant_keys.public_pem) as server:
        for key, value in (("nagad_base_url", server.base_url),
                           ("nagad_merchant_id", server.merchant_id),
                           ("nagad_merchant_number", server.merchant_number),
                           ("nagad_merchant_private_key", pem_body(merchant_keys.private_pem)),
                           ("nagad_public_key", server.pg_public_key_pem)):
            settings.put(key, value)
        db.session.commit()
        server.callback_transport = nagad_transport(client)
        yield server


def start_nagad(client, path):
    """The client opens the link and chooses Nagad; returns Nagad's paymentReferenceId."""
    return gateway_page(client.post(f"{path}/nagad")).rsplit("/check-out/", 1)[1]


def test_a_client_pays_with_nagad_verified_before_credit(desk, client, nagad, invoice):
    payment_ref = start_nagad(client, link_path(invoice))
    record = nagad.payment(payment_ref)
    assert record["order_id"] == the_attempt().reference
    assert record["amount"] == f"{invoice.total_poisha / 100:.2f}"
    assert nagad.customer_pays(payment_ref) == 200
    db.session.expire_all()
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.COMPLETED
    assert attempt.transaction_id == nagad.payment(payment_ref)["issuer_ref"]
    [payment] = payments_of(invoice)
    assert payment.method is PaymentMethod.NAGAD
    assert b"your payment was received" in nagad.callbacks[-1]["answer"]
    for _ in range(99):
        nagad.send_callback(payment_ref)
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1
    assert "PRIVATE" not in str(attempt.exchanges)


def test_a_forged_nagad_success_callback_credits_nothing(desk, client, nagad, invoice):
    payment_ref = start_nagad(client, link_path(invoice))
    assert nagad.send_callback(payment_ref, status="Success") == 200
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.STARTED and payments_of(invoice) == []


def test_nagad_verify_saying_another_amount_is_never_credited(desk, client, nagad, invoice):
    payment_ref = start_nagad(client, link_path(invoice))
    nagad.tamper_verify(payment_ref, amount="1.00")
    nagad.customer_pays(payment_ref)
    assert_refused(invoice, "amount")


def test_a_nagad_answer_not_signed_by_nagad_stops_the_payment(desk, client, nagad, invoice):
    path = link_path(invoice)
    nagad.bad_signature_next()
    assert client.post(f"{path}/nagad").status_code == 409
    attempt = the_attempt()
    assert attempt.status is GatewayStatus.FAILED and "signature" in attempt.error
    assert nagad.payment_for_order(attempt.reference)["status"] == "OrderInitiated"


def test_a_cancelled_nagad_payment_and_a_declined_one(desk, client, nagad, invoice):
    path = link_path(invoice)
    nagad.customer_cancels(start_nagad(client, path))
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.CANCELLED
    second = start_nagad(client, path)
    nagad.customer_fails(second)
    db.session.expire_all()
    statuses = sorted(a.status.name for a in online_payments.attempts_of(invoice.id))
    assert statuses == ["CANCELLED", "FAILED"] and payments_of(invoice) == []


def test_the_job_settles_a_nagad_payment_whose_client_never_came_back(desk, client, nagad,
                                                                      invoice):
    payment_ref = start_nagad(client, link_path(invoice))
    nagad.customer_pays(payment_ref, deliver=False)
    attempt = the_attempt()
    attempt.next_check_at = utcnow()
    db.session.commit()
    assert online_payments.verify_due() == {"COMPLETED": 1}
    assert len(payments_of(invoice)) == 1


def test_the_payment_page_offers_every_configured_gateway(desk, client, bkash, sslcommerz, nagad,
                                                          invoice):
    page = client.get(link_path(invoice)).get_data(as_text=True)
    assert page.count("Pay with") == 3
    assert page.index("bKash") < page.index("Nagad") < page.index("SSLCommerz")


def _nagad_back(payment_ref):
    return online_payments.nagad_returned(payment_ref).status.name


@pytest.mark.race
def test_nagad_callbacks_from_parallel_processes_credit_once(app, desk, client, nagad, invoice):
    payment_ref = start_nagad(client, link_path(invoice))
    nagad.customer_pays(payment_ref, deliver=False)
    outcomes = race(app, _nagad_back, [(payment_ref,)] * 8)
    assert set(outcomes) == {"COMPLETED"}, outcomes
    db.session.expire_all()
    assert len(payments_of(invoice)) == 1


def test_the_profile_shows_an_online_payment_being_checked(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.http_error_next(504, "execute", performed=True)
    bkash.http_error_next(503, "query")
    bkash.customer_pays(payment_id)
    accountant = desk.login_as("Accountant")
    page = accountant.get(f"/admin/client_profile/?id={invoice.client_id}").get_data(as_text=True)
    assert 'id="online-attempts"' in page and "Pending" in page and invoice.number in page


def test_gateway_settings_refuse_what_cannot_work(desk, merchant_keys):
    """A key that is not one, or an address that is not one, is refused with the reason."""
    from app.services.settings import InvalidSetting
    from tests.protocol_servers.nagad import pem_body

    with pytest.raises(InvalidSetting, match="private key"):
        settings.put("nagad_merchant_private_key", "not a key")
    with pytest.raises(InvalidSetting, match="public key"):
        settings.put("nagad_public_key", pem_body(merchant_keys.private_pem)[:40])
    with pytest.raises(InvalidSetting, match="web address"):
        settings.put("bkash_base_url", "tokenized.pay.bka.sh")
    # A PEM pasted into a one-line field loses its line breaks and still reads.
    settings.put("nagad_public_key", merchant_keys.public_pem.replace("\n", " "))
    settings.put("nagad_merchant_private_key", merchant_keys.private_pem)


def test_a_client_pays_by_bkash_while_redis_is_down(desk, client, bkash, invoice):
    """The token is kept in the process, the limiter in memory: the payment goes through."""
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.COMPLETED
    assert len(bkash.calls("grant")) == 1


def test_two_tabs_paying_one_link_by_bkash_take_the_money_once(desk, client, bkash, invoice):
    """Both tabs authorise on bKash's page; only the first is executed, the second is not."""
    path = link_path(invoice)
    first, second = start_bkash(client, path), start_bkash(client, path)
    bkash.customer_pays(first)
    bkash.customer_pays(second)
    assert b"this one" in bkash.deliveries[-1]["answer"]  # the second tab is told why
    db.session.expire_all()
    assert len(bkash.calls("execute")) == 1
    assert sorted(a.status.name for a in online_payments.attempts_of(invoice.id)) == [
        "CANCELLED", "COMPLETED"]
    assert len(payments_of(invoice)) == 1


def test_money_a_gateway_took_twice_is_told_to_the_client_as_received(desk, client, sslcommerz,
                                                                     invoice):
    """SSLCommerz takes the money before we hear of it: the second payment is to be refunded."""
    path = link_path(invoice)
    first = start_sslcommerz(client, sslcommerz, path)
    second = start_sslcommerz(client, sslcommerz, path)
    sslcommerz.customer_pays(first)
    landing = sslcommerz.post_redirect(sslcommerz.customer_pays(second))
    assert b"already paid" in landing.body and b"refund" in landing.body
    db.session.expire_all()
    assert sorted(a.status.name for a in online_payments.attempts_of(invoice.id)) == [
        "COMPLETED", "UNAPPLIED"]


# --- bKash's failures ------------------------------------------------------------------------

def test_a_query_is_confirmed_by_the_transaction_itself(desk, client, bkash, invoice):
    """After a lost execute answer, query says Completed; search transaction must agree."""
    payment_id = start_bkash(client, link_path(invoice))
    bkash.disconnect_next("execute", performed=True)
    bkash.tamper_next("search", amount="1.00")
    bkash.customer_pays(payment_id)
    assert_refused(invoice, "amount")
    assert [e["call"] for e in the_attempt().exchanges][-3:] == [
        "execute", "payment/status", "general/searchTransaction"]


def test_a_malformed_create_answer_stops_the_attempt_cleanly(desk, client, bkash, invoice):
    path = link_path(invoice)
    bkash.malformed_next("create")
    response = client.post(f"{path}/bkash")
    assert response.status_code == 409 and "could not start" in response.get_data(as_text=True)
    assert the_attempt().status is GatewayStatus.FAILED
    assert client.get(path).status_code == 200  # try again from the same link


def test_an_expired_or_revoked_token_is_granted_again(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.revoke_tokens()
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    assert the_attempt().status is GatewayStatus.COMPLETED
    # The first execute was refused with 401 by bKash's API gateway, before bKash saw it.
    assert len(bkash.calls("grant")) == 2 and len(bkash.calls("execute")) == 2
    assert len(payments_of(invoice)) == 1


def test_a_token_past_its_time_is_refreshed_not_granted(desk, client, bkash, invoice):
    import json as json_module

    from app.extensions import rq

    path = link_path(invoice)
    start_bkash(client, path)
    [key] = rq.connection.keys("locker-desk:bkash-token:*")
    token = json_module.loads(rq.connection.get(key))
    token["expires_at"] = 0
    rq.connection.set(key, json_module.dumps(token))
    start_bkash(client, path)
    assert len(bkash.calls("grant")) == 1 and len(bkash.calls("refresh")) == 1


def test_an_execute_slower_than_the_timeout_is_queried_not_repeated(desk, client, bkash, invoice):
    desk.app.config["GATEWAY_TIMEOUT"] = 0.5
    payment_id = start_bkash(client, link_path(invoice))
    bkash.delay_next(1.5, "execute")
    bkash.customer_pays(payment_id)
    db.session.expire_all()
    assert len(bkash.calls("execute")) == 1
    assert the_attempt().status in (GatewayStatus.PENDING, GatewayStatus.COMPLETED)
    deadline = time.monotonic() + 10  # bKash finishes the slow execute on its own
    while bkash.payment(payment_id)["transactionStatus"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    attempt = the_attempt()
    attempt.next_check_at = utcnow()
    db.session.commit()
    online_payments.verify_due()
    assert the_attempt().status is GatewayStatus.COMPLETED
    assert len(payments_of(invoice)) == 1 and len(bkash.calls("execute")) == 1


def test_the_receipt_link_after_paying_opens_the_pdf(desk, client, bkash, invoice):
    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_pays(payment_id)
    page = bkash.deliveries[-1]["answer"].decode()
    receipt = re.search(r'href="(/r/[^"]+)"', page).group(1)
    response = client.get(receipt)
    assert response.status_code == 200 and response.mimetype == "application/pdf"


def test_the_activity_log_tells_the_attempt_without_its_calls(desk, client, bkash, invoice):
    from app.models import ActivityLog

    payment_id = start_bkash(client, link_path(invoice))
    bkash.customer_pays(payment_id)
    entries = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "GatewayTransaction")).scalars().all()
    assert entries and any("status" in (entry.changes or {}) for entry in entries)
    assert "bkashURL" not in str([entry.changes for entry in entries])
    assert db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "PaymentLink")).first() is not None


def test_guessing_payment_links_is_slowed_per_address(desk, client):
    """30 tries a minute from one address, then 429; another address is not held up."""
    statuses = [client.get(f"/pay/guess-{n}", environ_base={"REMOTE_ADDR": "198.51.100.7"})
                .status_code for n in range(32)]
    assert statuses.count(404) == 30 and statuses[-1] == 429
    assert client.get("/pay/guess", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 404


def test_the_desk_sends_the_link_by_sms_once_and_it_opens_the_payment_page(desk, client, bkash,
                                                                         invoice, sms):
    from app.models import Language
    from tests.messaging import configure
    from tests.messaging import run_worker

    configure(sms=sms)
    invoice.client.opt_in_sms, invoice.client.preferred_language = True, Language.BENGALI
    db.session.commit()
    front = desk.login_as("Front Desk", locale="bn")
    front.post(f"/admin/take_payment/link/{invoice.id}/")
    page = front.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert 'id="send-payment-link"' in page
    assert front.post(f"/admin/take_payment/send-link/{invoice.id}/").status_code == 302
    run_worker()
    [sent] = sms.accepted
    link = online_payments.current_link(invoice.id)
    assert online_payments.link_url(link) in sent["sms"] and "৳" in sent["sms"]
    path = re.search(r"https?://[^/\s]+(/pay/\S+)", sent["sms"]).group(1)
    assert invoice.number in client.get(path).get_data(as_text=True)
    # A second press (a double click, another tab) is refused; nothing more is sent.
    again = front.post(f"/admin/take_payment/send-link/{invoice.id}/", follow_redirects=True)
    assert "দুবার" in again.get_data(as_text=True)
    run_worker()
    assert len(sms.accepted) == 1


def test_sending_a_link_takes_the_right_to_send_messages(desk, bkash, invoice):
    accountant = desk.login_as("Accountant")  # takes payments, does not send messages
    online_payments.create_link(invoice.id, by_user_id=None)
    page = accountant.get(f"/admin/invoices/details/?id={invoice.id}").get_data(as_text=True)
    assert "payment-link-qr" in page and "send-payment-link" not in page
    assert accountant.post(f"/admin/take_payment/send-link/{invoice.id}/").status_code == 403
