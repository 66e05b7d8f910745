"""Messages to clients: every trigger on every channel, in both languages, exactly once (SPEC N1–N4).

Against real servers only: aiosmtpd for email, and the SSL Wireless and
WhatsApp Cloud API protocol servers under tests/protocol_servers.
"""

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Channel
from app.models import Gender
from app.models import Language
from app.models import MessageKind
from app.models import MessageStatus
from app.models import Notification
from app.models import PaymentMethod
from app.models import RentalStatus
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import clients as client_service
from app.services import clock
from app.services import notifications
from app.services import rentals
from app.services import settings
from tests.messaging import configure
from tests.messaging import run_worker

S = MessageStatus


def _register(desk, language, name="Nasrin Akter", phone="+8801711000001", email="n@example.com",
              whatsapp=True):
    user = desk.make_user("Front Desk")
    branch = desk.make_branch()
    client = client_service.register_client(
        branch_id=branch.id, full_name=name, phone=phone, email=email, by_user_id=user.id,
        preferred_language=language, opt_in_whatsapp=whatsapp, gender=Gender.FEMALE)
    return user, client


def _messages(kind=None):
    query = db.select(Notification).order_by(Notification.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return db.session.execute(query).scalars().all()


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("language", [Language.ENGLISH, Language.BENGALI])
def test_a_new_client_is_welcomed_on_every_channel_they_chose(desk, smtp, sms, whatsapp,
                                                             language):
    """Registration writes one welcome per channel in the client's language; a worker sends them."""
    configure(smtp, sms, whatsapp)
    _user, client = _register(desk, language)
    written = _messages(MessageKind.WELCOME)
    assert {message.channel for message in written} == set(Channel)
    assert all(message.status is S.QUEUED for message in written)
    run_worker()
    assert {message.status for message in _messages(MessageKind.WELCOME)} == {S.SENT}
    [mail] = smtp.mailbox.messages
    assert mail["To"] == "n@example.com"
    body = mail.get_body().get_content()
    assert "Nasrin Akter" in body
    [text] = sms.accepted
    assert text["msisdn"] == "8801711000001" and "Nasrin Akter" in text["sms"]
    [sent] = whatsapp.sent
    assert sent["template"] == "locker_welcome" and sent["language"] == language.value
    assert sent["params"][1] == "Nasrin Akter"
    if language is Language.BENGALI:
        assert "স্বাগতম" in mail["Subject"] and "স্বাগতম" in text["sms"]
        assert text["sms_type"] == "BN"
    else:
        assert "Welcome" in mail["Subject"] and text["sms_type"] == "EN"
    assert client.id == written[0].client_id


@pytest.mark.databases("sqlite")
def test_a_client_who_opted_out_or_has_no_address_gets_nothing_there(desk, smtp, sms, whatsapp):
    configure(smtp, sms, whatsapp)
    _register(desk, Language.ENGLISH, email=None, whatsapp=False)
    assert [message.channel for message in _messages()] == [Channel.SMS]


@pytest.mark.databases("sqlite")
def test_a_channel_without_credentials_is_off_and_its_messages_wait(desk, sms):
    """Nothing configured for SMS: the welcome waits, and goes once the channel is set up."""
    configure()
    _register(desk, Language.ENGLISH, email=None, whatsapp=False)
    run_worker()
    [message] = _messages()
    assert message.status is S.QUEUED and not sms.accepted
    assert notifications.send_due() == 0
    configure(sms=sms)
    assert notifications.send_due() == 1
    run_worker()
    assert _messages()[0].status is S.SENT and len(sms.accepted) == 1


@pytest.mark.databases("sqlite", "postgresql")
def test_assignment_and_receipt_carry_locker_expiry_amount_and_the_pdf(desk, smtp, sms, whatsapp):
    configure(smtp, sms, whatsapp)
    user, client = _register(desk, Language.ENGLISH)
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.WOMEN)
    locker = desk.make_locker(zone=zone, number="W-042")
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id,
                            pay_now=PaymentMethod.CASH)
    run_worker()
    assigned = [m for m in smtp.mailbox.messages if "W-042" in m["Subject"]]
    assert len(assigned) == 1
    receipt = [m for m in smtp.mailbox.messages if m["Subject"].startswith("Receipt")]
    assert len(receipt) == 1
    [attachment] = list(receipt[0].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content()[:5] == b"%PDF-"
    texts = [entry["sms"] for entry in sms.accepted]
    assert any("W-042" in text for text in texts)
    wa_receipt = [entry for entry in whatsapp.sent if entry["template"] == "locker_receipt"]
    assert len(wa_receipt) == 1
    link = wa_receipt[0]["params"][-1]
    assert "/r/" in link
    # The link opens the receipt without signing in; a forged one opens nothing.
    token = link.rsplit("/r/", 1)[1]
    anonymous = desk.app.test_client()
    response = anonymous.get(f"/r/{token}")
    assert response.status_code == 200 and response.data[:5] == b"%PDF-"
    assert anonymous.get(f"/r/{token}x").status_code == 404
    assert rental.ends_at > utcnow()


# --- nothing lost, nothing twice -------------------------------------------------------------

def _point_redis_at(app, url):
    app.config["REDIS_URL"] = url
    app.extensions["rq"]["redis"] = None


def test_with_redis_down_the_desk_works_and_every_message_goes_once_it_is_back(desk, smtp, sms,
                                                                              whatsapp):
    """Redis unreachable: registrations and assignments succeed, their messages wait; then once."""
    from app.services import events

    configure(smtp, sms, whatsapp)
    working_redis = desk.app.config["REDIS_URL"]
    _point_redis_at(desk.app, "redis://127.0.0.1:1/0")
    user = desk.make_user("Front Desk")
    branch = desk.make_branch()
    zone = desk.make_zone(branch=branch)
    people = []
    for n in range(3):
        client = client_service.register_client(
            branch_id=branch.id, full_name=f"Client {n}", phone=f"+88017110000{n:02d}",
            email=f"c{n}@example.com", by_user_id=user.id, preferred_language=Language.ENGLISH,
            opt_in_whatsapp=True, gender=Gender.MALE)
        locker = desk.make_locker(zone=zone)
        rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id,
                       pay_now=PaymentMethod.CASH)
        people.append(client)
    written = _messages()
    assert len(written) == 3 * 3 * 3  # welcome, assignment, receipt × three channels
    assert {message.status for message in written} == {S.QUEUED}
    _point_redis_at(desk.app, working_redis)
    # Both sweepers run (the events' and the messages'): each message is still sent once.
    events.dispatch_undelivered(older_than=timedelta(0))
    notifications.send_due()
    run_worker()
    notifications.send_due()
    run_worker()
    assert {message.status for message in _messages()} == {S.SENT}
    assert len(smtp.mailbox.messages) == 9
    assert len(sms.accepted) == 9 and len({entry["csms_id"] for entry in sms.accepted}) == 9
    assert len(whatsapp.sent) == 9


