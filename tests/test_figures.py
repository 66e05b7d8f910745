"""Do the dashboard's and the reports' figures say what the desk lived (SPEC D1, D2, D6)?

Every expected number below is worked out by hand from the story, never by a
query. Dhaka is UTC+6 (no daylight saving): the story's times are written in
UTC, as the database holds them, with the Dhaka time beside them.

The story, one Dhaka branch, prices from the settings (monthly ৳800 + 15 % VAT
= ৳920.00 = 92000 poisha), a key deposit of ৳500 and a lost-key fee of ৳1000:

    2026-01-05 04:00 (10:00 Dhaka)   lockers M-1 (medium), M-2 (small), M-3 (medium) in
                                     the Men zone, F-1 (large), F-2 (medium) in Family;
                                     clients Arif and Babul registered
    2026-01-31 18:30 (1 Feb 00:30)   Chameli registered — a February client in Dhaka
    2026-02-15 04:00 (10:00)         Arif rents M-1 for a month, pays ৳920 cash
    2026-02-20 06:00 (12:00)         Babul rents M-2, does not pay (due 20 Feb);
                                     takes the key with a ৳500 deposit
    2026-02-28 17:00 (23:00)         Chameli rents F-1 (due 28 Feb)
    2026-02-28 18:10 (1 Mar 00:10)   Chameli pays ৳920 cash: March's money in Dhaka;
                                     takes the key with a ৳500 deposit
    2026-03-10 05:00 (11:00)         Chameli loses her key: ৳1000 fee charged in cash
    2026-03-12 06:00 (12:00)         Babul returns his key; ৳500 of his deposit pays his
                                     dues (he still owes ৳420); his rental ends
    2026-03-14 08:00 (14:00)         ৳200 of Chameli's fee refunded (partial refund)
    2026-03-16 04:00 (10:00)         Arif renews M-1 (17 Mar → 16 Apr), pays ৳920 cash
    2026-03-19 06:00 (12:00)         Dipu registers, rents M-3, invoice due 25 March
    an old invoice of Arif's, ৳300, due 1 December 2025, never paid

"Now" is 2026-03-20 06:00 (12:00 on 20 March in Dhaka).
"""

from contextlib import contextmanager
from datetime import date
from datetime import datetime
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models import Gender
from app.models import Invoice
from app.models import Key
from app.models import LockerSize
from app.models import LockerStatus
from app.models import PaymentMethod
from app.models import PriceRule
from app.models import RentalTerm
from app.models import ZoneKind
from app.services import billing
from app.services import clock
from app.services import figures
from app.services import handover
from app.services import keys
from app.services import rentals

NOW = datetime(2026, 3, 20, 6, 0)
MONTH_PRICE = 92000
FEB = (date(2026, 2, 1), date(2026, 2, 28))
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


@contextmanager
def at(moment):
    """Everything inside happens at `moment` (naive UTC), as far as the app can tell."""
    with clock.simulated() as simulated:
        simulated.at = moment
        yield


def _key(locker):
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    return key


