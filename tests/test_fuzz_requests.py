"""No crafted request gets a 500: every URL rule, every role, inputs drawn by Hypothesis.

Every rule of the app's URL map, with each of its methods, is called with query
strings and forms Hypothesis draws: a missing `id`, ids far beyond any column's
range, negative or Bengali digits, choices that do not exist, list filters with
impossible dates and numbers, page -1, sort 999, actions nobody declared, row
ids that are not ids. Hypothesis also draws who sends them: an anonymous
browser, a Super Admin, or a Manager, Front Desk or Accountant limited to one
branch. A bad input may be refused (400, 403, 404, a redirect, a form with a
message); it may never break the server.

The names a rule is fuzzed with come from the rule itself (path arguments),
from Flask-Admin (its list arguments, filters, actions, ajax fields and form
fields) and from the request arguments and form fields its module names.
Hypothesis runs derandomized, so CI sends the same requests every time. A few
examples per rule and method keep the file near a minute on SQLite;
PostgreSQL and MariaDB are where out-of-range numbers used to fail.
"""

import re
import sys
import traceback
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

from app.extensions import db
from app.models import Coupon
from app.models import CouponKind
from app.models import DiscountKind
from app.models import DiscountRule
from app.models import Key
from app.models import PaymentMethod
from app.models import PriceRule
from app.models import RentalTerm
from app.models import Tag
from app.models import TicketPriority
from app.models import ZoneKind
from app.services import billing
from app.services import clients
from app.services import clock
from app.services import handover
from app.services import keys
from app.services import lost_found
from app.services import maintenance
from app.services import rentals
from app.services import waitlist
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN

pytestmark = pytest.mark.slow

EXAMPLES_PER_RULE = 2
ANONYMOUS = "anonymous"
ROLES = (FRONT_DESK, ANONYMOUS, SUPER_ADMIN, MANAGER, ACCOUNTANT)
# Numbers no id column holds, written as a crafted URL or form would carry them.
HUGE = ("99999999999999999999", "-99999999999999999999", "9223372036854775808",
        "2147483648", "-2147483649", "18446744073709551616")
NASTY = (*HUGE, "-1", "0", "১২৩", "٣", "1.5", "1e309", "nan", "inf", "abc", "", " ", "__None",
         "0x1F", "'", "%", "_", "\\", "None", "null", "[]", "true", "on",
         "9999-12-31", "0001-01-01", "0000-00-00", "2024-02-30", "99999-01-01",
         "2024-01-01 to 2023-01-01", "2024-01-01 00:00:00 to 99999-01-01 00:00:00",
         "9999-12-31 23:59:59", "১২/০৩/২০২৬", "\u202e", "𝟙𝟚", "NEW", "ACTIVE", "delete",
         "a\x00b", "/x\r\nSet-Cookie: a=b")
# Values for page, sort, offset and limit.
NUMBERS = (*HUGE, "-1", "0", "1", "999", "abc", "")
# Values for list filters: single dates where a range is expected, ranges backwards,
# years no database keeps, numbers beyond 32 bits, names no enum has.
FILTER_VALUES = ("2024-01-01", "2024-01-01 to 2023-01-01", "0001-01-01 to 9999-12-31",
                 "0999-12-31", "2024-01-01 00:00:00", "0001-01-01 00:00:00 to 2024-01-01 00:00:00",
                 "2147483648", "-2147483649", "9223372036854775807", "1,2,2147483648", "12:00:00",
                 "25:00:00", "1e308", "nope", "1", "0")
# /healthz says 503 when a dependency (an RQ worker) is down: a designed answer, not a crash.
DESIGNED_5XX = {"web.healthz": (503,)}
# Request arguments a view module reads by name: request.args.get("x"), request.form["x"] …
READS = re.compile(r"request\.(?:args|form|values|files)(?:\.get|\.getlist|\.get_all)?"
                   r"[\(\[]\s*[\"']([\w\-]+)[\"']")
# Fields of the forms a module declares: `locker_number = StringField(...)`.
FIELDS = re.compile(r"^\s+(\w+)\s*=\s*(?:\w+\.)?\w*Field\(", re.MULTILINE)
APP_DIR = Path(__file__).resolve().parent.parent / "app"


def _form_names(form_class):
    """The field names of a WTForms form class, without instantiating it."""
    return {name for name in dir(form_class)
            if isinstance(getattr(form_class, name, None), UnboundField)}


def _names_read_by(path):
    """Request arguments and form fields a module names in its source."""
    source = path.read_text(encoding="utf-8") if path.exists() else ""
    return set(READS.findall(source)) | set(FIELDS.findall(source))


