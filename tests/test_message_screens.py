"""The message screens: templates with a preview, the delivery log, the desk's buttons (SPEC N1–N5).

Each by the role that may, refused to the roles that may not, in Bengali and
English, and every change in the activity log.
"""

import pytest

from app.extensions import db
from app.models import ActivityLog
from app.models import Channel
from app.models import ConsentChange
from app.models import Language
from app.models import MessageKind
from app.models import MessageStatus
from app.models import MessageTemplate
from app.models import Notification
from app.models import Setting
from app.services import clients as client_service
from app.services import message_templates
from tests.messaging import configure
from tests.messaging import run_worker

S = MessageStatus
pytestmark = pytest.mark.databases("sqlite")


def _template(kind, channel, language):
    return db.session.execute(db.select(MessageTemplate).where(
        MessageTemplate.kind == kind, MessageTemplate.channel == channel,
        MessageTemplate.language == language)).scalar_one()


def _client(desk, **fields):
    user = desk.make_user("Front Desk")
    fields.setdefault("email", "r@example.com")
    return client_service.register_client(
        branch_id=desk.make_branch().id, full_name="Rahima Begum", phone="+8801811000001",
        by_user_id=user.id, preferred_language=Language.BENGALI, **fields)


def test_a_manager_edits_a_template_and_an_unknown_placeholder_is_refused(desk):
    message_templates.install_defaults()
    template = _template(MessageKind.REMINDER, Channel.SMS, Language.ENGLISH)
    browser = desk.login_as("Manager")
    url = f"/admin/message_templates/edit/?id={template.id}"
    page = browser.get(url)
    assert page.status_code == 200 and "{{ locker_number }}" in page.get_data(as_text=True)
    refused = browser.post(url, data={"body": "Locker {{ locker_no }} expires", "is_active": "y"})
    assert "Unknown placeholder: locker_no" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert "locker_no " not in _template(MessageKind.REMINDER, Channel.SMS, Language.ENGLISH).body
    saved = browser.post(url, data={"body": "Locker {{ locker_number }} ends {{ expiry_date }}",
                                    "is_active": "y"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert _template(MessageKind.REMINDER, Channel.SMS, Language.ENGLISH).body == \
        "Locker {{ locker_number }} ends {{ expiry_date }}"
    logged = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "MessageTemplate", ActivityLog.object_id == str(template.id))
        .order_by(ActivityLog.id)).scalars().all()
    assert logged and logged[-1].user_id == browser.user.id
    assert logged[-1].changes["body"][1] == "Locker {{ locker_number }} ends {{ expiry_date }}"
    # Logic smuggled into the sandbox is refused too.
    attack = browser.post(url, data={"body": "{{ ''.__class__.__mro__ }}", "is_active": "y"})
    assert attack.status_code == 200 and "cannot be filled in" in attack.get_data(as_text=True)


def test_a_whatsapp_template_takes_plain_placeholders_only(desk):
    message_templates.install_defaults()
    template = _template(MessageKind.RECEIPT, Channel.WHATSAPP, Language.BENGALI)
    browser = desk.login_as("Manager")
    page = browser.post(f"/admin/message_templates/edit/?id={template.id}", data={
        "body": "{% if amount %}{{ amount }}{% endif %}", "whatsapp_name": "locker_receipt",
        "is_active": "y"})
    assert "plain placeholders only" in page.get_data(as_text=True)


def test_the_preview_fills_the_draft_for_a_client_and_counts_sms_parts(desk):
    message_templates.install_defaults()
    client = _client(desk)
    template = _template(MessageKind.WELCOME, Channel.SMS, Language.BENGALI)
    browser = desk.login_as("Manager")
    answer = browser.post(f"/admin/message_templates/preview/?id={template.id}", data={
        "body": "স্বাগতম {{ client_name }}! " * 4, "client": "01811-000001"})
    result = answer.get_json()
    assert answer.status_code == 200, result
    assert result["body"].startswith("স্বাগতম Rahima Begum!")
    assert result["encoding"] == "UCS-2" and result["parts"] == 2
    assert result["characters"] == len(result["body"])
    # A client without a locker yet: the locker is shown by an example.
    example = browser.post(f"/admin/message_templates/preview/?id={template.id}", data={
        "body": "লকার {{ locker_number }}", "client": "01811-000001"}).get_json()
    assert example["body"] == "লকার M-014"
    unknown = browser.post(f"/admin/message_templates/preview/?id={template.id}", data={
        "body": "{{ nope }}", "client": str(client.id)})
    assert unknown.status_code == 400 and "Unknown placeholder" in unknown.get_json()["error"]