def _worker_process(app, database_url):
    import os
    import subprocess
    import sys

    from tests.conftest import TEST_REDIS_URL
    from tests.conftest import TEST_SETTINGS_KEY
    from tests.test_health_and_jobs import ROOT

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL,
           "FLASK_APP": "wsgi.py", "LOCKER_ENV": "testing", "SETTINGS_KEYS": TEST_SETTINGS_KEY}
    return subprocess.Popen([sys.executable, "-m", "flask", "worker", "--burst",
                             "--queues", "notifications"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill(process):
    """SIGKILL the worker and its work horse (RQ puts the horse in a session of its own)."""
    import os
    import signal
    from pathlib import Path

    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == process.pid:
            children.append(int(stat.parent.name))
    for pid in [process.pid, *children]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def _after_the_lease(minutes=4):
    from app.services import clock

    sim = clock.simulated()
    moment = sim.__enter__()
    moment.at = utcnow() + timedelta(minutes=minutes)
    return sim


def test_a_worker_killed_mid_send_never_sends_an_sms_twice(desk, database_url, smtp, sms,
                                                           whatsapp):
    """On every database: the claim, the lease and the second claim are conditional UPDATEs."""
    _killed_mid_send(desk, database_url, smtp, sms, whatsapp, Channel.SMS)


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.WHATSAPP])
def test_a_worker_killed_mid_send_never_sends_twice(desk, database_url, smtp, sms, whatsapp,
                                                    channel):
    """The provider has the message when the worker dies; what happens next never sends it twice.

    SMS is sent again under the same csms_id, which SSL Wireless refuses as a
    duplicate: that proves it went, and it is Sent. SMTP and WhatsApp keep no
    such key, so the message becomes Uncertain for staff — and a WhatsApp
    status callback for it settles it as Sent.
    """
    _killed_mid_send(desk, database_url, smtp, sms, whatsapp, channel)