def _world(desk):
    """Two branches with a bit of everything, so real ids sit beside crafted ones."""
    home, away = desk.make_branch(), desk.make_branch()
    ids = {"branch": [home.id, away.id]}
    manager = desk.make_user(MANAGER)
    clients.publish_terms("Terms", "Lockers are emptied after the grace period.",
                          by_user_id=manager.id)
    db.session.add_all([Tag(name="VIP"), DiscountRule(name="Yearly", kind=DiscountKind.TERM,
                                                      term=RentalTerm.YEARLY, percent_bp=1000),
                        Coupon(code="SPRING", kind=CouponKind.PERCENT, percent_bp=500),
                        PriceRule(term=RentalTerm.MONTHLY, price_poisha=90000,
                                  effective_from=clock.today("Asia/Dhaka"))])
    db.session.commit()
    for branch in (home, away):
        zone = desk.make_zone(branch=branch, kind=ZoneKind.FAMILY)
        locker, spare = desk.make_locker(zone=zone), desk.make_locker(zone=zone)
        key = Key(locker=locker, tag=keys.key_tag_for(branch, locker.number))
        db.session.add(key)
        db.session.commit()
        client = desk.make_client(branch=branch, name=f"Client of {branch.name}")
        waiting = desk.make_client(branch=branch, name=f"Waiting at {branch.name}")
        rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=manager.id)
        invoice = billing.invoice_of(rental.id)
        payment = billing.record_payment(invoice.id, 10000, PaymentMethod.CASH,
                                         by_user_id=manager.id)
        handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=manager.id)
        ticket = maintenance.open_ticket(spare.id, "Hinge", priority=TicketPriority.NORMAL,
                                         by_user_id=manager.id).ticket
        item = lost_found.record_item(
            spare.id, "Towel", by_user_id=manager.id,
            cleaned_out_on=clock.today(branch.timezone) - timedelta(days=120))
        entry = waitlist.join(waiting.id, zone.id, by_user_id=manager.id)
        for name, record in (("zone", zone), ("floor", zone.floor), ("locker", locker),
                             ("locker", spare), ("key", key), ("client", client),
                             ("client", waiting), ("rental", rental), ("invoice", invoice),
                             ("payment", payment), ("ticket", ticket), ("item", item),
                             ("entry", entry)):
            ids.setdefault(name, []).append(record.id)
    return home, sorted({str(i) for found in ids.values() for i in found}, key=int)


def _views(app):
    """Each admin view by its endpoint."""
    return {view.endpoint: view for view in app.extensions["admin"][0]._views}


def _names_for(rule, view):
    """The argument names a request to `rule` is fuzzed with."""
    names = {"id", "url"}
    if view is not None:
        for form_class in (getattr(view, "_create_form_class", None),
                           getattr(view, "_edit_form_class", None)):
            names |= _form_names(form_class) if form_class is not None else set()
        names |= _names_read_by(Path(sys.modules[type(view).__module__].__file__))
        names |= {"page", "page_size", "sort", "desc", "search", "action", "rowid", "name", "query",
                  "offset", "limit", "list_form_pk"}
        names |= {f"flt{pos}_{key}" for pos, key in enumerate(getattr(view, "_filter_args", None)
                                                              or {})}
    elif rule.endpoint.startswith(("web.", "security.")):
        names |= _names_read_by(APP_DIR / "web.py") | _names_read_by(APP_DIR / "auth.py")
        names |= {"next", "email", "password", "code", "remember", "locale"}
    names.discard("csrf_token")
    return sorted(names)


def _arguments(rule, view, real_ids):
    """A strategy for the query string or form: some of the rule's names, each with 1-3 values.

    Most values come from NASTY, real ids, numbers and text; the arguments that
    steer Flask-Admin (an action and its rows, an ajax field, a filter) draw from
    what the view really has as well, so the request gets past the first check.
    """
    text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=12)
    anything = st.one_of(st.sampled_from(NASTY), st.sampled_from(real_ids),
                         st.integers().map(str), text)
    actions = [name for name, *_ in getattr(view, "_actions", None) or []] + ["nope"]
    ajax = sorted(getattr(view, "_form_ajax_refs", None) or {}) + ["nope"]
    row = st.one_of(st.sampled_from(real_ids), anything)
    special = {
        "action": st.sampled_from(actions), "rowid": row, "name": st.sampled_from(ajax),
        "page": st.sampled_from(NUMBERS), "sort": st.sampled_from(NUMBERS),
        "offset": st.sampled_from(NUMBERS), "limit": st.sampled_from(NUMBERS),
    }
    filter_value = st.one_of(st.sampled_from(FILTER_VALUES), anything)

    def values_of(name):
        if name in special:
            return special[name]
        return filter_value if name.startswith("flt") else anything

    optional = {name: st.lists(values_of(name), min_size=1, max_size=3)
                for name in _names_for(rule, view)}
    # An action or an ajax lookup says which one it is, so that one is always sent.
    endpoint = rule.endpoint.rsplit(".", 1)[-1]
    steering = {"action_view": ("action", "rowid"), "ajax_lookup": ("name",)}.get(endpoint, ())
    required = {name: optional.pop(name) for name in steering if view is not None}
    return st.fixed_dictionaries(required, optional=optional)