@pytest.fixture
def story(desk):
    """The story of the module docstring, played at the moments it happened."""
    s = SimpleNamespace()
    with at(datetime(2026, 1, 5, 4, 0)):
        s.branch = desk.make_branch(timezone="Asia/Dhaka")
        s.men = desk.make_zone(branch=s.branch, kind=ZoneKind.MEN, name="Men")
        s.family = desk.make_zone(branch=s.branch, kind=ZoneKind.FAMILY, name="Family")
        s.m1 = desk.make_locker(zone=s.men, number="M-1", size=LockerSize.MEDIUM)
        s.m2 = desk.make_locker(zone=s.men, number="M-2", size=LockerSize.SMALL)
        s.m3 = desk.make_locker(zone=s.men, number="M-3", size=LockerSize.MEDIUM)
        s.f1 = desk.make_locker(zone=s.family, number="F-1", size=LockerSize.LARGE)
        s.f2 = desk.make_locker(zone=s.family, number="F-2", size=LockerSize.MEDIUM)
        s.m2_key, s.f1_key = _key(s.m2), _key(s.f1)
        s.arif = desk.make_client(branch=s.branch, name="Arif")
        s.babul = desk.make_client(branch=s.branch, name="Babul")
    with at(datetime(2026, 1, 31, 18, 30)):
        s.chameli = desk.make_client(branch=s.branch, name="Chameli", gender=Gender.FEMALE)
    with at(datetime(2026, 2, 15, 4, 0)):
        s.arif_first = rentals.assign(s.m1.id, s.arif.id, RentalTerm.MONTHLY, by_user_id=None,
                                      pay_now=PaymentMethod.CASH)
    with at(datetime(2026, 2, 20, 6, 0)):
        s.babul_rental = rentals.assign(s.m2.id, s.babul.id, RentalTerm.MONTHLY, by_user_id=None)
        handover.issue_key(s.m2.id, s.m2_key.id, deposit_poisha=50000, by_user_id=None)
    with at(datetime(2026, 2, 28, 17, 0)):
        s.chameli_rental = rentals.assign(s.f1.id, s.chameli.id, RentalTerm.MONTHLY, by_user_id=None)
    with at(datetime(2026, 2, 28, 18, 10)):
        billing.record_payment(billing.invoice_of(s.chameli_rental.id).id, MONTH_PRICE,
                               PaymentMethod.CASH, by_user_id=None)
        handover.issue_key(s.f1.id, s.f1_key.id, deposit_poisha=50000, by_user_id=None)
    with at(datetime(2026, 3, 10, 5, 0)):
        lost = handover.report_lost_key(s.f1_key.id, fee_poisha=100000,
                                        settle=handover.SETTLE_CHARGE, by_user_id=None)
    with at(datetime(2026, 3, 12, 6, 0)):
        handover.return_key(s.m2_key.id, refund_poisha=0, by_user_id=None, settle_dues=True)
    with at(datetime(2026, 3, 14, 8, 0)):
        billing.refund_payment(lost.payment.id, 20000, "key found", by_user_id=None)
    with at(datetime(2026, 3, 16, 4, 0)):
        s.arif_renewal = rentals.renew(s.arif_first.id, by_user_id=None,
                                       pay_now=PaymentMethod.CASH)
    with at(datetime(2026, 3, 19, 6, 0)):
        s.dipu = desk.make_client(branch=s.branch, name="Dipu")
        s.dipu_rental = rentals.assign(s.m3.id, s.dipu.id, RentalTerm.MONTHLY, by_user_id=None)
        billing.invoice_of(s.dipu_rental.id).due_on = date(2026, 3, 25)
        db.session.add(Invoice(number="OLD-1", branch_id=s.branch.id, client_id=s.arif.id,
                               issued_at=datetime(2025, 12, 1, 4, 0), due_on=date(2025, 12, 1),
                               subtotal_poisha=30000, total_poisha=30000))
        db.session.commit()
    with at(NOW):
        yield s


def test_money_is_counted_on_the_dhaka_day_it_came_in(story):
    """Chameli's ৳920 paid at 00:10 on 1 March in Dhaka (28 Feb in UTC) is March's money."""
    by_day = {row.period: row.total for row in figures.collections(story.branch.id, *MARCH)
              if row.total}
    assert by_day == {date(2026, 3, 1): 92000, date(2026, 3, 10): 100000,
                      date(2026, 3, 12): 50000, date(2026, 3, 14): -20000,
                      date(2026, 3, 16): 92000}
    feb = figures.collections(story.branch.id, *FEB, by="day")
    assert len(feb) == 28
    assert [row.total for row in feb if row.total] == [92000]
    assert feb[-1].period == date(2026, 2, 28) and feb[-1].total == 0


def test_collections_by_month_per_method_leave_deposits_out(story):
    """February ৳920 cash; March ৳2,640 cash net of the ৳200 refund and ৳500 from a deposit.

    The ৳1,000 of key deposits taken is nowhere: it is held for the clients.
    """
    feb, march = figures.collections(story.branch.id, FEB[0], MARCH[1], by="month")
    assert (feb.period, feb.total, feb.by_method[PaymentMethod.CASH]) == (date(2026, 2, 1), 92000, 92000)
    # 92000 (1 Mar) + 100000 (fee) − 20000 (refund) + 92000 (renewal)
    assert march.by_method[PaymentMethod.CASH] == 264000
    # Babul's dues paid from his deposit: the held money became the gym's.
    assert march.by_method[PaymentMethod.DEPOSIT] == 50000
    assert (march.received, march.refunded, march.kept_from_deposits) == (334000, 20000, 0)
    assert march.total == 314000
    assert sum(march.by_method.values()) == march.total
    (year,) = figures.collections(story.branch.id, date(2026, 1, 1), date(2026, 12, 31), by="year")
    assert (year.period, year.total) == (date(2026, 1, 1), 406000)