@pytest.mark.parametrize(("role", "edit", "log", "retry"), [
    ("Front Desk", 403, 200, True), ("Accountant", 403, 200, False), ("Manager", 200, 200, True),
])
def test_who_may_edit_templates_read_the_log_and_send_again(desk, role, edit, log, retry):
    message_templates.install_defaults()
    template = _template(MessageKind.WELCOME, Channel.EMAIL, Language.ENGLISH)
    browser = desk.login_as(role)
    assert browser.get(f"/admin/message_templates/edit/?id={template.id}").status_code == edit
    assert browser.post(f"/admin/message_templates/preview/?id={template.id}",
                        data={"body": "x", "client": "1"}).status_code in (
        (403,) if edit == 403 else (400, 200))
    assert browser.get("/admin/notifications/").status_code == log
    _client(desk)
    failed = db.session.execute(db.select(Notification)).scalars().first()
    failed.status = S.FAILED
    failed.error = "SSL Wireless 4026: blocked"
    db.session.commit()
    browser.post("/admin/notifications/action/", data={"action": "retry",
                                                       "rowid": str(failed.id)})
    db.session.expire_all()
    status = db.session.get(Notification, failed.id).status
    assert status is (S.QUEUED if retry else S.FAILED)


def test_send_again_refuses_a_message_that_was_sent(desk, sms):
    configure(sms=sms)
    _client(desk)
    run_worker()
    [sent] = [m for m in db.session.execute(db.select(Notification)).scalars()
              if m.status is S.SENT]
    browser = desk.login_as("Manager")
    page = browser.post("/admin/notifications/action/", data={"action": "retry",
                                                              "rowid": str(sent.id)},
                        follow_redirects=True)
    assert "is not sent again" in page.get_data(as_text=True)
    assert len(sms.accepted) == 1


def test_the_profile_sends_a_reminder_now_and_records_a_consent_change(desk, sms):
    from app.models import PaymentMethod
    from app.models import RentalTerm
    from app.models import ZoneKind
    from app.services import rentals

    configure(sms=sms)
    client = _client(desk, gender=None)
    locker = desk.make_locker(zone=desk.make_zone(branch=client.branch, kind=ZoneKind.FAMILY))
    user = desk.make_user("Front Desk", branch=client.branch)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id,
                            pay_now=PaymentMethod.CASH)
    run_worker()
    before = len(sms.accepted)
    browser, _response = desk.login(user.email)
    profile = browser.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert f'id="remind-{rental.id}"' in profile and 'id="consent-SMS"' in profile
    back = browser.post("/admin/messages/remind/", data={
        "rental_id": str(rental.id), "next": f"/admin/client_profile/?id={client.id}"})
    assert back.status_code == 302 and back.location.endswith(f"?id={client.id}")
    run_worker()
    assert len(sms.accepted) == before + 1 and "মেয়াদ" in sms.accepted[-1]["sms"]
    for channel in ("SMS", "EMAIL"):
        browser.post("/admin/messages/consent/", data={"client_id": str(client.id),
                                                       "channel": channel, "opted_in": "0"})
    change = db.session.execute(db.select(ConsentChange).order_by(
        ConsentChange.id.desc())).scalars().first()
    assert (change.channel, change.opted_in, change.source, change.changed_by_id) == (
        Channel.EMAIL, False, "desk", user.id)
    refused = browser.post("/admin/messages/remind/", data={"rental_id": str(rental.id)},
                           follow_redirects=True)
    assert "cannot be reached on any channel" in refused.get_data(as_text=True)
    # An accountant may read the log but not send anything.
    accountant = desk.login_as("Accountant")
    assert accountant.post("/admin/messages/remind/",
                           data={"rental_id": str(rental.id)}).status_code == 403
    assert accountant.post("/admin/messages/consent/", data={
        "client_id": str(client.id), "channel": "SMS", "opted_in": "1"}).status_code == 403


def test_the_profile_and_log_read_in_bengali(desk, sms):
    configure(sms=sms)
    client = _client(desk)
    run_worker()
    browser = desk.login_as("Manager", locale="bn")
    profile = browser.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert "বার্তা" in profile or "মেসেজ" in profile
    log = browser.get("/admin/notifications/").get_data(as_text=True)
    assert "এসএমএস" in log or "SMS" in log


def test_secrets_in_the_settings_are_never_shown_back(desk):
    from app.services import settings

    settings.put("sms_api_token", "live-token-1234567890abcd")
    db.session.commit()
    stored = db.session.get(Setting, "sms_api_token").value
    assert "live-token" not in stored and stored.startswith("enc:")
    assert settings.get("sms_api_token") == "live-token-1234567890abcd"
    browser = desk.login_as("Super Admin")
    form = browser.get("/admin/settings/sms/").get_data(as_text=True)
    # Only its last characters say which one is set; the field itself is empty.
    assert "live-token" not in form and "abcd" in form
    assert 'name="sms_api_token" type="password" value=""' in form
    # Saving the form empty keeps the secret.
    browser.post("/admin/settings/sms/", data={"sms_api_token": ""})
    db.session.expire_all()
    assert settings.get("sms_api_token") == "live-token-1234567890abcd"
    browser.post("/admin/settings/sms/", data={"sms_api_token": "new-token-0000"})
    db.session.expire_all()
    assert settings.get("sms_api_token") == "new-token-0000"


