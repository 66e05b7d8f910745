"""Fixtures for messages to clients: a real SMTP server and the providers' protocol servers.

Email goes to aiosmtpd on loopback; SMS to the SSL Wireless server and WhatsApp
to the Cloud API server under tests/protocol_servers. The app is pointed at
them only through its settings (addresses and credentials), as an install is.
"""

import asyncio
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from rq import SimpleWorker

from app.extensions import AppContextJob
from app.extensions import db
from app.extensions import rq
from app.models import MessageTemplate
from app.services import message_templates
from app.services import notifications
from app.services import settings
from tests.protocol_servers.sslwireless import SslWirelessServer
from tests.protocol_servers.whatsapp import WhatsAppCloudServer


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd's handler: keeps every message, or refuses recipients it is told to."""

    def __init__(self):
        self.messages = []
        self.refuse = {}  # recipient → "550 …" / "451 …"
        self.lock = threading.Lock()
        # Set `hold`: a message is kept, then the answer waits until `release` is set.
        self.hold = False
        self.accepted = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.refuse.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email import policy

        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        if self.hold:
            self.accepted.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    """A real SMTP server on loopback; `.handler.messages` holds what it received."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.mailbox = mailbox
    yield controller
    mailbox.release.set()
    controller.stop()


@pytest.fixture
def sms():
    with SslWirelessServer(api_token="sms-token", sid="LOCKERDESK") as server:
        yield server


@pytest.fixture
def whatsapp():
    with WhatsAppCloudServer(access_token="wa-token", phone_number_id="1098765",
                             app_secret="wa-app-secret") as server:
        yield server


def register_whatsapp_templates(server):
    """Meta's side: every shipped WhatsApp template approved, with its parameter count."""
    rows = db.session.execute(db.select(MessageTemplate).where(
        MessageTemplate.whatsapp_name.is_not(None))).scalars().all()
    for row in rows:
        server.register_template(row.whatsapp_name, row.language.value,
                                 len(notifications.whatsapp_parameters(row.body)))


def configure(smtp=None, sms=None, whatsapp=None):
    """Put the servers' addresses and credentials in the settings, as staff would."""
    values = {}
    if smtp is not None:
        values.update(mail_server=smtp.hostname, mail_port=str(smtp.port), mail_security="none",
                      mail_default_sender="desk@gym.example")
    if sms is not None:
        values.update(sms_api_url=sms.base_url, sms_api_token="sms-token", sms_sid="LOCKERDESK")
    if whatsapp is not None:
        values.update(whatsapp_api_url=whatsapp.base_url, whatsapp_phone_number_id="1098765",
                      whatsapp_token="wa-token", whatsapp_app_secret="wa-app-secret",
                      whatsapp_verify_token="wa-verify")
    for key, value in values.items():
        settings.put(key, value)
    settings.put("quiet_hours", "")
    db.session.commit()
    message_templates.install_defaults()
    if whatsapp is not None:
        register_whatsapp_templates(whatsapp)


def run_worker():
    """Run every queued job to the end in this process (an RQ worker in burst mode)."""
    db.session.commit()
    queues = [rq.queue(name) for name in ("notifications", "default")]
    SimpleWorker(queues, connection=rq.connection, job_class=AppContextJob).work(
        burst=True, with_scheduler=False)
    db.session.expire_all()