def test_revenue_cards_follow_the_branch_today(story):
    """On 20 March nothing came in today; this month is March's ৳3,140."""
    assert figures.revenue_today(story.branch.id) == 0
    assert figures.revenue_this_month(story.branch.id) == 314000
    assert figures.revenue_this_month(None) == 314000
    assert figures.revenue(story.branch.id, date(2026, 3, 16), date(2026, 3, 16)) == 92000


def test_revenue_by_zone_size_and_term(story):
    """Men: Arif 920 + 920 and Babul's 500 from deposit; Family: Chameli 920 + 1000 − 200."""
    assert figures.revenue_by(story.branch.id, FEB[0], MARCH[1], "zone") == {
        story.men.id: 234000, story.family.id: 172000}
    assert figures.revenue_by(story.branch.id, FEB[0], MARCH[1], "size") == {
        LockerSize.MEDIUM: 184000, LockerSize.SMALL: 50000, LockerSize.LARGE: 172000}
    assert figures.revenue_by(story.branch.id, FEB[0], MARCH[1], "term") == {
        RentalTerm.MONTHLY: 406000}


def test_payment_methods_break_down_the_same_money(story):
    """Cash: 4 payments, ৳3,760 in, ৳200 back; deposit: 1 payment of ৳500."""
    totals = {row.method: row for row in figures.payment_methods(story.branch.id, FEB[0], MARCH[1])}
    cash, deposit = totals[PaymentMethod.CASH], totals[PaymentMethod.DEPOSIT]
    assert (cash.count, cash.received, cash.refunded, cash.net) == (4, 376000, 20000, 356000)
    assert (deposit.count, deposit.net) == (1, 50000)
    assert totals[PaymentMethod.BKASH].net == 0
    assert sum(row.net for row in totals.values()) == 406000


def test_dues_and_their_ages(story):
    """Owed: Babul ৳420 (28 days late), Dipu ৳920 (due 25 March), Arif's old ৳300 (109 days)."""
    assert figures.dues(story.branch.id) == figures.Dues(owed_poisha=164000, clients=3, invoices=3)
    ages = {bucket.key: (bucket.invoices, bucket.owed_poisha)
            for bucket in figures.dues_ageing(story.branch.id)}
    assert ages == {"not_due": (1, 92000), "1_30": (1, 42000), "31_60": (0, 0),
                    "61_90": (0, 0), "over_90": (1, 30000)}


def test_invoice_states_paid_unpaid_overdue(story):
    """Issued since December: Arif ×2 and Chameli paid; Dipu's not due yet; Babul and OLD-1 late."""
    states = figures.invoice_states(story.branch.id, date(2025, 12, 1), MARCH[1])
    assert (states.paid, states.paid_poisha) == (3, 276000)
    assert (states.unpaid, states.unpaid_poisha) == (1, 92000)
    assert (states.overdue, states.overdue_poisha) == (2, 72000)
    feb_only = figures.invoice_states(story.branch.id, *FEB)
    assert (feb_only.paid, feb_only.overdue) == (2, 1)


def test_vat_is_counted_on_the_invoices_issued(story):
    """Three invoices in February (৳120 VAT each), two in March; the December one is outside."""
    feb, march = figures.vat(story.branch.id, FEB[0], MARCH[1])
    assert (feb.invoices, feb.net_poisha, feb.vat_poisha, feb.total_poisha) == (3, 240000, 36000, 276000)
    assert (march.invoices, march.vat_poisha, march.total_poisha) == (2, 24000, 184000)


def test_the_deposit_ledger_is_a_liability_apart_from_revenue(story):
    """Taken ৳1,000, ৳500 of it paid Babul's dues; Chameli's ৳500 is still held."""
    ledger = figures.deposit_ledger(story.branch.id, FEB[0], MARCH[1])
    assert (ledger.held_at_start, ledger.taken, ledger.refunded, ledger.kept_as_fees,
            ledger.applied_to_dues, ledger.held_at_end) == (0, 100000, 0, 0, 50000, 50000)
    march = figures.deposit_ledger(story.branch.id, *MARCH)
    assert (march.held_at_start, march.taken, march.held_at_end) == (50000, 50000, 50000)


