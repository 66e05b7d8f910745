"""Does the report catalogue (SPEC Rep1–Rep3) show the figures the desk lived, to those allowed?

The story is tests/test_figures.py's (its docstring tells it, with the times in
UTC and in Dhaka); the expected numbers are worked out by hand there and here.
"""

import re
from datetime import date

import pytest
from flask_babel import force_locale
from flask_babel.speaklater import LazyString

from app.models import PaymentMethod
from app.services import report_book
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.report_book import ReportParams
from tests.test_figures import story  # noqa: F401 (the fixture)

FEB_TO_MARCH = {"start": "01/02/2026", "end": "31/03/2026"}
FINANCIAL = {"collections-day", "collections-month", "collections-year", "revenue-by-zone",
             "revenue-by-size", "revenue-by-term", "payment-methods", "dues", "deposit-ledger",
             "refunds", "lost-key-fees", "vat", "top-payers"}


def _run(key, story, **args):  # noqa: F811 (the fixture's value, passed on)
    params, errors = ReportParams.parse({**FEB_TO_MARCH, "branch_id": str(story.branch.id), **args})
    assert errors == {}
    return report_book.report(key).run(params)


def test_the_catalogue_declares_each_report_once(desk):
    """Every report has a slug, a translated title, known filters and column kinds."""
    assert list(report_book.REPORTS) == [entry.key for entry in report_book.REPORTS.values()]
    for key, entry in report_book.REPORTS.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", key), key
        assert isinstance(entry.title, LazyString), key
        assert entry.section in report_book.SECTIONS, key
        assert set(entry.filters) <= {report_book.DATES, report_book.BRANCH, report_book.ZONE}, key
    assert {key for key, entry in report_book.REPORTS.items() if entry.financial} == FINANCIAL
    assert report_book.report("no-such-report") is None


def test_the_front_desk_sees_no_report_and_the_accountant_sees_them_all(desk):
    """Financial reports need reports-view and payments-view; the others reports-view."""
    front_desk, accountant, manager = (desk.make_user(role) for role in (FRONT_DESK, ACCOUNTANT, MANAGER))
    assert report_book.allowed_reports(front_desk) == []
    assert len(report_book.allowed_reports(accountant)) == len(report_book.REPORTS)
    assert len(report_book.allowed_reports(manager)) == len(report_book.REPORTS)
    assert report_book.report("vat").permissions == ("reports-view", "payments-view")
    assert report_book.report("vat").permission == "payments-view"
    assert report_book.report("occupancy").permissions == ("reports-view",)
    assert not report_book.report("occupancy").allowed(None)


def test_every_report_runs_on_the_story_and_on_nothing(story, desk):  # noqa: F811
    """Each report gives a table whose rows match its columns, with or without data."""
    for key, entry in report_book.REPORTS.items():
        for args in ({**FEB_TO_MARCH, "branch_id": str(story.branch.id)}, {"start": "01/01/2020",
                                                                          "end": "31/01/2020"}):
            params, errors = ReportParams.parse(args)
            assert errors == {}, key
            table = entry.run(params)
            assert table.columns, key
            for row in table.rows + ([table.totals] if table.totals else []):
                assert len(row) == len(table.columns), key
            for column in table.columns:
                if column.kind == "taka":
                    assert all(isinstance(row[table.columns.index(column)], int | type(None))
                               for row in table.rows), (key, column.key)


def test_collections_by_month_with_method_columns_and_totals(story):  # noqa: F811
    """February ৳920 cash; March ৳2,640 cash and ৳500 from a deposit, ৳200 refunded."""
    table = _run("collections-month", story)
    assert [column.key for column in table.columns] == [
        "period", "cash", "bkash", "nagad", "sslcommerz", "card", "bank", "deposit", "refunded",
        "total"]
    assert table.rows == [
        (date(2026, 2, 1), 92000, 0, 0, 0, 0, 0, 0, 0, 92000),
        (date(2026, 3, 1), 264000, 0, 0, 0, 0, 0, 50000, 20000, 314000)]
    assert table.totals[1:] == (356000, 0, 0, 0, 0, 0, 50000, 20000, 406000)
    with force_locale("en"):
        assert str(table.column("deposit").label) == str(PaymentMethod.DEPOSIT.label)
        assert str(table.totals[0]) == "Total"


def test_revenue_by_zone_with_shares(story):  # noqa: F811
    """Men ৳2,340 (57.6 %), Family ৳1,720 (42.4 %) of ৳4,060."""
    table = _run("revenue-by-zone", story)
    assert table.rows == [("Men", 234000, 57.6), ("Family", 172000, 42.4)]
    assert table.totals[1:] == (406000, 100.0)


def test_the_deposit_ledger_report_balances(story):  # noqa: F811
    """From nothing: ৳1,000 taken in two lines, ৳500 paid Babul's dues, ৳500 held at the end."""
    table = _run("deposit-ledger", story)
    assert [(row[1], row[2]) for row in table.rows] == [
        (None, 0), (2, 100000), (0, 0), (0, 0), (1, -50000)]
    assert table.totals[2] == 50000
    assert sum(row[2] for row in table.rows) == table.totals[2]


