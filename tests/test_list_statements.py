"""Lists without waste (issue "Chain scale"): a list page's SQL does not grow with its rows."""

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask_admin.contrib.sqla import ModelView

from app.extensions import db
from app.services import client_search

SMALL, LARGE = 5, 25


@contextmanager
def counting_statements():
    """Count the SQL statements sent to the database inside the block."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def _list_views(app):
    admin = app.extensions["admin"][0]
    return [view for view in admin._views if isinstance(view, ModelView)]


@pytest.mark.databases("sqlite")  # how many statements a page sends is the code's doing
def test_no_list_page_sends_more_statements_for_more_rows(app, desk):
    """Page 1 of every list with 25 rows sends no more statements than with 5 (no N+1)."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--lockers", "30", "--clients", "40"])
    assert result.exit_code == 0, result.output
    browser = desk.login_as("Super Admin")
    growing, filled = {}, set()
    for view in _list_views(app):
        url = f"{view.url}/"
        counts = {}
        for size in (SMALL, LARGE):
            view.page_size = size
            try:
                with counting_statements() as seen:
                    response = browser.get(url)
            finally:
                del view.page_size  # back to the class's
            assert response.status_code == 200, url
            counts[size] = len(seen)
        rows = db.session.execute(sa.select(sa.func.count()).select_from(view.model)).scalar()
        if rows > LARGE:
            filled.add(view.endpoint)
        if counts[LARGE] > counts[SMALL]:
            growing[view.endpoint] = (counts, rows)
    assert not growing, f"statements grow with the page's rows: {growing}"
    # The lists that grow large hold more rows than a page here, so the check bites on them.
    assert {"clients", "rentals", "payments", "invoices", "deposits", "activity"} <= filled


@pytest.mark.databases("sqlite")  # the pager's wording, not SQL
def test_a_list_counts_up_to_its_cap_and_then_says_more_than(app, desk):
    """Past `count_cap` rows a list stops counting: "more than …" in the reader's language."""
    desk.insert_clients(desk.make_branch(), 7)
    view = next(view for view in _list_views(app) if view.endpoint == "clients")
    # A full page: its rows alone cannot say how many there are, so the list counts.
    view.count_cap, view.page_size = 5, 3
    try:
        with counting_statements() as seen:
            english = desk.login_as("Super Admin").get("/admin/clients/").get_data(as_text=True)
        bengali = desk.login_as("Super Admin", locale="bn").get("/admin/clients/")
    finally:
        del view.count_cap, view.page_size
    assert "(more than 5)" in english and "(7)" not in english
    assert "৫-এর বেশি" in bengali.get_data(as_text=True)
    # The count reads at most cap + 1 rows, whatever the table holds.
    assert any("LIMIT" in statement and "count(*)" in statement for statement in seen)
    assert "(7)" in desk.login_as("Super Admin").get("/admin/clients/").get_data(as_text=True)


def test_each_row_links_to_its_own_record(desk):
    """A row's view and edit links, built once per page and given each row's id, lead to that row."""
    import re
    from urllib.parse import parse_qs
    from urllib.parse import urlsplit

    branch = desk.make_branch()
    made = {desk.make_client(branch=branch, name=f"Row {n}", phone=f"+88017111000{n:02d}").id
            for n in range(3)}
    page = desk.login_as("Manager").get("/admin/clients/?search=Row").get_data(as_text=True)
    for kind in ("details", "edit"):
        links = [urlsplit(href.replace("&amp;", "&"))
                 for href in re.findall(rf'href="(/admin/clients/{kind}/\?[^"]+)"', page)]
        ids = {int(parse_qs(link.query)["id"][0]) for link in links}
        assert ids == made, kind
        # Each comes back to the list it was opened from.
        (back,) = {parse_qs(link.query)["url"][0] for link in links}
        assert back.startswith("/admin/clients/?search=Row"), back


