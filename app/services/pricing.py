"""Prices, discounts, coupons and VAT: one priced quote with every line explained (SPEC P1).

How a quote is built, in this order:

1. Rent: the most specific PriceRule in force on the quote day (see `find_rule`);
   without one, the settings' price table (settings_price).
2. Discounts: the active DiscountRules that apply to the term or to one of the
   client's tags, in `position` order (then id). If any applicable rule is
   non-stackable, only the first applicable non-stackable rule is used and every
   other rule is dropped; only when every applicable rule is stackable are they
   all used, one after the other, each on the amount left by the previous one.
3. A coupon, on the amount left after the discounts.
4. VAT at settings "vat_rate_percent" on the amount left after the coupon.

Percentages are applied with Decimal and rounded half-up to the poisha. A
discount or coupon takes at most what is left, so no amount goes below 0, and the
total is always exactly the sum of the lines.
"""

import re
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from decimal import ROUND_HALF_UP
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.i18n import local_date
from app.i18n import money
from app.models import Client
from app.models import Coupon
from app.models import CouponKind
from app.models import CouponRedemption
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Locker
from app.models import PriceRule
from app.models import RentalTerm
from app.services import clock
from app.services import settings
from app.services.errors import Refusal
from app.services.money import ascii_digits

FULL_PERCENT_BP = 10_000  # basis points: 10000 = 100 %
_PERCENT = re.compile(r"^(\d+)(?:\.(\d+))?$")


class PricingError(Refusal):
    """A price, discount or coupon the rules refuse; `message` is for the screen."""


@dataclass
class QuoteLine:
    """One explained line: kind is "rent", "discount", "coupon" or "vat"; discounts are negative."""

    kind: str
    description: str
    amount_poisha: int


@dataclass
class Quote:
    """A priced quote; total_poisha is always the sum of the lines' amounts and never negative."""

    lines: list = field(default_factory=list)
    subtotal_poisha: int = 0   # the rent before discounts
    discount_poisha: int = 0   # discounts and coupon together, as a positive amount
    vat_poisha: int = 0
    total_poisha: int = 0
    coupon_id: int | None = None
    locker_id: int | None = None
    client_id: int | None = None
    term: RentalTerm | None = None
    days: int | None = None
    on: date | None = None