def test_refunds_and_lost_key_fees_are_listed(story):
    """The ৳200 refund on 14 March; the ৳1,000 fee charged on 10 March for F-1."""
    (refund,) = figures.refunds(story.branch.id, *MARCH)
    assert (refund.day, refund.client_name, refund.method, refund.amount_poisha, refund.reason) == (
        date(2026, 3, 14), "Chameli", PaymentMethod.CASH, 20000, "key found")
    (fee,) = figures.lost_key_fees(story.branch.id, *MARCH)
    assert (fee.day, fee.client_name, fee.locker_number, fee.settled, fee.amount_poisha) == (
        date(2026, 3, 10), "Chameli", "F-1", "charged", 100000)
    (incidents,) = figures.lost_key_incidents(story.branch.id, *MARCH)
    assert (incidents.client_name, incidents.incidents) == ("Chameli", 1)
    assert figures.lost_key_fees(story.branch.id, *FEB) == []


def test_lockers_by_status_and_occupancy(story):
    """M-1, M-3, F-1 assigned, M-2 cleaning, F-2 available: 3 of 5 usable → 60 %."""
    counts = figures.lockers_by_status(story.branch.id)
    assert (counts[LockerStatus.ASSIGNED], counts[LockerStatus.CLEANING],
            counts[LockerStatus.AVAILABLE]) == (3, 1, 1)
    assert figures.occupancy(story.branch.id) == figures.Occupancy(lockers=5, usable=5, taken=3,
                                                                   percent=60)
    zones = {row.name: (row.usable, row.taken, row.percent)
             for row in figures.occupancy_by_zone(story.branch.id)}
    assert zones == {"Men": (3, 2, 67), "Family": (2, 1, 50)}
    assert [locker.number for locker in figures.lockers_never_rented(story.branch.id)] == ["F-2"]


def test_new_clients_count_in_dhaka_days(story):
    """Chameli registered at 00:30 on 1 February in Dhaka (31 January in UTC): a February client."""
    assert figures.new_clients(story.branch.id, date(2026, 1, 1), date(2026, 1, 31)) == 2
    assert figures.new_clients(story.branch.id, *FEB) == 1
    assert figures.new_clients(story.branch.id, *MARCH) == 1


def test_renewal_rate_counts_decided_terms(story):
    """March: Arif's first term renewed, Babul's ended on the 12th and grace is over → 1 of 2."""
    rate = figures.renewal_rate(story.branch.id, *MARCH)
    assert (rate.ended, rate.renewed, rate.percent) == (2, 1, 50)
    assert figures.renewal_rate(story.branch.id, *FEB).percent is None


def test_longest_tenured_clients_count_unbroken_stays(story):
    """Arif since 15 Feb (33 days, across his renewal), Chameli since 28 Feb (20), Dipu 1."""
    assert [(row.name, row.since, row.days) for row in
            figures.longest_tenured_clients(story.branch.id)] == [
        ("Arif", date(2026, 2, 15), 33), ("Chameli", date(2026, 2, 28), 20),
        ("Dipu", date(2026, 3, 19), 1)]


def test_utilisation_counts_a_rental_in_each_month_it_spans(story):
    """Arif's and Babul's rentals span February and March; each month gets its part.

    February (28 days × 5 lockers = 140 locker-days): Arif 13 d 14 h, Babul 8 d 12 h,
    Chameli 1 h → 22.125 locker-days = 15.8 %.
    March until now (19.5 days × 5 = 97.5): M-1 19.5 (Arif, renewal included), M-2 11.5
    (Babul until the 12th), M-3 1 (Dipu), F-1 19.5 → 51.5 = 52.8 %.
    """
    feb, march = figures.utilisation(story.branch.id, FEB[0], MARCH[1], by="month")
    assert (feb.period, feb.usable_days, feb.percent) == (date(2026, 2, 1), 140.0, 15.8)
    assert (march.occupied_days, march.usable_days, march.percent) == (51.5, 97.5, 52.8)
    keys_, rows = figures.utilisation_by_locker(story.branch.id, *MARCH, by="month")
    assert keys_ == [date(2026, 3, 1)]
    # M-2: 11.5 of 19.5 days = 59.0 %; F-2 never rented.
    assert {number: cells for _id, number, cells in rows} == {
        "F-1": [100.0], "F-2": [0.0], "M-1": [100.0], "M-2": [59.0], "M-3": [5.1]}


