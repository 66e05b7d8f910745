"""Campaigns: one message to a chosen audience, sent once, under a rate limit (SPEC N5).

A campaign is drafted with its words (Bengali and English, the same
placeholders as the templates) and its audience: clients of a branch, holding
a locker (in a zone), whose rental ends within so many days. Before sending,
staff see how many it reaches and what it will cost. Sending writes one
Notification per client who said yes to the channel, spaced `per_minute`
apart, and from then on each is delivered, logged and retried like any other
message; the campaign's progress is read from them.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.integrations import sms
from app.models import Campaign
from app.models import CampaignStatus
from app.models import Channel
from app.models import Client
from app.models import ClientStatus
from app.models import Language
from app.models import Locker
from app.models import MessageKind
from app.models import MessageStatus
from app.models import Notification
from app.models import Rental
from app.models import RentalStatus
from app.models import utcnow
from app.services import audit
from app.services import notifications
from app.services import settings
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.transactions import desk_action

CHANNELS = (Channel.SMS, Channel.EMAIL)  # WhatsApp allows only templates Meta approved
SAMPLE_SIZE = 20
MAX_PER_MINUTE = 600
S = MessageStatus
DONE = (S.SENT, S.DELIVERED, S.READ)


class CampaignError(Refusal):
    """A campaign that cannot be saved or sent; the message says why."""


@desk_action
def save_draft(data, *, by_user_id, campaign_id=None):
    """Create (or, while a draft, change) a campaign; its words are checked like a template's."""
    campaign = db.session.get(Campaign, campaign_id, with_for_update=True) if campaign_id \
        else Campaign(created_by_id=by_user_id)
    if campaign is None:
        raise CampaignError(_l("That campaign does not exist."))
    if campaign.status is not None and campaign.status is not CampaignStatus.DRAFT:
        raise CampaignError(_l("A campaign that was sent cannot be changed."))
    name = (data.get("name") or "").strip()
    if not name:
        raise CampaignError(_l("Name the campaign."), "name")
    channel = data.get("channel")
    channel = channel if isinstance(channel, Channel) else Channel.__members__.get(str(channel))
    if channel not in CHANNELS:
        raise CampaignError(_l("A campaign goes by SMS or email."), "channel")
    branch_id = data.get("branch_id")
    if not may_act_on_branch(by_user_id, branch_id):
        raise CampaignError(_l("You may only send campaigns to your own branch."), "branch")
    for field in ("body_bn", "body_en"):
        try:
            notifications.check_template(data.get(field), channel,
                                         data.get("subject") if channel is Channel.EMAIL else "")
        except notifications.TemplateError as exc:
            raise CampaignError(exc.message, field) from exc
    per_minute = int(data.get("per_minute") or 60)
    if not 1 <= per_minute <= MAX_PER_MINUTE:
        raise CampaignError(_l("Send between 1 and %(most)d messages a minute.",
                               most=MAX_PER_MINUTE), "per_minute")
    days = data.get("expiring_within_days")
    if days is not None and int(days) < 0:
        raise CampaignError(_l("Days must be 0 or more."), "expiring_within_days")
    campaign.name, campaign.channel, campaign.branch_id = name[:120], channel, branch_id
    campaign.subject = (data.get("subject") or "").strip() or None
    campaign.body_bn, campaign.body_en = data["body_bn"].strip(), data["body_en"].strip()
    campaign.zone_id = data.get("zone_id")
    campaign.expiring_within_days = int(days) if days is not None else None
    campaign.holders_only = bool(data.get("holders_only", True)) or days is not None \
        or campaign.zone_id is not None
    campaign.per_minute = per_minute
    campaign.status = CampaignStatus.DRAFT
    db.session.add(campaign)
    return campaign


def _audience(campaign):
    """SELECT of (client id, language, rental id) reached: opted in, with an address, active.

    With holders only, the rental is the client's (first-ending) matching one, so the
    message can name its locker and expiry.
    """
    address = Client.email if campaign.channel is Channel.EMAIL else Client.phone
    rental = None
    if campaign.holders_only:
        holding = sa.select(Rental.id).where(
            Rental.client_id == Client.id,
            Rental.status.in_((RentalStatus.ACTIVE, RentalStatus.EXPIRED)))
        if campaign.zone_id is not None:
            holding = holding.join(Locker, Locker.id == Rental.locker_id).where(
                Locker.zone_id == campaign.zone_id)
        if campaign.expiring_within_days is not None:
            holding = holding.where(Rental.ends_at <= utcnow() + timedelta(
                days=campaign.expiring_within_days))
        rental = holding.order_by(Rental.ends_at, Rental.id).limit(1).correlate(Client) \
            .scalar_subquery()
    query = (sa.select(Client.id, Client.preferred_language,
                       rental.label("rental_id") if rental is not None
                       else sa.null().label("rental_id"))
             .where(Client.status == ClientStatus.ACTIVE,
                    notifications.OPT_IN[campaign.channel].is_(True),
                    address.is_not(None), address != ""))
    if campaign.branch_id is not None:
        query = query.where(Client.branch_id == campaign.branch_id)
    if rental is not None:
        query = query.where(rental.is_not(None))
    return query.order_by(Client.id)