def _killed_mid_send(desk, database_url, smtp, sms, whatsapp, channel):
    configure(smtp, sms, whatsapp)
    servers = {Channel.SMS: sms, Channel.WHATSAPP: whatsapp}
    if channel is Channel.EMAIL:
        smtp.mailbox.hold = True
        accepted = smtp.mailbox.accepted
    else:
        servers[channel].hold_after_accept = True
        accepted = servers[channel].accepted_event
    _register(desk, Language.ENGLISH)
    for other in _messages():
        if other.channel is not channel:
            other.status = S.CANCELLED
    db.session.commit()
    worker = _worker_process(desk.app, database_url)
    try:
        assert accepted.wait(60), "the worker never reached the provider"
    finally:
        _kill(worker)
    if channel is Channel.EMAIL:
        smtp.mailbox.release.set()
    else:
        servers[channel].release()
    db.session.expire_all()
    [message] = [m for m in _messages() if m.channel is channel]
    assert message.status is S.SENDING
    sim = _after_the_lease()
    try:
        notifications.send_due()
        run_worker()
    finally:
        sim.__exit__(None, None, None)
    db.session.expire_all()
    message = db.session.get(Notification, message.id)
    if channel is Channel.SMS:
        assert message.status is S.SENT and len(sms.accepted) == 1
        assert message.attempts == 2, (message.attempts, message.error, sms.requests)
    elif channel is Channel.EMAIL:
        assert message.status is S.UNCERTAIN and len(smtp.mailbox.messages) == 1
    else:
        assert message.status is S.UNCERTAIN and len(whatsapp.sent) == 1
        whatsapp.webhook_transport = None
        _emit_through_app(desk, whatsapp, whatsapp.sent[0]["wamid"], "sent")
        db.session.expire_all()
        assert db.session.get(Notification, message.id).status is S.SENT


def _emit_through_app(desk, server, wamid, status, **options):
    from tests.protocol_servers.whatsapp import flask_client_transport

    server.webhook_transport = flask_client_transport(desk.app.test_client())
    server.webhook_url = "/webhooks/whatsapp"
    return server.emit_status(wamid, status, **options)


# --- the providers' failures -------------------------------------------------------------------

def _one(desk, channel, configure_with, language=Language.ENGLISH):
    """Register a client and keep only their message on `channel`; returns it."""
    configure(**configure_with)
    _register(desk, language)
    keep = None
    for message in _messages():
        if message.channel is channel:
            keep = message
        else:
            message.status = S.CANCELLED
    db.session.commit()
    return keep


def _send(message_id):
    from app.integrations import TemporaryFailure

    try:
        notifications.deliver(message_id)
    except TemporaryFailure:
        pass
    db.session.expire_all()
    return db.session.get(Notification, message_id)


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(("code", "status", "reason"), [
    (4001, S.FAILED, "SSL Wireless 4001"),   # bad token: configuration, no retry
    (4026, S.FAILED, "SSL Wireless 4026"),   # blocked number
    (4029, S.QUEUED, "SSL Wireless 4029"),   # throttled: try again later
    (5000, S.QUEUED, "SSL Wireless 5000"),
])
def test_sms_gateway_refusals_fail_or_wait_by_their_code(desk, sms, code, status, reason):
    message = _one(desk, Channel.SMS, {"sms": sms})
    sms.fail_next(code)
    message = _send(message.id)
    assert message.status is status and message.error.startswith(reason)
    assert message.attempts == 1 and not sms.accepted
    if status is S.QUEUED:
        assert message.due_at > utcnow() + timedelta(seconds=20)  # back-off
        sim = _after_the_lease(minutes=1)
        try:
            message = _send(message.id)
        finally:
            sim.__exit__(None, None, None)
        assert message.status is S.SENT and message.attempts == 2 and len(sms.accepted) == 1
        assert message.cost_poisha == 35