def percent_of(amount_poisha, percent_bp):
    """`percent_bp` hundredths of a percent of `amount_poisha`, rounded half-up to the poisha."""
    exact = Decimal(int(amount_poisha)) * Decimal(int(percent_bp)) / Decimal(FULL_PERCENT_BP)
    return int(exact.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def percent_text(percent_bp):
    """Basis points as staff write a percentage: 1000 -> "10", 1250 -> "12.5"."""
    whole, rest = divmod(int(percent_bp), 100)
    return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


def parse_percent(text):
    """A percentage as typed ("10", "12.5", "12,5 %") to basis points, more than 0 and at most 100."""
    raw = ascii_digits(str(text or "").strip()).replace("%", "").replace(" ", "")
    raw = raw.replace(",", ".")
    match = _PERCENT.match(raw)
    if match is None:
        raise PricingError(_l("Enter a percentage, for example 10 or 12.5."))
    if match.group(2) is not None and len(match.group(2)) > 2:
        raise PricingError(_l("A percentage has at most two decimals."))
    percent_bp = int(Decimal(raw) * 100)
    if percent_bp <= 0 or percent_bp > FULL_PERCENT_BP:
        raise PricingError(_l("A percentage must be more than 0 and at most 100."))
    return percent_bp


# --- prices -------------------------------------------------------------------------

def find_rule(locker, term, on):
    """The PriceRule for `locker` and `term` in force on `on`, or None.

    A rule matches when each of its branch, category and zone type is blank or
    equal to the locker's. The most specific one wins: the one with the most
    filled fields, then (on a tie) branch over category over zone type, then the
    latest start date, then the newest rule.
    """
    rules = db.session.execute(
        db.select(PriceRule).where(
            PriceRule.term == term,
            PriceRule.effective_from <= on,
            db.or_(PriceRule.effective_to.is_(None), PriceRule.effective_to >= on),
            db.or_(PriceRule.branch_id.is_(None), PriceRule.branch_id == locker.branch_id),
            db.or_(PriceRule.category_id.is_(None), PriceRule.category_id == locker.category_id),
            db.or_(PriceRule.zone_kind.is_(None), PriceRule.zone_kind == locker.zone.kind),
        ).order_by(PriceRule.id)
    ).scalars().all()

    def specificity(rule):
        filled = (rule.branch_id is not None, rule.category_id is not None,
                  rule.zone_kind is not None)
        return (sum(filled), *filled, rule.effective_from, rule.id)

    return max(rules, key=specificity, default=None)


def term_days(term, days=None):
    """Days in a term: the preset's, or `days` for a custom term (1–730)."""
    if term is RentalTerm.CUSTOM:
        if not days or days < 1 or days > 730:
            raise PricingError(_l("A custom term needs a number of days from 1 to 730."), "days")
        return int(days)
    return term.days


def settings_price(locker, term, days=None):
    """The price in poisha of `locker` for a term from the settings' price table.

    The fallback when no price-matrix rule matches: taka per locker category
    and term; a custom term is priced pro rata from the daily price.
    """
    table = settings.get("rental_prices_taka")
    row = table.get(locker.category.name if locker.category else "*") or table["*"]
    if term is RentalTerm.CUSTOM:
        taka = Decimal(str(row.get("DAILY", table["*"]["DAILY"]))) * term_days(term, days)
    else:
        taka = Decimal(str(row.get(term.name, table["*"][term.name])))
    return int((taka * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _rent_line(locker, term, days, on):
    """The rent in poisha and its explanation."""
    day_count = term_days(term, days)
    term_text = (_("%(days)d days", days=day_count) if term is RentalTerm.CUSTOM
                 else str(term.label))
    rule = find_rule(locker, term, on)
    if rule is None:
        amount = settings_price(locker, term, day_count)
        source = _("standard price from the settings")
    else:
        # A custom term's rule is a price per day.
        amount = rule.price_poisha * (day_count if term is RentalTerm.CUSTOM else 1)
        source = _("price matrix: %(category)s, %(zone)s, from %(start)s",
                   category=rule.category.name if rule.category else _("any category"),
                   zone=rule.zone_kind.label if rule.zone_kind else _("any zone"),
                   start=local_date(rule.effective_from))
    description = _("Rent of locker %(number)s, %(term)s (%(source)s)",
                    number=locker.number, term=term_text, source=source)
    return amount, day_count, description


# --- discounts ----------------------------------------------------------------------

def applicable_discounts(client, term):
    """The discount rules used for `client` renting for `term`, in the order they apply.

    Active rules for the term or for one of the client's tags, by position then id.
    If any of them is non-stackable, only the first non-stackable one is used;
    otherwise (every one stackable) all are used.
    """
    tag_ids = {tag.id for tag in client.tags}
    rules = db.session.execute(
        db.select(DiscountRule).where(DiscountRule.active.is_(True))
        .order_by(DiscountRule.position, DiscountRule.id)
    ).scalars().all()
    applicable = [
        rule for rule in rules
        if (rule.kind is DiscountKind.TERM and rule.term is term)
        or (rule.kind is DiscountKind.TAG and rule.tag_id in tag_ids)
    ]
    exclusive = [rule for rule in applicable if not rule.stackable]
    return exclusive[:1] if exclusive else applicable


# --- coupons ------------------------------------------------------------------------

def find_coupon(code):
    """The coupon with `code` (any case, spaces ignored), or None."""
    wanted = (code or "").strip().upper()
    if not wanted:
        return None
    return db.session.execute(db.select(Coupon).where(Coupon.code == wanted)).scalar_one_or_none()


def _client_redemptions(coupon_id, client_id, *, lock=False):
    """How many times `client_id` has used the coupon (a locking read when `lock`)."""
    query = db.select(CouponRedemption.id).where(CouponRedemption.coupon_id == coupon_id,
                                                 CouponRedemption.client_id == client_id)
    if lock:
        # A locking read sees the latest committed rows even under MariaDB's
        # REPEATABLE READ, whose plain reads keep an older snapshot.
        query = query.with_for_update()
    return len(db.session.execute(query).scalars().all())


def check_coupon(coupon, client_id, on, *, code=None, lock=False):
    """Raise PricingError naming why `coupon` cannot be used by `client_id` on `on`."""
    if coupon is None or not coupon.active:
        raise PricingError(_l("There is no coupon %(code)s.",
                              code=(code or getattr(coupon, "code", "")).strip().upper()))
    if coupon.valid_from is not None and on < coupon.valid_from:
        raise PricingError(_l("Coupon %(code)s is valid only from %(date)s.",
                              code=coupon.code, date=local_date(coupon.valid_from)))
    if coupon.valid_to is not None and on > coupon.valid_to:
        raise PricingError(_l("Coupon %(code)s expired on %(date)s.",
                              code=coupon.code, date=local_date(coupon.valid_to)))
    if coupon.usage_limit is not None and coupon.times_used >= coupon.usage_limit:
        raise PricingError(_l("Coupon %(code)s has been used up.", code=coupon.code))
    if (coupon.per_client_limit is not None
            and _client_redemptions(coupon.id, client_id, lock=lock) >= coupon.per_client_limit):
        raise PricingError(_l("This client has already used coupon %(code)s.", code=coupon.code))


def _coupon_amount(coupon, running):
    if coupon.kind is CouponKind.PERCENT:
        return percent_of(running, coupon.percent_bp or 0)
    return min(int(coupon.amount_poisha or 0), running)


def _coupon_value_text(coupon):
    if coupon.kind is CouponKind.PERCENT:
        return percent_text(coupon.percent_bp or 0) + "%"
    return money(coupon.amount_poisha or 0)


# --- the quote ----------------------------------------------------------------------

def quote(locker_id, client_id, term, *, days=None, coupon_code=None, on=None):
    """Price renting `locker_id` to `client_id` for `term` on day `on` (today at the branch).

    Returns a Quote whose lines are, in order: the rent, each discount, the
    coupon, the VAT. Raises PricingError for an unknown locker or client, a bad
    custom day count or a coupon that cannot be used (the message says why).
    Reads only; nothing is written.
    """
    locker = db.session.get(Locker, locker_id)
    if locker is None:
        raise PricingError(_l("That locker does not exist."))
    client = db.session.get(Client, client_id)
    if client is None:
        raise PricingError(_l("That client does not exist."))
    if not isinstance(term, RentalTerm):
        term = RentalTerm[str(term)]
    on = on or clock.today(locker.branch.timezone)

    rent, day_count, description = _rent_line(locker, term, days, on)
    lines = [QuoteLine("rent", description, rent)]
    running = rent
    for rule in applicable_discounts(client, term):
        amount = min(percent_of(running, rule.percent_bp), running)
        lines.append(QuoteLine("discount", _("Discount %(name)s (%(percent)s%%)", name=rule.name,
                                             percent=percent_text(rule.percent_bp)), -amount))
        running -= amount

    coupon_id = None
    if coupon_code and coupon_code.strip():
        coupon = find_coupon(coupon_code)
        check_coupon(coupon, client.id, on, code=coupon_code)
        amount = _coupon_amount(coupon, running)
        lines.append(QuoteLine("coupon", _("Coupon %(code)s (%(value)s)", code=coupon.code,
                                           value=_coupon_value_text(coupon)), -amount))
        running -= amount
        coupon_id = coupon.id

    vat_rate = int(settings.get("vat_rate_percent"))
    vat = percent_of(running, vat_rate * 100)
    lines.append(QuoteLine("vat", _("VAT %(rate)s%%", rate=vat_rate), vat))

    return Quote(lines=lines, subtotal_poisha=rent, discount_poisha=rent - running,
                 vat_poisha=vat, total_poisha=sum(line.amount_poisha for line in lines),
                 coupon_id=coupon_id, locker_id=locker.id, client_id=client.id, term=term,
                 days=day_count, on=on)


def redeem_coupon(coupon_id, client_id, invoice_id, *, on=None):
    """Use the coupon once for `client_id` on `invoice_id`; returns the CouponRedemption.

    Safe under concurrency: the coupon row is locked (FOR UPDATE on PostgreSQL and
    MariaDB), the use is counted with one conditional UPDATE (which SQLite also
    serialises), and the client's earlier uses are counted after that, under the
    lock. Raises PricingError when the coupon is unknown, switched off, outside its
    dates on `on` (today by default), used up or already used by this client; it
    then leaves the count as it was. The caller commits (with the invoice) or
    rolls back.
    """
    coupon = db.session.get(Coupon, coupon_id, with_for_update=True, populate_existing=True)
    on = on or clock.today()
    check_coupon(coupon, client_id, on, lock=True)
    counted = db.session.execute(
        db.update(Coupon)
        .where(Coupon.id == coupon.id,
               db.or_(Coupon.usage_limit.is_(None), Coupon.times_used < Coupon.usage_limit))
        .values(times_used=Coupon.times_used + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(coupon, ["times_used"])
    if counted != 1:
        raise PricingError(_l("Coupon %(code)s has been used up.", code=coupon.code))
    if (coupon.per_client_limit is not None
            and _client_redemptions(coupon.id, client_id, lock=True) >= coupon.per_client_limit):
        db.session.execute(
            db.update(Coupon).where(Coupon.id == coupon.id)
            .values(times_used=Coupon.times_used - 1)
            .execution_options(synchronize_session=False))
        db.session.expire(coupon, ["times_used"])
        raise PricingError(_l("This client has already used coupon %(code)s.", code=coupon.code))
    redemption = CouponRedemption(coupon_id=coupon.id, client_id=client_id, invoice_id=invoice_id)
    db.session.add(redemption)
    db.session.flush()
    return redemption