@dataclass
class Preview:
    """Who a campaign reaches and what it costs, before it is sent."""

    recipients: int
    sample: list
    parts: int
    cost_poisha: int


def preview(campaign_id):
    """Recipients (a count and the first names), SMS parts and the estimated cost."""
    campaign = db.session.get(Campaign, campaign_id)
    audience = _audience(campaign).subquery()
    count = db.session.execute(sa.select(sa.func.count()).select_from(audience)).scalar_one()
    # Two steps: MariaDB takes no LIMIT inside IN (…).
    first = db.session.execute(sa.select(audience.c.id).limit(SAMPLE_SIZE)).scalars().all()
    sample = db.session.execute(sa.select(Client).where(Client.id.in_(first))
                                .order_by(Client.full_name)).scalars().all()
    parts = 1
    if campaign.channel is Channel.SMS:
        longest = max((campaign.body_bn, campaign.body_en), key=len)
        # Placeholders filled with long-ish sample values: an estimate that errs high.
        text = notifications.render(longest, {name: "x" * 20 for name in notifications.PLACEHOLDERS})
        parts = sms.segments(text)[1]
        if any(ord(char) > 127 for char in campaign.body_bn):
            parts = max(parts, sms.segments(
                notifications.render(campaign.body_bn, {name: "ক" * 20 for name
                                                        in notifications.PLACEHOLDERS}))[1])
    cost = count * parts * settings.get("sms_cost_poisha") if campaign.channel is Channel.SMS \
        else 0
    return Preview(recipients=count, sample=sample, parts=parts, cost_poisha=cost)


@desk_action
def send(campaign_id, *, by_user_id):
    """Send a drafted campaign now: one message per client reached, `per_minute` apart."""
    campaign = db.session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise CampaignError(_l("That campaign does not exist."))
    if campaign.status is not CampaignStatus.DRAFT:
        raise CampaignError(_l("This campaign was sent already."))
    if not may_act_on_branch(by_user_id, campaign.branch_id):
        raise CampaignError(_l("You may only send campaigns to your own branch."))
    start = notifications.after_quiet_hours(utcnow())
    rows = db.session.execute(_audience(campaign)).all()
    values = [{"dedupe_key": f"campaign:{campaign.id}:{client_id}",
               "kind": MessageKind.CAMPAIGN.name, "channel": campaign.channel.name,
               "language": (language or Language.BENGALI).name,
               "branch_id": campaign.branch_id, "client_id": client_id,
               "campaign_id": campaign.id, "rental_id": rental_id, "respects_quiet_hours": True,
               "status": S.QUEUED.name, "created_at": utcnow(), "attempts": 0,
               "by_user_id": by_user_id,
               "due_at": start + timedelta(seconds=60 * n // campaign.per_minute)}
              for n, (client_id, language, rental_id) in enumerate(rows)]
    campaign.status = CampaignStatus.SENDING
    campaign.recipients = len(values)
    campaign.started_at = utcnow()
    campaign.started_by_id = by_user_id
    db.session.flush()
    notifications.insert_ignoring_duplicates(values, commit=False)
    audit.record(audit.ActivityAction.UPDATE, model="Campaign", object_id=campaign.id,
                 branch_id=campaign.branch_id,
                 summary=f"campaign sent: {campaign.name} to {len(values)} client(s)")
    return campaign


@desk_action
def cancel(campaign_id, *, by_user_id):
    """Stop a campaign: what has not gone yet never goes."""
    campaign = db.session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.status is CampaignStatus.CANCELLED:
        raise CampaignError(_l("This campaign cannot be cancelled."))
    campaign.status = CampaignStatus.CANCELLED
    db.session.execute(sa.update(Notification).where(
        Notification.campaign_id == campaign.id, Notification.status == S.QUEUED).values(
        status=S.CANCELLED, error="The campaign was cancelled.").execution_options(
        synchronize_session=False))
    return campaign


@dataclass
class Progress:
    """How far a campaign has got."""

    total: int
    by_status: dict
    done: int
    failed: int
    waiting: int
    cost_poisha: int

    @property
    def success_rate(self):
        """Delivered to the provider, out of those whose fate is known (0–100), or None."""
        settled = self.done + self.failed
        return round(100 * self.done / settled, 1) if settled else None


def progress(campaign_id):
    """Counts by status, the success rate and the cost so far."""
    rows = db.session.execute(
        sa.select(Notification.status, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(Notification.cost_poisha), 0))
        .where(Notification.campaign_id == campaign_id).group_by(Notification.status)).all()
    by_status = {status: count for status, count, _cost in rows}
    return Progress(total=sum(by_status.values()), by_status=by_status,
                    done=sum(by_status.get(status, 0) for status in DONE),
                    failed=by_status.get(S.FAILED, 0) + by_status.get(S.EXPIRED, 0),
                    waiting=by_status.get(S.QUEUED, 0) + by_status.get(S.SENDING, 0),
                    cost_poisha=int(sum(cost for _status, _count, cost in rows)))
