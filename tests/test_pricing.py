"""Pricing (SPEC P1): the matrix with effective dates, discounts, coupons, VAT and the screens."""

from datetime import date
from datetime import timedelta

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Coupon
from app.models import CouponKind
from app.models import CouponRedemption
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Invoice
from app.models import LockerCategory
from app.models import PriceRule
from app.models import RentalTerm
from app.models import Tag
from app.models import ZoneKind
from app.services import pricing
from app.services import settings
from tests.races import race

DAY = date(2026, 3, 10)
TERMS = (RentalTerm.MONTHLY, RentalTerm.QUARTERLY, RentalTerm.YEARLY)
RACERS = 8


# --- helpers ----------------------------------------------------------------------------

def _count(model):
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def _vat(percent):
    settings.put("vat_rate_percent", str(percent))
    db.session.commit()


def _rule(term, price_poisha, *, category=None, zone_kind=None, branch=None,
          start=date(2026, 1, 1), end=None):
    rule = PriceRule(term=term, price_poisha=price_poisha, category=category, zone_kind=zone_kind,
                     branch=branch, effective_from=start, effective_to=end)
    db.session.add(rule)
    db.session.commit()
    return rule


def _discount(name, percent_bp, *, term=None, tag=None, position=0, stackable=False):
    rule = DiscountRule(name=name, kind=DiscountKind.TERM if term else DiscountKind.TAG, term=term,
                        tag=tag, percent_bp=percent_bp, position=position, stackable=stackable)
    db.session.add(rule)
    db.session.commit()
    return rule


def _coupon(code, *, percent_bp=None, amount_poisha=None, **fields):
    coupon = Coupon(code=code, kind=CouponKind.PERCENT if percent_bp else CouponKind.AMOUNT,
                    percent_bp=percent_bp, amount_poisha=amount_poisha, times_used=0, **fields)
    db.session.add(coupon)
    db.session.commit()
    return coupon


def _invoice(client, number):
    invoice = Invoice(number=number, branch_id=client.branch_id, client_id=client.id, due_on=DAY,
                      subtotal_poisha=0, total_poisha=0)
    db.session.add(invoice)
    db.session.commit()
    return invoice


def _priced_locker(desk, price_poisha=100_000, term=RentalTerm.MONTHLY):
    """A men's locker with a matrix price, and a client of its branch."""
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.MEN))
    _rule(term, price_poisha)
    return locker, desk.make_client(branch=locker.branch)


def _amounts(quote):
    return [(line.kind, line.amount_poisha) for line in quote.lines]


def _with_pricing_screens(app):
    """Add the pricing screens if init_admin does not yet (a no-op once it does)."""
    from admin_views import pricing as pricing_views

    if "price_rules" not in app.blueprints:
        pricing_views.register(app.extensions["admin"][0])


# --- the matrix -------------------------------------------------------------------------

def test_every_cell_of_the_example_matrix_is_priced_from_its_own_rule(desk):
    """2 categories × 2 zone types × 3 terms: each quote's rent is that cell's price on the day.

    Next to every cell lie an ended rule and a rule that starts tomorrow, at other
    prices: neither is used.
    """
    _vat(0)
    categories = [LockerCategory(name="Standard"), LockerCategory(name="Premium")]
    db.session.add_all(categories)
    db.session.commit()
    branch = desk.make_branch()
    expected = {}
    for c, category in enumerate(categories):
        for z, kind in enumerate((ZoneKind.MEN, ZoneKind.WOMEN)):
            locker = desk.make_locker(zone=desk.make_zone(branch=branch, kind=kind),
                                      category=category)
            client = desk.make_client(branch=branch)
            for t, term in enumerate(TERMS):
                price = (1000 + 100 * c + 10 * z + t) * 100
                _rule(term, price, category=category, zone_kind=kind)
                _rule(term, price + 5_000, category=category, zone_kind=kind,
                      start=date(2025, 1, 1), end=DAY - timedelta(days=1))
                _rule(term, price + 7_000, category=category, zone_kind=kind,
                      start=DAY + timedelta(days=1))
                expected[(locker.id, client.id, term)] = price
    for (locker_id, client_id, term), price in expected.items():
        quote = pricing.quote(locker_id, client_id, term, on=DAY)
        assert _amounts(quote) == [("rent", price), ("vat", 0)], term
        assert quote.total_poisha == price
    assert len(expected) == 12