def test_retention_average_length_turnover_and_inactive_clients(story):
    """Renting on 1 March: Arif, Babul, Chameli; still renting now: Arif, Chameli → 66.7 %."""
    (march,) = figures.retention(story.branch.id, *MARCH)
    assert (march.at_start, march.still, march.percent) == (3, 2, 66.7)
    lengths = {row.zone_name: (row.rentals, row.longest_days)
               for row in figures.average_rental_length(story.branch.id, FEB[0], MARCH[1])}
    # Men: Arif's first term 29 days (renewed a day early), Babul 20, the renewal, Dipu.
    assert lengths["Men"] == (4, 29.0)
    turnover = {row.number: (row.rentals, row.clients)
                for row in figures.turnover(story.branch.id, FEB[0], MARCH[1])}
    assert turnover == {"M-1": (2, 1), "M-2": (1, 1), "M-3": (1, 1), "F-1": (1, 1), "F-2": (0, 0)}
    (gone,) = figures.inactive_clients(story.branch.id, *MARCH)
    assert (gone.client_name, gone.locker_number, gone.ended_on, gone.days_since) == (
        "Babul", "M-2", date(2026, 3, 12), 8)
    (ticket,) = figures.maintenance_by_locker(story.branch.id, *MARCH)
    assert (ticket.number, ticket.tickets, ticket.still_open) == ("F-1", 1, 1)


def test_top_payers_share_out_the_revenue(story):
    """Arif ৳1,840, Chameli ৳1,720 (fee less its refund), Babul ৳500 from his deposit."""
    assert [(row.name, row.net_poisha) for row in
            figures.top_payers(story.branch.id, FEB[0], MARCH[1])] == [
        ("Arif", 184000), ("Chameli", 172000), ("Babul", 50000)]


def test_a_fee_kept_from_a_deposit_is_revenue_and_the_deposit_is_not(desk):
    """A ৳1,500 deposit, ৳1,000 of it kept for a lost key: revenue ৳920 rent + ৳1,000 fee."""
    with at(datetime(2026, 5, 2, 4, 0)):
        zone = desk.make_zone(kind=ZoneKind.FAMILY, name="Family")
        locker = desk.make_locker(zone=zone, number="F-9")
        key = _key(locker)
        client = desk.make_client(branch=zone.branch, name="Esha")
        rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                       pay_now=PaymentMethod.CASH)
        handover.issue_key(locker.id, key.id, deposit_poisha=150000, by_user_id=None)
    with at(datetime(2026, 5, 3, 19, 0)):  # 01:00 on 4 May in Dhaka
        handover.report_lost_key(key.id, fee_poisha=100000, settle=handover.SETTLE_DEPOSIT,
                                 by_user_id=None)
    with at(datetime(2026, 5, 20, 4, 0)):
        may = figures.collections(zone.branch_id, date(2026, 5, 1), date(2026, 5, 31), by="day")
        assert {row.period: row.total for row in may if row.total} == {
            date(2026, 5, 2): 92000, date(2026, 5, 4): 100000}
        assert may[3].by_method[PaymentMethod.DEPOSIT] == 100000
        assert may[3].kept_from_deposits == 100000
        ledger = figures.deposit_ledger(zone.branch_id, date(2026, 5, 1), date(2026, 5, 31))
        assert (ledger.taken, ledger.kept_as_fees, ledger.held_at_end) == (150000, 100000, 50000)
        (fee,) = figures.lost_key_fees(zone.branch_id, date(2026, 5, 1), date(2026, 5, 31))
        assert (fee.day, fee.settled, fee.amount_poisha) == (date(2026, 5, 4), "deposit", 100000)