def _path_values(rule):
    """A strategy for each argument in the rule's path."""
    path = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if kind == "IntegerConverter":
            # Not the real ids: rendering their PDFs would take the whole time budget.
            path[name] = st.one_of(st.sampled_from([0, 2**31, 2**63, 10**20]),
                                   st.integers(min_value=10**6))
        elif name == "export_type":
            path[name] = st.sampled_from(["csv", "xlsx", "json", "pdf", "CSV", "x" * 40])
        else:
            path[name] = st.one_of(st.sampled_from(["a.png", "../../etc/passwd", "x/y.js",
                                                    "%00", "clients/1.jpg"]),
                                   st.text(min_size=1, max_size=12))
    return st.fixed_dictionaries(path)


def _build_url(adapter, rule, path_args):
    """The URL of `rule` with the drawn path arguments (the router may still refuse it)."""
    return adapter.build(rule.endpoint, path_args) if rule.arguments else rule.rule


def _send(browser, method, url, args):
    """GET with the arguments as a query string; POST them as the form and the query string."""
    headers = {"Accept-Language": "en"}
    if method == "GET":
        return browser.get(url, query_string=args, headers=headers)
    return browser.post(url, query_string=args, data=args, headers=headers)


def _where(exc):
    """The innermost frame of our own code an exception passed through."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if "/site-packages/" not in frame.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} {frame.line}"


def _fuzz_rule(browsers, adapter, rule, method, first_role, strategies, failures):
    """Hypothesis draws a role and the arguments; a status >= 500 or an exception is recorded.

    The first example (Hypothesis starts with the simplest) sends no arguments at
    all, as `first_role`; the rules take turns at which role that is.
    """
    arguments, path_values = strategies

    @settings(max_examples=EXAMPLES_PER_RULE, deadline=None, derandomize=True, database=None,
              phases=(Phase.generate,), report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(turn=st.integers(0, len(ROLES) - 1), path_args=path_values, args=arguments)
    def check(turn, path_args, args):
        role = ROLES[(first_role + turn) % len(ROLES)]
        url = _build_url(adapter, rule, path_args)
        try:
            response = _send(browsers[role], method, url, args)
        except Exception as exc:
            raise AssertionError(f"{role}: {method} {url} {args!r} raised {exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0][:200]} at {_where(exc)}") from None
        allowed = response.status_code < 500 or response.status_code in DESIGNED_5XX.get(
            rule.endpoint, ())
        assert allowed, f"{role}: {method} {url} {args!r} → {response.status_code}"

    try:
        check()
    except AssertionError as failed:
        failures.append(str(failed).splitlines()[0])


def _browsers(desk, home):
    """A browser per role: anonymous, a Super Admin, and staff limited to `home`."""
    return {role: desk.app.test_client() if role == ANONYMOUS
            else desk.login_as(role, branch=None if role == SUPER_ADMIN else home)
            for role in ROLES}


# The server databases are the strict ones (integer ranges, dates, string lengths, enum
# checks); SQLite stores whatever it is given, so a crafted value that breaks a query
# shows up there last, if at all.
@pytest.mark.databases("postgresql", "mariadb")
def test_no_crafted_request_breaks_the_server(desk):
    """Whatever a browser sends to any URL, the answer is a page, a refusal or a redirect."""
    # Flask-Admin would otherwise turn an error in a form's save into a flashed message.
    desk.app.config["ADMIN_RAISE_ON_VIEW_EXCEPTION"] = True
    home, real_ids = _world(desk)
    browsers = _browsers(desk, home)
    views = _views(desk.app)
    adapter = desk.app.url_map.bind("localhost")
    failures = []
    # Signing out last, so the other rules are called by signed-in staff.
    rules = sorted(desk.app.url_map.iter_rules(),
                   key=lambda rule: (rule.endpoint == "security.logout", rule.rule))
    turn = 0
    for rule in rules:
        view = views.get(rule.endpoint.split(".", 1)[0])
        strategies = (_arguments(rule, view, real_ids), _path_values(rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            _fuzz_rule(browsers, adapter, rule, method, turn % len(ROLES), strategies, failures)
            turn += 1
    assert not failures, f"{len(failures)} requests broke the server:\n" + "\n".join(failures)