def test_a_rule_that_starts_tomorrow_is_used_from_tomorrow(desk):
    """Today's price stays until the new rule's first day; on that day the new one applies."""
    _vat(0)
    locker, client = _priced_locker(desk, 100_000)
    _rule(RentalTerm.MONTHLY, 120_000, start=DAY + timedelta(days=1))
    assert pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, on=DAY).total_poisha == 100_000
    assert pricing.quote(locker.id, client.id, RentalTerm.MONTHLY,
                         on=DAY + timedelta(days=1)).total_poisha == 120_000


def test_an_ended_rule_falls_back_to_the_settings_price_table(desk):
    """With only an ended rule, the price comes from the settings (৳800 a month) and says so."""
    _vat(0)
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.MEN))
    client = desk.make_client(branch=locker.branch)
    _rule(RentalTerm.MONTHLY, 99_900, start=date(2025, 1, 1), end=DAY - timedelta(days=1))
    quote = pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, on=DAY)
    assert _amounts(quote) == [("rent", 80_000), ("vat", 0)]
    assert "standard price from the settings" in quote.lines[0].description


def test_the_most_specific_rule_wins_and_the_rent_line_names_term_and_rule(desk):
    """A rule for the category and zone type beats the catch-all rule for the term."""
    _vat(0)
    premium = LockerCategory(name="Premium")
    db.session.add(premium)
    locker = desk.make_locker(zone=desk.make_zone(kind=ZoneKind.WOMEN), category=premium,
                              number="W-007")
    client = desk.make_client(branch=locker.branch)
    _rule(RentalTerm.YEARLY, 900_000)
    _rule(RentalTerm.YEARLY, 1_500_000, category=premium, zone_kind=ZoneKind.WOMEN)
    _rule(RentalTerm.YEARLY, 1_200_000, category=premium)
    quote = pricing.quote(locker.id, client.id, RentalTerm.YEARLY, on=DAY)
    assert quote.subtotal_poisha == 1_500_000
    assert quote.lines[0].description == (
        "Rent of locker W-007, Yearly (price matrix: Premium, Women, from 01/01/2026)")


# --- discounts --------------------------------------------------------------------------

def _corporate(client):
    tag = Tag(name="Corporate")
    client.tags.append(tag)
    db.session.commit()
    return tag


def test_non_stackable_discounts_do_not_combine_the_first_in_order_wins(desk):
    """Yearly −10 % (first) and Corporate −5 %, neither stackable: only −10 % is given."""
    _vat(0)
    locker, client = _priced_locker(desk, 1_000_000, RentalTerm.YEARLY)
    _discount("Yearly", 1000, term=RentalTerm.YEARLY, position=1)
    _discount("Corporate", 500, tag=_corporate(client), position=2)
    quote = pricing.quote(locker.id, client.id, RentalTerm.YEARLY, on=DAY)
    assert _amounts(quote) == [("rent", 1_000_000), ("discount", -100_000), ("vat", 0)]
    assert quote.lines[1].description == "Discount Yearly (10%)"


def test_stackable_discounts_apply_one_after_the_other_on_the_running_amount(desk):
    """Both stackable: −10 % of ৳10,000 = ৳1,000, then −5 % of the ৳9,000 left = ৳450.

    Stacked discounts are not added up (15 %); each takes its share of what the
    previous one left.
    """
    _vat(0)
    locker, client = _priced_locker(desk, 1_000_000, RentalTerm.YEARLY)
    _discount("Corporate", 500, tag=_corporate(client), position=2, stackable=True)
    _discount("Yearly", 1000, term=RentalTerm.YEARLY, position=1, stackable=True)
    quote = pricing.quote(locker.id, client.id, RentalTerm.YEARLY, on=DAY)
    assert _amounts(quote) == [("rent", 1_000_000), ("discount", -100_000),
                               ("discount", -45_000), ("vat", 0)]
    assert quote.discount_poisha == 145_000 and quote.total_poisha == 855_000


