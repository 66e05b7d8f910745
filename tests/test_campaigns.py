"""Campaigns: an audience chosen by filters, previewed with recipients and cost, sent once (N5)."""

import time
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import ActivityLog
from app.models import Campaign
from app.models import CampaignStatus
from app.models import Channel
from app.models import Gender
from app.models import Language
from app.models import MessageStatus
from app.models import Notification
from app.models import RentalTerm
from app.models import ZoneKind
from app.models import utcnow
from app.services import campaigns
from app.services import clients as client_service
from app.services import notifications
from app.services import rentals
from tests.messaging import configure
from tests.messaging import run_worker

S = MessageStatus


def _women_expiring(desk, count=3):
    """A branch with a women's zone: `count` clients whose rentals end within the month, and more."""
    user = desk.make_user("Manager")
    branch = desk.make_branch()
    women = desk.make_zone(branch=branch, kind=ZoneKind.WOMEN)
    men = desk.make_zone(branch=branch, kind=ZoneKind.MEN)
    people = []
    for n in range(count + 3):
        in_women = n != count  # one man elsewhere
        client = client_service.register_client(
            branch_id=branch.id, full_name=f"Client {n}", phone=f"+88019110000{n:02d}",
            by_user_id=user.id, gender=Gender.FEMALE if in_women else Gender.MALE,
            preferred_language=Language.BENGALI if n % 2 else Language.ENGLISH,
            opt_in_sms=n != count + 1)  # one said no to SMS
        locker = desk.make_locker(zone=women if in_women else men)
        rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=user.id)
        if n == count + 2:
            rental.ends_at = utcnow() + timedelta(days=90)  # not expiring this month
        people.append(client)
    db.session.execute(db.update(Notification).values(status=S.CANCELLED))
    db.session.commit()
    return user, branch, women


def _draft(user, branch, zone, **overrides):
    data = {"name": "Eid renewals", "channel": Channel.SMS, "branch_id": branch.id,
            "zone_id": zone.id, "expiring_within_days": 31, "holders_only": True,
            "body_bn": "{{ client_name }}, ঈদ মোবারক! লকার {{ locker_number }} নবায়ন করুন।",
            "body_en": "{{ client_name }}, Eid Mubarak! Renew locker {{ locker_number }}.",
            "per_minute": 600, **overrides}
    return campaigns.save_draft(data, by_user_id=user.id)


def test_a_campaign_reaches_the_filtered_audience_that_said_yes_once(desk, sms):
    configure(sms=sms)
    user, branch, women = _women_expiring(desk)
    campaign = _draft(user, branch, women)
    preview = campaigns.preview(campaign.id)
    assert preview.recipients == 3  # not the man, not the one who said no, not the late one
    assert preview.parts == 2 and preview.cost_poisha == 3 * 2 * 35
    campaigns.send(campaign.id, by_user_id=user.id)
    with pytest.raises(campaigns.CampaignError):
        campaigns.send(campaign.id, by_user_id=user.id)  # a second press sends nothing
    time.sleep(0.5)  # 600 a minute: the third is due 0.2 s after the first
    notifications.send_due()
    run_worker()
    progress = campaigns.progress(campaign.id)
    assert (progress.total, progress.done, progress.success_rate) == (3, 3, 100.0)
    assert progress.cost_poisha == 35 * sum(notifications.sms_channel.segments(entry["sms"])[1]
                                            for entry in sms.accepted)
    assert len(sms.accepted) == 3
    texts = sorted(entry["sms"] for entry in sms.accepted)
    assert any("ঈদ মোবারক" in text for text in texts) and any("Eid Mubarak" in text for text in texts)
    assert all("T-" in text for text in texts)  # the locker each client holds
    logged = db.session.execute(db.select(ActivityLog).where(
        ActivityLog.model == "Campaign")).scalars().all()
    assert any("campaign sent" in (entry.summary or "") for entry in logged)


def test_a_campaign_is_sent_under_its_rate_limit(desk, sms):
    configure(sms=sms)
    user, branch, women = _women_expiring(desk, count=4)
    campaign = _draft(user, branch, women, per_minute=2)
    campaigns.send(campaign.id, by_user_id=user.id)
    due = sorted(m.due_at for m in db.session.execute(db.select(Notification).where(
        Notification.campaign_id == campaign.id)).scalars())
    assert len(due) == 4 and due[-1] - due[0] >= timedelta(seconds=89)
    notifications.send_due()
    run_worker()
    assert len(sms.accepted) == 1  # the rest wait for their turn, 30 s apart
    assert campaigns.progress(campaign.id).waiting == 3
    campaigns.cancel(campaign.id, by_user_id=user.id)
    assert campaigns.progress(campaign.id).waiting == 0


def test_bad_words_or_whatsapp_are_refused_and_nothing_is_saved(desk):
    user, branch, women = _women_expiring(desk, count=1)
    with pytest.raises(campaigns.CampaignError, match="Unknown placeholder"):
        _draft(user, branch, women, body_en="Hi {{ first_name }}")
    with pytest.raises(campaigns.CampaignError, match="SMS or email"):
        _draft(user, branch, women, channel=Channel.WHATSAPP)
    assert db.session.execute(db.select(Campaign)).first() is None


@pytest.mark.databases("sqlite")
def test_a_manager_drafts_previews_and_sends_from_the_screens(desk, sms):
    configure(sms=sms)
    _user, branch, women = _women_expiring(desk)
    manager = desk.login_as("Manager")
    created = manager.post("/admin/campaigns/new/", data={
        "name": "Eid", "channel": "SMS", "branch": str(branch.id), "zone": str(women.id),
        "expiring_within_days": "31", "holders_only": "y", "per_minute": "600",
        "body_bn": "{{ client_name }} ঈদ মোবারক", "body_en": "{{ client_name }} Eid Mubarak"})
    assert created.status_code == 302, created.get_data(as_text=True)[-2000:]
    campaign = db.session.execute(db.select(Campaign)).scalar_one()
    page = manager.get(f"/admin/campaigns/details/?id={campaign.id}").get_data(as_text=True)
    assert "Reaches 3 client(s)" in page and "Estimated cost" in page
    front_desk = desk.login_as("Front Desk")
    assert front_desk.post(f"/admin/campaigns/send/?id={campaign.id}").status_code == 403
    assert front_desk.get("/admin/campaigns/new/").status_code == 403
    sent = manager.post(f"/admin/campaigns/send/?id={campaign.id}")
    assert sent.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING
    time.sleep(0.5)
    notifications.send_due()
    run_worker()
    page = manager.get(f"/admin/campaigns/details/?id={campaign.id}").get_data(as_text=True)
    assert "Success rate" in page and len(sms.accepted) == 3
    bengali = desk.login_as("Manager", locale="bn")
    assert "ক্যাম্পেইন" in bengali.get(f"/admin/campaigns/details/?id={campaign.id}").get_data(
        as_text=True)