def test_dues_vat_refunds_and_lost_key_fees(story):  # noqa: F811
    """Dues ৳1,640 on three invoices; VAT ৳600 on five; one refund of ৳200; one fee of ৳1,000."""
    dues = _run("dues", story)
    assert [row[3] for row in dues.rows] == [92000, 42000, 0, 0, 30000]
    assert dues.totals[1:] == (3, 3, 164000)
    vat = _run("vat", story)
    assert vat.rows == [(date(2026, 2, 1), 3, 240000, 36000, 276000),
                        (date(2026, 3, 1), 2, 160000, 24000, 184000)]
    assert vat.totals[1:] == (5, 400000, 60000, 460000)
    refunds = _run("refunds", story)
    assert [(row[0], row[1], row[3], row[4]) for row in refunds.rows] == [
        (date(2026, 3, 14), "Chameli", 20000, "key found")]
    fees = _run("lost-key-fees", story)
    assert [(row[0], row[2], row[4]) for row in fees.rows] == [(date(2026, 3, 10), "F-1", 100000)]


def test_operational_reports(story):  # noqa: F811
    """Occupancy 3 of 5; the heatmap's weeks; one ticket on F-1; M-1 twice to one client."""
    occupancy = _run("occupancy", story)
    assert occupancy.rows == [("Men", 3, 3, 2, 67), ("Family", 2, 2, 1, 50)]
    assert occupancy.totals[1:] == (5, 5, 3, 60)
    heatmap = _run("utilisation-heatmap", story, start="01/03/2026", end="31/03/2026")
    # 1 March 2026 is a Sunday: the first week is the one from Monday 23 February.
    assert [column.key for column in heatmap.columns] == [
        "locker", "w2026-02-23", "w2026-03-02", "w2026-03-09", "w2026-03-16", "w2026-03-23",
        "w2026-03-30"]
    cells = {row[0]: row[1:] for row in heatmap.rows}
    # Now is 20 March: the last two weeks have not happened yet.
    assert cells["M-1"] == (100.0, 100.0, 100.0, 100.0, None, None)
    assert cells["F-2"] == (0.0, 0.0, 0.0, 0.0, None, None)
    maintenance = _run("maintenance", story)
    assert [(row[0], row[2], row[3]) for row in maintenance.rows] == [("F-1", 1, 1)]
    turnover = _run("turnover", story)
    assert turnover.rows[0][0] == "M-1" and turnover.totals[2:] == (5, 4)
    lost = _run("lost-keys", story)
    assert [(row[0], row[2], row[3]) for row in lost.rows] == [("Chameli", 1, date(2026, 3, 10))]


def test_client_reports(story):  # noqa: F811
    """Renewals 1 of 2 in March; retention 2 of 3; Babul gone since 12 March; Arif pays most."""
    renewals = _run("renewals", story)
    assert [row[1:] for row in renewals.rows] == [(0, 0, None), (2, 1, 50)]
    retention = _run("retention", story, start="01/03/2026")
    assert [row[1:] for row in retention.rows] == [(3, 2, 66.7)]
    inactive = _run("inactive-clients", story)
    assert [(row[0], row[3], row[4]) for row in inactive.rows] == [("Babul", date(2026, 3, 12), 8)]
    payers = _run("top-payers", story)
    assert [(row[0], row[3]) for row in payers.rows] == [
        ("Arif", 184000), ("Chameli", 172000), ("Babul", 50000)]


def test_params_read_dates_as_the_desk_types_them(desk):
    """dd/mm/yyyy in Bengali digits, or ISO; ids in Bengali digits too."""
    branch = desk.make_branch()
    params, errors = ReportParams.parse({"start": "০১/০৩/২০২৬", "end": "2026-03-31",
                                         "branch_id": str(branch.id).translate(
                                             str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯"))})
    assert errors == {}
    assert params == ReportParams(date(2026, 3, 1), date(2026, 3, 31), branch.id, None)


@pytest.mark.parametrize(("args", "field"), [
    ({"start": "31/03/2026", "end": "01/03/2026"}, "end"),
    ({"start": "01/01/2023", "end": "04/01/2026"}, "end"),
    ({"start": "31/02/2026", "end": "01/03/2026"}, "start"),
    ({"start": "yesterday"}, "start"),
    ({"branch_id": "1; DROP TABLE"}, "branch_id"),
    ({"branch_id": "99999"}, "branch_id"),
    ({"zone_id": "-3"}, "zone_id"),
    ({"zone_id": "99999999999"}, "zone_id"),
])
def test_params_refuse_what_no_report_can_answer(desk, args, field):
    """A bad date, a backwards or longer than three-year range, an id that is no id: an error, no report."""
    params, errors = ReportParams.parse(args)
    assert params is None
    assert set(errors) == {field}
    assert isinstance(errors[field], LazyString)


def test_three_years_is_the_longest_range(desk):
    """1 January 2023 to 31 December 2025 is 1,096 days: allowed (at most 1,098)."""
    params, errors = ReportParams.parse({"start": "01/01/2023", "end": "31/12/2025"})
    assert errors == {} and params.start == date(2023, 1, 1)


def test_staff_limited_to_a_branch_get_their_branch(desk):
    """A limited user's report is of their branch; asking for another one, or its zone, is refused."""
    mine, other = desk.make_branch(), desk.make_branch()
    elsewhere = desk.make_zone(branch=other)
    params, errors = ReportParams.parse({}, limited_branch_id=mine.id)
    assert errors == {} and params.branch_id == mine.id
    assert params.end >= params.start and params.start.day == 1
    _params, errors = ReportParams.parse({"branch_id": str(other.id)}, limited_branch_id=mine.id)
    assert set(errors) == {"branch_id"}
    _params, errors = ReportParams.parse({"zone_id": str(elsewhere.id)}, limited_branch_id=mine.id)
    assert set(errors) == {"zone_id"}