def test_a_non_stackable_discount_wins_over_stackable_ones(desk):
    """A stackable yearly −10 % and a non-stackable Corporate −5 %: only Corporate is given."""
    _vat(0)
    locker, client = _priced_locker(desk, 1_000_000, RentalTerm.YEARLY)
    _discount("Yearly", 1000, term=RentalTerm.YEARLY, position=1, stackable=True)
    _discount("Corporate", 500, tag=_corporate(client), position=2)
    quote = pricing.quote(locker.id, client.id, RentalTerm.YEARLY, on=DAY)
    assert _amounts(quote) == [("rent", 1_000_000), ("discount", -50_000), ("vat", 0)]


def test_a_tag_discount_needs_the_tag_and_a_term_discount_the_term(desk):
    """A client without the Corporate tag renting monthly gets neither discount."""
    _vat(0)
    locker, client = _priced_locker(desk, 100_000)
    _discount("Yearly", 1000, term=RentalTerm.YEARLY)
    _discount("Corporate", 500, tag=Tag(name="Corporate"))
    quote = pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, on=DAY)
    assert _amounts(quote) == [("rent", 100_000), ("vat", 0)]


# --- coupons ----------------------------------------------------------------------------

def test_a_percent_coupon_comes_after_the_discounts_and_before_vat(desk):
    """৳1,000 − 10 % yearly = ৳900; coupon 12.5 % = ৳112.50; VAT 15 % of ৳787.50 = ৳118.13."""
    _vat(15)
    locker, client = _priced_locker(desk, 100_000, RentalTerm.YEARLY)
    _discount("Yearly", 1000, term=RentalTerm.YEARLY)
    coupon = _coupon("EID25", percent_bp=1250)
    quote = pricing.quote(locker.id, client.id, RentalTerm.YEARLY, coupon_code=" eid25 ", on=DAY)
    assert _amounts(quote) == [("rent", 100_000), ("discount", -10_000), ("coupon", -11_250),
                               ("vat", 11_813)]
    assert quote.coupon_id == coupon.id and quote.vat_poisha == 11_813
    assert quote.total_poisha == 90_563 == sum(line for _, line in _amounts(quote))
    assert [line.description for line in quote.lines[2:]] == ["Coupon EID25 (12.5%)", "VAT 15%"]


def test_an_amount_coupon_never_takes_the_price_below_zero(desk):
    """A ৳500 coupon on a ৳300 rent takes ৳300; VAT on 0 is 0; the total is ৳0."""
    _vat(15)
    locker, client = _priced_locker(desk, 30_000)
    _coupon("FREE500", amount_poisha=50_000)
    quote = pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, coupon_code="FREE500", on=DAY)
    assert _amounts(quote) == [("rent", 30_000), ("coupon", -30_000), ("vat", 0)]
    assert quote.total_poisha == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "There is no coupon NOPE."),
    ({"valid_from": DAY + timedelta(days=1)}, "Coupon NOPE is valid only from 11/03/2026."),
    ({"valid_to": DAY - timedelta(days=1)}, "Coupon NOPE expired on 09/03/2026."),
    ({"usage_limit": 2, "times_used": 2}, "Coupon NOPE has been used up."),
    ({"active": False}, "There is no coupon NOPE."),
])
def test_a_coupon_that_cannot_be_used_is_refused_with_the_reason(desk, fields, message):
    """Unknown, not yet valid, expired, used up or switched off: the quote says which."""
    locker, client = _priced_locker(desk)
    fields = dict(fields)  # the parameter is shared by the runs on each database
    if fields:
        times_used = fields.pop("times_used", 0)
        coupon = _coupon("NOPE", percent_bp=1000, **fields)
        coupon.times_used = times_used
        db.session.commit()
    with pytest.raises(pricing.PricingError) as refused:
        pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, coupon_code="nope", on=DAY)
    assert str(refused.value.message) == message