@pytest.mark.databases("sqlite")
def test_a_malformed_answer_or_a_timeout_is_temporary_and_never_sends_twice(desk, sms):
    """A slow gateway that takes the SMS after we gave up: the retry's csms_id proves it went."""
    message = _one(desk, Channel.SMS, {"sms": sms})
    sms.malformed_next()
    message = _send(message.id)
    assert message.status is S.QUEUED and "without JSON" in message.error
    desk.app.config["PROVIDER_TIMEOUT"] = 0.3
    sms.delay = 0.8
    sim = _after_the_lease(minutes=1)
    try:
        message = _send(message.id)
    finally:
        sim.__exit__(None, None, None)
    assert message.status is S.QUEUED and "unreachable" in message.error
    import time

    time.sleep(1)  # the gateway finishes taking the message the client gave up on
    sms.delay = 0
    sim = _after_the_lease(minutes=5)
    try:
        message = _send(message.id)
    finally:
        sim.__exit__(None, None, None)
    assert message.status is S.SENT and len(sms.accepted) == 1


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(("code", "http_status", "status"), [
    (190, 401, S.FAILED),      # expired token
    (132001, 404, S.FAILED),   # template not approved in that language
    (368, 400, S.FAILED),      # account restricted
    (130429, 400, S.QUEUED),   # throughput limit
    (131000, 500, S.QUEUED),   # something went wrong at Meta
])
def test_whatsapp_errors_fail_or_wait_by_their_code(desk, whatsapp, code, http_status, status):
    message = _one(desk, Channel.WHATSAPP, {"whatsapp": whatsapp})
    whatsapp.fail_next(code, http_status)
    message = _send(message.id)
    assert message.status is status and message.error.startswith(f"WhatsApp {code}")
    assert not whatsapp.sent


@pytest.mark.databases("sqlite")
def test_whatsapp_statuses_arrive_signed_and_only_move_forward(desk, whatsapp):
    message = _one(desk, Channel.WHATSAPP, {"whatsapp": whatsapp})
    message = _send(message.id)
    assert message.status is S.SENT
    wamid = message.provider_id
    assert whatsapp.sent[0]["biz_opaque_callback_data"] == notifications.reference(message)
    assert _emit_through_app(desk, whatsapp, wamid, "delivered", bad_signature=True) == 403
    db.session.expire_all()
    assert db.session.get(Notification, message.id).status is S.SENT
    assert _emit_through_app(desk, whatsapp, wamid, "read") == 200
    assert _emit_through_app(desk, whatsapp, wamid, "delivered") == 200  # late, out of order
    assert _emit_through_app(desk, whatsapp, wamid, "read", duplicate=True) == 200
    db.session.expire_all()
    message = db.session.get(Notification, message.id)
    assert message.status is S.READ and message.delivered_at is not None
    # Meta's subscription handshake answers only to our verify token.
    whatsapp.webhook_url = "/webhooks/whatsapp"
    assert whatsapp.verify_subscription("wa-verify", "4242") == (200, "4242")
    assert whatsapp.verify_subscription("guess", "4242")[0] == 403


@pytest.mark.databases("sqlite")
def test_a_number_not_on_whatsapp_is_accepted_then_reported_failed(desk, whatsapp):
    message = _one(desk, Channel.WHATSAPP, {"whatsapp": whatsapp})
    whatsapp.not_on_whatsapp.add("8801711000001")
    message = _send(message.id)
    assert message.status is S.SENT
    for status in ("sent", "failed"):
        _emit_through_app(desk, whatsapp, message.provider_id, status)
    db.session.expire_all()
    message = db.session.get(Notification, message.id)
    assert message.status is S.FAILED and message.error.startswith("WhatsApp 131026")


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(("answer", "status"), [
    ("550 5.1.1 No such mailbox", S.FAILED),
    ("451 4.3.0 Try again later", S.QUEUED),
])
def test_email_refusals_fail_or_wait_by_the_smtp_code(desk, smtp, answer, status):
    message = _one(desk, Channel.EMAIL, {"smtp": smtp})
    smtp.mailbox.refuse["n@example.com"] = answer
    message = _send(message.id)
    assert message.status is status and message.error.startswith(f"SMTP {answer[:3]}")
    assert not smtp.mailbox.messages


@pytest.mark.databases("sqlite")
def test_an_smtp_server_that_is_down_is_temporary(desk, smtp):
    message = _one(desk, Channel.EMAIL, {"smtp": smtp})
    from app.services import settings
    from tests.messaging import free_port

    settings.put("mail_port", str(free_port()))
    db.session.commit()
    message = _send(message.id)
    assert message.status is S.QUEUED and "unreachable" in message.error


# --- reminders and overdue notices --------------------------------------------------------------