def test_a_search_that_fills_less_than_a_page_is_run_once(desk):
    """Page one is read first; fewer rows than a page are their own count, so the search's
    SQL runs once. A full page still asks for the count (capped), and says it."""
    branch = desk.make_branch()
    for n in range(4):
        desk.make_client(branch=branch, name=f"Nayeem {n}", phone=f"+88017112000{n:02d}")
    browser = desk.login_as("Manager")
    with counting_statements() as seen:
        page = browser.get("/admin/clients/?search=Nayeem").get_data(as_text=True)
    assert len([sql for sql in seen if "client_search_key" in sql]) == 1
    assert "(4)" in page
    desk.insert_clients(branch, 60, name="Nayeem {n}", phone="+8801713{n:06d}")
    client_search.write_missing_keys()
    with counting_statements() as seen:
        page = browser.get("/admin/clients/?search=Nayeem").get_data(as_text=True)
    assert len([sql for sql in seen if "client_search_key" in sql]) == 2
    assert "(64)" in page


def test_each_rows_buttons_act_on_that_row(desk):
    """A row's buttons are drawn once per page and given each row's id: each row's view
    link, delete form and checkbox name the row they sit in, and no row carries the
    mark the buttons were drawn with."""
    import re

    from admin_views.base import ROW_ID_MARK

    zone = desk.make_zone()
    made = {desk.make_locker(zone=zone, number=f"ROW-{n}").id for n in range(3)}
    page = desk.login_as("Super Admin").get("/admin/lockers/?search=ROW").get_data(as_text=True)
    assert ROW_ID_MARK not in page
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]
    seen = set()
    for row in rows:
        (checked,) = re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', row)
        (viewed,) = re.findall(r'/admin/lockers/details/\?id=(\d+)', row)
        (deleted,) = re.findall(r'<input id="id" name="id" type="hidden" value="(\d+)"', row)
        assert checked == viewed == deleted
        seen.add(int(checked))
    assert seen == made


@pytest.mark.databases("sqlite")  # how many statements a page sends is the code's doing
def test_the_invoices_list_reads_each_pages_due_dates_and_branches_at_once(app, desk):
    """An unpaid invoice's state needs its instalments' dates and its branch's day: read for
    the page together, not invoice by invoice (the demo's paid invoices never asked)."""
    from tests.test_billing import issue
    from tests.test_billing import make_rental

    for _ in range(6):
        locker = desk.make_locker(zone=desk.make_zone(branch=desk.make_branch()))
        issue(desk, rental=make_rental(desk, locker=locker))
    db.session.commit()
    view = next(view for view in _list_views(app) if view.endpoint == "invoices")
    browser = desk.login_as("Super Admin")
    counts = {}
    for size in (2, 6):
        view.page_size = size
        try:
            with counting_statements() as seen:
                assert browser.get("/admin/invoices/").status_code == 200
        finally:
            del view.page_size
        counts[size] = len(seen)
    assert counts[6] == counts[2], counts


def test_a_whole_large_table_is_said_to_be_past_the_cap_from_the_statistics(app, desk):
    """The clients list unfiltered, with the planner's statistics putting the table past
    twice the cap, says "more than …" without counting; searched, it still counts (capped)."""
    from app.services import planner_statistics

    desk.insert_clients(desk.make_branch(), 25)
    client_search.write_missing_keys()
    db.session.commit()
    view = next(view for view in _list_views(app) if view.endpoint == "clients")
    browser = desk.login_as("Super Admin")

    def page(url):
        view.count_cap, view.page_size = 5, 3
        try:
            with counting_statements() as seen:
                text = browser.get(url).get_data(as_text=True)
        finally:
            del view.count_cap, view.page_size
        return text, [sql for sql in seen if "count(*)" in sql.lower()]

    planner_statistics.refresh()
    estimate = planner_statistics.estimated_rows("client")
    assert estimate is not None and estimate > 10, estimate
    text, counts = page("/admin/clients/")
    assert "(more than 5)" in text and counts == []
    text, counts = page("/admin/clients/?search=Client")
    assert "(more than 5)" in text and len(counts) == 1