def test_a_coupon_is_valid_on_the_first_and_last_day_of_its_window(desk):
    """valid_from and valid_to are inclusive."""
    locker, client = _priced_locker(desk)
    _coupon("MARCH", percent_bp=1000, valid_from=DAY, valid_to=DAY + timedelta(days=5))
    for day in (DAY, DAY + timedelta(days=5)):
        assert pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, coupon_code="MARCH",
                             on=day).coupon_id is not None


def test_a_client_cannot_use_a_coupon_more_often_than_its_per_client_limit(desk):
    """Once per client: the second quote and the second redemption for that client are refused."""
    locker, client = _priced_locker(desk)
    other = desk.make_client(branch=locker.branch)
    coupon = _coupon("ONCE", percent_bp=1000, per_client_limit=1)
    pricing.redeem_coupon(coupon.id, client.id, _invoice(client, "T-1").id, on=DAY)
    db.session.commit()
    with pytest.raises(pricing.PricingError) as refused:
        pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, coupon_code="ONCE", on=DAY)
    assert str(refused.value.message) == "This client has already used coupon ONCE."
    with pytest.raises(pricing.PricingError):
        pricing.redeem_coupon(coupon.id, client.id, _invoice(client, "T-2").id, on=DAY)
    db.session.rollback()
    assert pricing.quote(locker.id, other.id, RentalTerm.MONTHLY, coupon_code="ONCE",
                         on=DAY).coupon_id == coupon.id
    assert db.session.get(Coupon, coupon.id).times_used == 1


def test_redemptions_beyond_the_usage_limit_are_refused(desk):
    """Limit 2: two clients redeem, the third is refused and nothing more is counted."""
    coupon = _coupon("TWO", amount_poisha=10_000, usage_limit=2)
    clients = [desk.make_client() for _ in range(3)]
    for n, client in enumerate(clients[:2]):
        pricing.redeem_coupon(coupon.id, client.id, _invoice(client, f"U-{n}").id, on=DAY)
        db.session.commit()
    with pytest.raises(pricing.PricingError) as refused:
        pricing.redeem_coupon(coupon.id, clients[2].id, _invoice(clients[2], "U-3").id, on=DAY)
    db.session.rollback()
    assert str(refused.value.message) == "Coupon TWO has been used up."
    assert db.session.get(Coupon, coupon.id).times_used == 2
    assert _count(CouponRedemption) == 2


def _redeem(coupon_id, client_id, invoice_id):
    try:
        pricing.redeem_coupon(coupon_id, client_id, invoice_id, on=DAY)
        db.session.commit()
    except pricing.PricingError:
        db.session.rollback()
        return "refused"
    return "won"


@pytest.mark.race
def test_concurrent_coupon_redemptions_respect_the_limit(desk, app):
    """8 desks redeem a coupon limited to 3 uses at once: exactly 3 succeed, 5 are refused."""
    coupon = _coupon("RUSH3", percent_bp=1000, usage_limit=3)
    branch = desk.make_branch()
    clients = [desk.make_client(branch=branch, name=f"Client {n}") for n in range(RACERS)]
    invoices = [_invoice(client, f"R-{n}") for n, client in enumerate(clients)]
    outcomes = race(app, _redeem, [(coupon.id, client.id, invoice.id)
                                   for client, invoice in zip(clients, invoices, strict=True)])
    assert sorted(outcomes) == ["refused"] * (RACERS - 3) + ["won"] * 3, outcomes
    assert db.session.get(Coupon, coupon.id).times_used == 3
    assert _count(CouponRedemption) == 3