def _rental_ending_in(desk, days, language=Language.ENGLISH, phone="+8801711000009"):
    """An active rental whose term ends `days` from now (negative: ended that long ago)."""
    user, client = _register(desk, language, phone=phone)
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.WOMEN)
    locker = desk.make_locker(zone=zone, number=f"R-{abs(days):03d}")
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id)
    # Midday of that day at the branch, so the rule for `days` picks it at any hour the
    # test runs (late in a Dhaka evening, "now + days" is already the next day there).
    ends_on = clock.branch_today(client.branch_id) + timedelta(days=days)
    rental.ends_at = clock.day_start_utc(ends_on, client.branch.timezone) + timedelta(hours=12)
    for message in _messages():
        message.status = S.CANCELLED  # the welcome and assignment are not under test here
    db.session.commit()
    return rental


def test_the_reminder_schedule_writes_each_reminder_once(desk, smtp, sms, whatsapp):
    """Default schedule: email 7 days before, SMS 3 days, WhatsApp on the day, SMS 3 days late."""
    configure(smtp, sms, whatsapp)
    week = _rental_ending_in(desk, 7, phone="+8801711000011")
    three = _rental_ending_in(desk, 3, phone="+8801711000012")
    today = _rental_ending_in(desk, 0, phone="+8801711000013")
    late = _rental_ending_in(desk, -3, phone="+8801711000014")
    far = _rental_ending_in(desk, 20, phone="+8801711000015")
    assert notifications.sweep_reminders() == 4
    written = {(m.rental_id, m.kind, m.channel) for m in _messages() if m.status is S.QUEUED}
    assert written == {(week.id, MessageKind.REMINDER, Channel.EMAIL),
                       (three.id, MessageKind.REMINDER, Channel.SMS),
                       (today.id, MessageKind.REMINDER, Channel.WHATSAPP),
                       (late.id, MessageKind.OVERDUE, Channel.SMS)}
    assert far.id not in {m.rental_id for m in _messages() if m.status is S.QUEUED}
    # A second run, however soon, writes nothing new.
    assert notifications.sweep_reminders() == 0
    notifications.send_due()
    run_worker()
    assert len(smtp.mailbox.messages) == 1 and "expires on" in smtp.mailbox.messages[0]["Subject"]
    # Delivered by the worker in whatever order it takes them.
    assert sorted(entry["msisdn"] for entry in sms.accepted) == ["8801711000012", "8801711000014"]
    assert [entry["template"] for entry in whatsapp.sent] == ["locker_expiry_reminder"]
    assert notifications.sweep_reminders() == 0


@pytest.mark.databases("sqlite")
def test_reminders_respect_opt_outs_renewals_and_quiet_hours(desk, sms):
    from app.services import settings

    configure(sms=sms)
    three = _rental_ending_in(desk, 3, phone="+8801711000021")
    opted_out = _rental_ending_in(desk, 3, phone="+8801711000022")
    notifications.set_consent(opted_out.client_id, Channel.SMS, False, source="desk",
                              by_user_id=None)
    renewed = _rental_ending_in(desk, 3, phone="+8801711000023")
    rentals.renew(renewed.id, by_user_id=None)
    settings.put("quiet_hours", "00:00-23:59")
    db.session.commit()
    assert notifications.sweep_reminders() == 1
    [message] = [m for m in _messages() if m.status is S.QUEUED and m.kind is MessageKind.REMINDER]
    assert message.rental_id == three.id and message.respects_quiet_hours
    assert message.due_at > utcnow()  # waits for the end of the quiet hours
    run_worker()
    assert notifications.send_due() == 0 and not sms.accepted


@pytest.mark.databases("sqlite")
def test_a_client_who_says_no_is_never_messaged_even_what_was_waiting(desk, sms):
    configure()  # SMS not set up yet: the welcome waits
    _user, client = _register(desk, Language.ENGLISH, email=None, whatsapp=False)
    [waiting] = _messages()
    notifications.set_consent(client.id, Channel.SMS, False, source="desk", by_user_id=None)
    configure(sms=sms)
    notifications.send_due()
    run_worker()
    db.session.expire_all()
    assert db.session.get(Notification, waiting.id).status is S.CANCELLED and not sms.accepted
    from app.models import ConsentChange

    changes = db.session.execute(db.select(ConsentChange.channel, ConsentChange.opted_in,
                                           ConsentChange.source)
                                 .order_by(ConsentChange.id)).all()
    assert (Channel.SMS, True, "registration") in changes
    assert changes[-1] == (Channel.SMS, False, "desk")