def test_branches_in_other_timezones_count_their_own_days(desk):
    """Paid at 18:20 UTC on 30 April: 00:20 on 1 May in Dhaka, 23:50 on 30 April in Kolkata."""
    with at(datetime(2026, 4, 30, 18, 20)):
        dhaka = desk.make_zone(branch=desk.make_branch(timezone="Asia/Dhaka"), kind=ZoneKind.FAMILY)
        kolkata = desk.make_zone(branch=desk.make_branch(timezone="Asia/Kolkata"),
                                 kind=ZoneKind.FAMILY)
        for zone in (dhaka, kolkata):
            locker = desk.make_locker(zone=zone)
            client = desk.make_client(branch=zone.branch)
            rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                           pay_now=PaymentMethod.CASH)
    with at(datetime(2026, 5, 10, 4, 0)):
        april, may = figures.collections(None, date(2026, 4, 1), date(2026, 5, 31), by="month")
        assert (april.total, may.total) == (92000, 92000)
        (kolkata_april,) = figures.collections(kolkata.branch_id, date(2026, 4, 30), date(2026, 4, 30))
        assert kolkata_april.total == 92000
        assert figures.revenue(dhaka.branch_id, date(2026, 4, 30), date(2026, 4, 30)) == 0


def test_expiring_this_week_at_risk_and_expected_revenue(desk):
    """Two clients whose terms end soon, and what renewing both at June's price brings.

    Now is 10 June 12:00 in Dhaka. Polash rented on 15 May, never paid (due 15 May): ends
    14 June (4 days: 20 points), no renewals (25), one late invoice (10), dues (15) = 70.
    Quddus rented on 20 April, renewed on 19 May (ends 19 June: 9 days, 10 points), one
    renewal (15), paid on time (0), no dues (0) = 25. From 1 June the monthly price is
    ৳1,000: a renewal costs ৳1,150 with VAT, two of them ৳2,300.
    """
    with at(datetime(2026, 4, 20, 6, 0)):
        zone = desk.make_zone(kind=ZoneKind.FAMILY, name="Family")
        first, second = desk.make_locker(zone=zone, number="F-1"), desk.make_locker(zone=zone, number="F-2")
        quddus = desk.make_client(branch=zone.branch, name="Quddus")
        polash = desk.make_client(branch=zone.branch, name="Polash")
        quddus_rental = rentals.assign(first.id, quddus.id, RentalTerm.MONTHLY, by_user_id=None,
                                       pay_now=PaymentMethod.CASH)
        db.session.add(PriceRule(term=RentalTerm.MONTHLY, price_poisha=100000,
                                 effective_from=date(2026, 6, 1)))
        db.session.commit()
    with at(datetime(2026, 5, 15, 6, 0)):
        polash_rental = rentals.assign(second.id, polash.id, RentalTerm.MONTHLY, by_user_id=None)
    with at(datetime(2026, 5, 19, 6, 0)):
        rentals.renew(quddus_rental.id, by_user_id=None, pay_now=PaymentMethod.CASH)
    with at(datetime(2026, 6, 10, 6, 0)):
        assert [(row.client_name, row.ends_on) for row in figures.expiring_this_week(zone.branch_id)] \
            == [("Polash", date(2026, 6, 14))]
        risky = figures.clients_at_risk(zone.branch_id)
        assert [(row.client_name, row.days_left, row.score) for row in risky] == [
            ("Polash", 4, 70), ("Quddus", 9, 25)]
        assert risky[0].points == {"days_left": 20, "renewals": 25, "late_payments": 10, "dues": 15}
        assert (risky[0].past_renewals, risky[0].late_payments, risky[0].dues_poisha) == (0, 1, 92000)
        assert risky[0].rental_id == polash_rental.id
        assert figures.expected_revenue_next_30_days(zone.branch_id) == figures.ExpectedRevenue(
            total_poisha=230000, rentals=2, unpriced=0)


def test_periods_are_cut_at_the_branch_midnight(desk):
    """A March period in Dhaka runs from 18:00 UTC on 28 February to 18:00 UTC on 31 March."""
    (march,) = figures.periods(date(2026, 3, 1), date(2026, 3, 31), "month", "Asia/Dhaka")
    assert (march.starts_at, march.ends_at) == (datetime(2026, 2, 28, 18, 0),
                                                datetime(2026, 3, 31, 18, 0))
    weeks = figures.periods(date(2026, 3, 4), date(2026, 3, 17), "week", "Asia/Dhaka")
    assert [(week.key, week.first, week.last) for week in weeks] == [
        (date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 8)),
        (date(2026, 3, 9), date(2026, 3, 9), date(2026, 3, 15)),
        (date(2026, 3, 16), date(2026, 3, 16), date(2026, 3, 17))]