def test_rotating_the_settings_key_keeps_every_secret_readable(desk, tmp_path):
    from app.services import secret_box
    from app.services import settings

    desk.app.config["SETTINGS_KEYS"] = ""
    desk.app.config["INSTANCE_DIR"] = tmp_path
    settings.put("whatsapp_token", "wa-secret-token")
    db.session.commit()
    before = db.session.get(Setting, "whatsapp_token").value
    assert secret_box.rotate(settings.reseal_secrets) == 1
    db.session.expire_all()
    after = db.session.get(Setting, "whatsapp_token").value
    assert after != before and settings.get("whatsapp_token") == "wa-secret-token"
    assert len((tmp_path / "settings_keys").read_text().split()) == 2


def test_the_background_jobs_page_shows_workers_queues_and_runs_a_failed_job_again(desk):
    from rq import SimpleWorker

    from app.extensions import AppContextJob
    from app.extensions import rq

    rq.queue("notifications").enqueue(_failing_job)
    SimpleWorker([rq.queue("notifications")], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)
    admin = desk.login_as("Super Admin")
    page = admin.get("/admin/queues/").get_data(as_text=True)
    assert "_failing_job" in page and "provider exploded" in page
    assert "No worker is running" in page
    job_id = rq.queue("notifications").failed_job_registry.get_job_ids()[0]
    admin.post("/admin/queues/retry/", data={"queue": "notifications", "job_id": job_id})
    assert rq.queue("notifications").count == 1
    manager = desk.login_as("Manager")
    assert manager.get("/admin/queues/").status_code == 200
    assert manager.post("/admin/queues/retry/", data={"queue": "notifications",
                                                      "job_id": job_id}).status_code == 403
    assert desk.login_as("Front Desk").get("/admin/queues/").status_code == 403
    desk.app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    desk.app.extensions["rq"]["redis"] = None
    assert "Redis is not reachable" in admin.get("/admin/queues/").get_data(as_text=True)


def _failing_job():
    """A job whose provider call blew up."""
    raise RuntimeError("provider exploded")


def test_flask_rotate_settings_key_re_encrypts_the_secrets(desk, tmp_path):
    from app.services import settings

    desk.app.config["SETTINGS_KEYS"] = ""
    desk.app.config["INSTANCE_DIR"] = tmp_path
    settings.put("mail_password", "smtp-password")
    db.session.commit()
    result = desk.app.test_cli_runner().invoke(args=["rotate-settings-key"])
    assert result.exit_code == 0 and "1 secret(s) re-encrypted" in result.output
    db.session.expire_all()
    assert settings.get("mail_password") == "smtp-password"
    desk.app.config["SETTINGS_KEYS"] = "x" * 44
    refused = desk.app.test_cli_runner().invoke(args=["rotate-settings-key"])
    assert refused.exit_code != 0 and "environment" in refused.output


def test_the_clients_list_sends_each_chosen_client_their_reminders(desk, sms):
    from app.models import RentalTerm
    from app.models import ZoneKind
    from app.services import rentals

    configure(sms=sms)
    client = _client(desk, gender=None, email=None)
    user = desk.make_user("Front Desk", branch=client.branch)
    locker = desk.make_locker(zone=desk.make_zone(branch=client.branch, kind=ZoneKind.FAMILY))
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id)
    run_worker()
    before = len(sms.accepted)
    browser, _response = desk.login(user.email)
    page = browser.post("/admin/clients/action/", data={"action": "remind",
                                                       "rowid": str(client.id)},
                        follow_redirects=True)
    assert "Reminders on their way to 1 client(s)" in page.get_data(as_text=True)
    run_worker()
    assert len(sms.accepted) == before + 1
    page = browser.post("/admin/rentals/action/", data={"action": "remind",
                                                       "rowid": str(rental.id)},
                        follow_redirects=True)
    # The same rental again from the rentals list, minutes later: not sent twice.
    assert "it is not sent twice" in page.get_data(as_text=True)
    run_worker()
    assert len(sms.accepted) == before + 1
    other = desk.make_locker(zone=locker.zone)
    second = rentals.assign(other.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id)
    run_worker()
    before = len(sms.accepted)  # the assignment's own message
    accountant = desk.login_as("Accountant")
    accountant.post("/admin/rentals/action/", data={"action": "remind", "rowid": str(second.id)})
    run_worker()
    assert len(sms.accepted) == before  # an accountant may not send messages
    page = browser.post("/admin/rentals/action/", data={"action": "remind",
                                                       "rowid": str(second.id)},
                        follow_redirects=True)
    assert "Reminders on their way for 1 rental(s)" in page.get_data(as_text=True)
    run_worker()
    assert len(sms.accepted) == before + 1
    log = browser.get("/admin/notifications/").get_data(as_text=True)
    assert 'id="channel-states"' in log and "SMS: On" in log and "Email: Off" in log