@pytest.mark.databases("sqlite")
def test_waitlist_offer_reservation_lapse_and_abandonment_are_told(desk, sms):
    from app.models import Locker
    from app.models import LockerStatus
    from app.services import waitlist

    configure(sms=sms)
    user, client = _register(desk, Language.BENGALI, email=None, whatsapp=False)
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.WOMEN)
    locker = desk.make_locker(zone=zone, number="W-007", status=LockerStatus.MAINTENANCE)
    waitlist.join(client.id, zone.id, by_user_id=user.id)
    db.session.get(Locker, locker.id).status = LockerStatus.AVAILABLE
    db.session.commit()
    assert len(waitlist.offer_free_lockers()) == 1
    later = utcnow() + timedelta(days=2)
    assert rentals.lapse_reservations(now=later) == 1
    other = desk.make_locker(zone=zone, number="W-008")
    rental = rentals.assign(other.id, client.id, RentalTerm.DAILY, by_user_id=user.id)
    rentals.expire_due(now=utcnow() + timedelta(days=2))
    rentals.abandon_overdue(now=utcnow() + timedelta(days=30))
    run_worker()
    kinds = [m.kind for m in _messages() if m.status is S.SENT]
    assert MessageKind.WAITLIST_OFFER in kinds and MessageKind.RESERVATION_LAPSED in kinds
    assert MessageKind.ABANDONED in kinds and MessageKind.ASSIGNMENT in kinds
    texts = " ".join(entry["sms"] for entry in sms.accepted)
    assert "W-007" in texts and "রিজার্ভ" in texts and "W-008" in texts
    assert rental.id in {m.rental_id for m in _messages()}


@pytest.mark.databases("sqlite")
def test_managers_get_one_morning_digest_in_their_language(desk, smtp, sms):
    """Expiring today, overdue, lapsing and failed messages, to each manager once, in Bengali."""
    from app.services import digest

    configure(smtp, sms)
    _rental_ending_in(desk, 0, phone="+8801711000031")
    late = _rental_ending_in(desk, -2, phone="+8801711000032")
    late.status = RentalStatus.EXPIRED
    db.session.commit()
    failed = _messages()[0]
    failed.status, failed.error = S.FAILED, "SSL Wireless 4026: blocked"
    db.session.commit()
    desk.make_user("Manager", email="boss@gym.example", locale="bn")
    desk.make_user("Front Desk", email="desk2@gym.example")
    assert digest.send_all() == 1
    assert digest.send_all() == 0  # once a day, however often the job runs
    [mail] = [m for m in smtp.mailbox.messages if m["To"] == "boss@gym.example"]
    text = mail.get_body().get_content()
    assert "R-000" in text and "R-002" in text and "4026" in text
    assert "আজ" in mail["Subject"] or "লকার ডেস্ক" in mail["Subject"]


@pytest.mark.databases("sqlite")  # filling templates is not the database's business
@pytest.mark.parametrize("language", [Language.ENGLISH, Language.BENGALI])
def test_every_kind_of_message_goes_out_on_every_channel_in_both_languages(desk, smtp, sms,
                                                                           whatsapp, language):
    """The shipped templates of all nine kinds, filled in and accepted by all three providers.

    The WhatsApp server knows each template by name, language and parameter count, as
    Meta's approval does, so a template whose placeholders drift from it fails here.
    """
    from app.models import Payment

    configure(smtp, sms, whatsapp)
    user, client = _register(desk, language)
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.WOMEN)
    locker = desk.make_locker(zone=zone, number="W-100")
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id,
                            pay_now=PaymentMethod.CASH)
    payment = db.session.execute(db.select(Payment)).scalar_one()
    # An unpaid invoice for the payment link, with a gateway set up (never called here).
    owed = rentals.assign(desk.make_locker(zone=zone, number="W-101").id, client.id,
                          RentalTerm.MONTHLY, by_user_id=user.id)
    owed_invoice_id = billing.invoice_of(owed.id).id
    for key in ("bkash_app_key", "bkash_app_secret", "bkash_username", "bkash_password"):
        settings.put(key, "set")
    for message in _messages():
        message.status = S.CANCELLED
    db.session.commit()
    deadline = (utcnow() + timedelta(hours=20)).isoformat(timespec="seconds")
    for kind in MessageKind:
        if kind is MessageKind.CAMPAIGN:
            continue
        notifications.write(kind, client.id, dedupe=f"matrix:{kind.name}", rental_id=rental.id,
                            payment_id=payment.id if kind is MessageKind.RECEIPT else None,
                            invoice_id=(owed_invoice_id if kind is MessageKind.PAYMENT_LINK
                                        else payment.invoice_id),
                            facts={"days": 3, "deadline": deadline})
    db.session.commit()
    notifications.send_due()
    run_worker()
    matrix = [m for m in _messages() if m.dedupe_key.startswith("matrix:")]
    assert len(matrix) == 9 * 3
    assert {m.status for m in matrix} == {S.SENT}, [(m.kind, m.channel, m.error) for m in matrix]
    assert len(smtp.mailbox.messages) == 9 and len(sms.accepted) == 9
    assert {entry["template"] for entry in whatsapp.sent} == {
        "locker_welcome", "locker_assigned", "locker_receipt", "locker_expiry_reminder",
        "locker_overdue", "locker_reservation_lapsed", "locker_waitlist_offer",
        "locker_abandoned", "locker_payment_link"}
    assert all(entry["language"] == language.value for entry in whatsapp.sent)
    bengali = language is Language.BENGALI
    for text in [entry["sms"] for entry in sms.accepted] + [m["Subject"] for m in
                                                            smtp.mailbox.messages]:
        assert any("\u0985" <= char <= "\u09b9" for char in text) is bengali, text
    assert all("{{" not in m.body for m in matrix)
    if not bengali:  # an English SMS stays 7-bit, amounts included
        assert {entry["sms_type"] for entry in sms.accepted} == {"EN"}


