"""An invoice paid online, in a real browser: the desk's link, the client's phone, bKash's page."""

import re

import pytest

from app.extensions import db
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import PaymentMethod
from app.models import RentalTerm
from app.services import billing
from app.services import rentals
from app.services import settings
from app.services.billing import InvoiceState
from tests.browser.conftest import log_in
from tests.protocol_servers.bkash import REGULAR_WALLETS
from tests.protocol_servers.bkash import SANDBOX_OTP
from tests.protocol_servers.bkash import SANDBOX_PIN
from tests.protocol_servers.bkash import BkashServer

pytestmark = pytest.mark.browser


def test_a_client_pays_the_link_the_desk_showed_through_bkash_in_bengali(live_desk, browser):
    base_url, desk = live_desk
    with BkashServer(app_key="k", app_secret="s", username="gym", password="p") as bkash:
        for key, value in (("bkash_base_url", bkash.base_url), ("bkash_app_key", "k"),
                           ("bkash_app_secret", "s"), ("bkash_username", "gym"),
                           ("bkash_password", "p")):
            settings.put(key, value)
        db.session.commit()
        locker = desk.make_locker()
        client = desk.make_client(branch=locker.branch)
        rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
        invoice = billing.invoice_of(rental.id)
        front = desk.make_user("Front Desk", locale="bn")

        staff = browser.new_context(locale="bn-BD", viewport={"width": 1280, "height": 900})
        page = staff.new_page()
        log_in(page, base_url, front)
        page.goto(f"{base_url}/admin/invoices/details/?id={invoice.id}")
        page.click("#make-payment-link")
        page.wait_for_selector("svg.payment-link-qr")
        assert "অনলাইন পেমেন্ট" in page.inner_text("#online-payment")
        link = page.input_value("#payment-link-url")
        path = re.sub(r"^https?://[^/]+", "", link)

        phone = browser.new_context(locale="bn-BD", viewport={"width": 390, "height": 844})
        client_page = phone.new_page()
        client_page.goto(base_url + path)
        assert invoice.number in client_page.inner_text("h1")
        client_page.click("text=বিকাশ দিয়ে পরিশোধ করুন")
        # bKash's own page: wallet, verification code and PIN.
        client_page.wait_for_selector("input[name=wallet]")
        client_page.fill("input[name=wallet]", REGULAR_WALLETS[1])
        client_page.fill("input[name=otp]", SANDBOX_OTP)
        client_page.fill("input[name=pin]", SANDBOX_PIN)
        client_page.click("button[value=pay]")
        client_page.wait_for_selector("text=ধন্যবাদ: আপনার পেমেন্ট পাওয়া গেছে।")
        assert client_page.locator("text=রসিদ ডাউনলোড করুন").count() == 1

        page.reload()
        assert "পরিশোধিত" in page.inner_text("#invoice-state")
        db.session.expire_all()
        attempt = db.session.execute(db.select(GatewayTransaction)).scalar_one()
        assert attempt.status is GatewayStatus.COMPLETED
        assert attempt.payment.method is PaymentMethod.BKASH
        assert billing.invoice_state(invoice) is InvoiceState.PAID
        phone.close()
        staff.close()