# --- VAT and the property test ----------------------------------------------------------

def test_vat_is_charged_on_the_discounted_amount_rounded_half_up(desk):
    """VAT 15 % of ৳333.33 is ৳49.9995 → ৳50.00."""
    _vat(15)
    locker, client = _priced_locker(desk, 33_333)
    quote = pricing.quote(locker.id, client.id, RentalTerm.MONTHLY, on=DAY)
    assert _amounts(quote) == [("rent", 33_333), ("vat", 5_000)]
    assert quote.total_poisha == 38_333


@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=st.integers(min_value=0, max_value=50_000_000),
       discounts=st.lists(st.tuples(st.integers(min_value=1, max_value=10_000), st.booleans()),
                          max_size=3),
       coupon_percent=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
       coupon_amount=st.integers(min_value=1, max_value=60_000_000),
       vat=st.integers(min_value=0, max_value=40))
def test_a_total_is_never_negative_and_always_the_sum_of_its_lines(
        desk, price, discounts, coupon_percent, coupon_amount, vat):
    """Whatever the prices, discounts, coupon and VAT: 0 ≤ total == sum of the lines."""
    for model in (CouponRedemption, Coupon, DiscountRule, PriceRule):
        db.session.execute(db.delete(model))
    db.session.commit()
    _vat(vat)
    if not hasattr(desk, "story"):
        locker = desk.make_locker()
        client = desk.make_client(branch=locker.branch)
        tag = Tag(name="Corporate")
        client.tags.append(tag)
        db.session.commit()
        desk.story = (locker.id, client.id, tag.id)
    locker_id, client_id, tag_id = desk.story
    _rule(RentalTerm.YEARLY, price)
    for n, (percent_bp, stackable) in enumerate(discounts):
        db.session.add(DiscountRule(name=f"D{n}", kind=DiscountKind.TAG, tag_id=tag_id,
                                    percent_bp=percent_bp, position=n, stackable=stackable))
    db.session.commit()
    if coupon_percent is None:
        _coupon("PROP", amount_poisha=coupon_amount)
    else:
        _coupon("PROP", percent_bp=coupon_percent)
    quote = pricing.quote(locker_id, client_id, RentalTerm.YEARLY, coupon_code="PROP", on=DAY)
    amounts = [line.amount_poisha for line in quote.lines]
    assert quote.total_poisha == sum(amounts) >= 0
    assert all(isinstance(amount, int) for amount in amounts)
    assert [line.kind for line in quote.lines][0] == "rent"
    assert [line.kind for line in quote.lines][-2:] == ["coupon", "vat"]
    assert quote.subtotal_poisha - quote.discount_poisha + quote.vat_poisha == quote.total_poisha


# --- screens ----------------------------------------------------------------------------

def _price_form(**fields):
    form = {"branch": "", "category": "", "zone_kind": "", "term": "MONTHLY", "price": "1,250.50",
            "effective_from": "2026-01-01", "effective_to": ""}
    form.update(fields)
    return form


def test_a_super_admin_adds_a_price_rule_typed_in_taka(app, desk):
    """'1,250.50' taka is saved as 125050 poisha and listed as ৳1,250.50."""
    _with_pricing_screens(app)
    browser = desk.login_as("Super Admin")
    response = browser.post("/admin/price_rules/new/", data=_price_form())
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    rule = db.session.execute(db.select(PriceRule)).scalar_one()
    assert (rule.price_poisha, rule.term, rule.effective_from) == (125_050, RentalTerm.MONTHLY,
                                                                   date(2026, 1, 1))
    assert "৳1,250.50" in browser.get("/admin/price_rules/").get_data(as_text=True)