@pytest.mark.databases("sqlite")
@pytest.mark.parametrize(("dhaka", "waits_until"), [
    ("22:30", "08:00 next day"), ("03:00", "08:00"), ("08:00", None), ("12:00", None),
    ("20:59", None), ("21:00", "08:00 next day"),
])
def test_quiet_hours_cross_midnight_in_dhaka_time(app, dhaka, waits_until):
    from datetime import datetime

    with app.app_context():
        hour, minute = map(int, dhaka.split(":"))
        # 2026-12-02 in Dhaka (UTC+6), stored as naive UTC.
        moment = datetime(2026, 12, 2, hour, minute) - timedelta(hours=6)
        due = notifications.after_quiet_hours(moment)
        if waits_until is None:
            assert due == moment
        else:
            day = 3 if "next day" in waits_until else 2
            assert due == datetime(2026, 12, day, 8, 0) - timedelta(hours=6)


def _press_remind(rental_id, user_id):
    try:
        notifications.remind_now(rental_id, by_user_id=user_id)
    except notifications.NothingToSend as exc:
        return f"refused: {exc.message}"
    return "sent"


@pytest.mark.race
def test_send_reminder_now_twice_from_two_tabs_sends_once(desk, sms):
    """Two presses at the same moment: the rental's lock lets one through, the other is told."""
    from tests.races import race

    configure(sms=sms)
    rental = _rental_ending_in(desk, 5, phone="+8801711000041")
    user = desk.make_user("Front Desk")
    outcomes = race(desk.app, _press_remind, [(rental.id, user.id), (rental.id, user.id)])
    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["refused", "sent"], outcomes
    assert any("not sent twice" in outcome for outcome in outcomes)
    notifications.send_due()
    run_worker()
    assert len([e for e in sms.accepted if e["msisdn"] == "8801711000041"]) == 1


@pytest.mark.databases("sqlite")
def test_desk_actions_that_write_no_message_enqueue_no_job(desk, sms):
    """A client reached on no channel: assigning and paying put nothing on the queue."""
    from app.extensions import rq

    configure(sms=sms)
    user, client = _register(desk, Language.ENGLISH, email=None, whatsapp=False)
    client.opt_in_sms = False
    db.session.commit()
    queue = rq.queue("notifications")
    queue.empty()
    locker = desk.make_locker(zone=desk.make_zone(branch=client.branch, kind=ZoneKind.WOMEN))
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id,
                   pay_now=PaymentMethod.CASH)
    assert queue.count == 0
    # The same for a client reached by SMS enqueues the hand-out.
    other = desk.make_client(branch=client.branch, phone="+8801711000077", opt_in_sms=True,
                             gender=Gender.FEMALE)
    second = desk.make_locker(zone=locker.zone)
    rentals.assign(second.id, other.id, RentalTerm.MONTHLY, by_user_id=user.id)
    assert queue.count >= 1