def test_an_accountant_can_read_prices_but_not_change_them(app, desk):
    """The Accountant sees the matrix, discounts and coupons; creating any of them is 403."""
    _with_pricing_screens(app)
    _rule(RentalTerm.MONTHLY, 80_000)
    browser = desk.login_as("Accountant")
    for endpoint in ("price_rules", "discount_rules", "coupons"):
        assert browser.get(f"/admin/{endpoint}/").status_code == 200
        assert browser.get(f"/admin/{endpoint}/new/").status_code == 403
    assert browser.post("/admin/price_rules/new/", data=_price_form()).status_code == 403
    assert _count(PriceRule) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"price": "-100"}, "The amount cannot be negative."),
    ({"price": "100.505"}, "An amount has at most two decimals (poisha)."),
    ({"effective_to": "2025-12-31"}, "The end date cannot be before the start date."),
])
def test_a_bad_price_rule_is_refused_with_a_message(app, desk, fields, message):
    """Negative price, three decimals or an end before the start: a field error, nothing saved."""
    _with_pricing_screens(app)
    browser = desk.login_as("Super Admin")
    response = browser.post("/admin/price_rules/new/", data=_price_form(**fields))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _count(PriceRule) == 0


def test_a_discount_over_100_percent_is_refused_and_12_5_is_stored_in_basis_points(app, desk):
    """'150' % is refused; '12.5' % is saved as 1250 basis points."""
    _with_pricing_screens(app)
    browser = desk.login_as("Super Admin")
    form = {"name": "Yearly", "kind": "TERM", "term": "YEARLY", "tag": "", "percent": "150",
            "position": "1"}
    response = browser.post("/admin/discount_rules/new/", data=form)
    assert "A percentage must be more than 0 and at most 100." in response.get_data(as_text=True)
    assert _count(DiscountRule) == 0
    response = browser.post("/admin/discount_rules/new/", data={**form, "percent": "12.5"})
    assert response.status_code == 302
    assert db.session.execute(db.select(DiscountRule.percent_bp)).scalar_one() == 1250


def test_a_coupon_code_is_upper_cased_unique_and_either_percent_or_amount(app, desk):
    """'eid10' is saved as EID10; a second EID10 or a percent coupon with an amount is refused."""
    _with_pricing_screens(app)
    browser = desk.login_as("Super Admin")
    form = {"code": " eid10 ", "kind": "PERCENT", "percent": "10", "amount": "", "valid_from": "",
            "valid_to": "", "usage_limit": "", "per_client_limit": "1", "active": "y"}
    assert browser.post("/admin/coupons/new/", data=form).status_code == 302
    coupon = db.session.execute(db.select(Coupon)).scalar_one()
    assert (coupon.code, coupon.percent_bp, coupon.amount_poisha) == ("EID10", 1000, None)
    edit_page = browser.get(f"/admin/coupons/edit/?id={coupon.id}").get_data(as_text=True)
    assert 'name="percent" type="text" value="10"' in edit_page
    text = browser.post("/admin/coupons/new/", data=form).get_data(as_text=True)
    assert "Coupon EID10 already exists." in text
    text = browser.post("/admin/coupons/new/", data={**form, "code": "BOTH", "amount": "50"}
                        ).get_data(as_text=True)
    assert "A percent coupon has no amount; leave it empty." in text
    assert _count(Coupon) == 1


def test_the_price_check_page_shows_every_line_of_the_quote(app, desk):
    """Front desk picks a locker, types the client's phone, a term and a coupon: lines and total."""
    _with_pricing_screens(app)
    _vat(15)
    locker, client = _priced_locker(desk, 100_000)
    _coupon("TEN", percent_bp=1000)
    browser = desk.login_as("Front Desk")
    response = browser.post("/admin/price_check/", data={
        "locker": str(locker.id), "phone": client.phone, "term": "MONTHLY", "days": "",
        "coupon": "ten"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-amount="100000"' in text and 'data-amount="-10000"' in text
    assert 'data-total="103500"' in text and "Coupon TEN (10%)" in text
    response = browser.post("/admin/price_check/", data={
        "locker": str(locker.id), "phone": client.phone, "term": "MONTHLY", "coupon": "nope"})
    assert "There is no coupon NOPE." in response.get_data(as_text=True)
