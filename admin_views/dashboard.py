"""The dashboard (SPEC D1–D4, D6): widgets each user arranges, every figure a link to its list.

Each widget is named in WIDGETS with the permissions it needs, its default
size and the function that gathers what it shows (from app.services.figures,
the one definition of each figure). A user sees their saved arrangement
(app.services.dashboard) or their role's default; a widget their role may not
see is neither offered nor served: its own URL answers 403.

The page is drawn whole on the server (one request, readable without
waiting); a widget added, resized or refreshed is fetched alone from
/admin/widget/<key>, and the activity feed asks /admin/feed for what happened
since the newest entry it shows.
"""

from dataclasses import dataclass
from datetime import timedelta

from flask import abort
from flask import jsonify
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from admin_views.base import parse_id
from admin_views.base import user_branch_id
from admin_views.billing import INVOICE_STATES
from admin_views.filters import BranchDayBetween
from admin_views.filters import filtered_list_url
from admin_views.filters import home_links
from admin_views.menu import may_open
from app.i18n import local_datetime
from app.i18n import money
from app.i18n import reads_bengali
from app.models import PaymentMethod
from app.services import activity_feed
from app.services import clock
from app.services import dashboard
from app.services import figure_cache
from app.services import figures
from app.services.access import ACCOUNTANT
from app.services.access import FRONT_DESK
from app.services.access import MANAGER
from app.services.access import SUPER_ADMIN
from app.services.digits import bengali_digits
from app.services.errors import Refusal

SIZE_LABELS = {"s": _l("Small"), "m": _l("Medium"), "l": _l("Large")}
FINANCIAL = ("reports-view", "payments-view")
UTILISATION_PERIODS = {"day": _l("By day"), "week": _l("By week"), "month": _l("By month")}


@dataclass(frozen=True)
class Widget:
    key: str
    title: object
    needs: tuple
    size: str
    gather: object  # gather(branch_id, args) -> the template's variables
    # Explained under the title: what the figure counts, where a reader would ask.
    note: object = None
    # Read over the whole history of a chain (seconds there): the page is drawn without it
    # and the browser fetches it, so the rest of the dashboard does not wait.
    lazy: bool = False

    def allowed(self, user):
        return all(user.has_permission(permission) for permission in self.needs)


# --- links ---------------------------------------------------------------------------------

def _between(column_name):
    return lambda flt: isinstance(flt, BranchDayBetween) and flt.column.key == column_name


def _days(first, last):
    return f"{first:%d/%m/%Y} - {last:%d/%m/%Y}"


def _list_between(endpoint, column_name, first, last, *more):
    return filtered_list_url(endpoint, (_between(column_name), _days(first, last)), *more)


def _profile(client_id):
    return url_for("client_profile.index", id=client_id) if may_open("client_profile") else None


def _label(day, pattern):
    """A period's name on a chart, in the reader's digits ("জানু ২৬")."""
    text = format_date(day, pattern)
    return bengali_digits(text) if reads_bengali() else text


def _month_end(first):
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# --- what each widget shows ----------------------------------------------------------------

def _lockers(branch_id, _args):
    return {"counts": figures.lockers_by_status(branch_id), "links": home_links()}


def _occupancy(branch_id, _args):
    zones = figures.occupancy_by_zone(branch_id)
    grid = may_open("locker_grid")
    return {"overall": figures.occupancy(branch_id), "links": home_links(),
            "zones": [(zone, url_for("locker_grid.index", zone=zone.zone_id) if grid else None)
                      for zone in zones]}


def _expiring(branch_id, _args):
    rentals = figures.expiring_this_week(branch_id)
    return {"count": len(rentals), "link": home_links()["expiring"],
            "rentals": [(rental, _profile(rental.client_id)) for rental in rentals[:8]]}


def _revenue(branch_id, _args):
    first, today = figures.month_so_far(branch_id)
    return {"today": figures.revenue_today(branch_id),
            "month": figures.revenue_this_month(branch_id),
            "today_link": _list_between("payments", "paid_at", today, today),
            "month_link": _list_between("payments", "paid_at", first, today)}


def _dues(branch_id, _args):
    from admin_views.people import PaymentStateFilter
    from app.services import client_search

    def payment_state(flt):
        return isinstance(flt, PaymentStateFilter)

    return {"dues": figures.dues(branch_id),
            "link": filtered_list_url("clients", (payment_state, client_search.DUES)),
            "overdue_link": filtered_list_url("clients", (payment_state, client_search.OVERDUE))}


def _new_clients(branch_id, _args):
    first, today = figures.month_so_far(branch_id)
    return {"count": figures.new_clients(branch_id, first, today),
            "link": _list_between("clients", "registered_at", first, today)}


def _renewal_rate(branch_id, _args):
    rates, as_of = figure_cache.read("renewal_rate", branch_id)
    (first, today, this_month), (last_first, last_end, last_month) = rates["this"], rates["last"]
    return {"this_month": this_month, "last_month": last_month, "as_of": as_of,
            "this_link": _list_between("rentals", "ends_at", first, today),
            "last_link": _list_between("rentals", "ends_at", last_first, last_end),
            "last_name": format_date(last_first, "MMMM")}


def _revenue_chart(branch_id, _args):
    (today, months), as_of = figure_cache.read("revenue_chart", branch_id)
    methods = [method for method in PaymentMethod
               if any(month.by_method.get(method) for month in months)]
    return {"chart": {
        "type": "bar", "stacked": True, "money": True,
        "labels": [_label(month.period, "MMM yy") for month in months],
        "links": [_list_between("payments", "paid_at", month.period,
                                min(_month_end(month.period), today)) for month in months],
        "series": [{"label": str(method.label), "key": method.name,
                    "values": [month.by_method.get(method, 0) / 100 for month in months]}
                   for method in methods]},
        "total": sum(month.total for month in months), "as_of": as_of}


def _invoice_states(branch_id, _args):
    today = clock.branch_today(branch_id) if branch_id else clock.today()
    first = dashboard.months_back(today, 12)
    states = figures.invoice_states(branch_id, first, today)

    def link(state):
        from admin_views.billing import InvoiceStateFilter

        return filtered_list_url("invoices", (lambda flt: isinstance(flt, InvoiceStateFilter),
                                              state), (_between("issued_at"), _days(first, today)))

    parts = [("paid", states.paid, states.paid_poisha), ("unpaid", states.unpaid,
                                                         states.unpaid_poisha),
             ("overdue", states.overdue, states.overdue_poisha)]
    return {"states": [(INVOICE_STATES[key], count, poisha, link(key))
                       for key, count, poisha in parts],
            "chart": {"type": "doughnut", "labels": [str(INVOICE_STATES[key]) for key, *_ in parts],
                      "keys": [key for key, *_ in parts],
                      "links": [link(key) for key, *_ in parts],
                      "series": [{"label": str(_l("Invoices")),
                                  "values": [count for _key, count, _poisha in parts]}]}}


def _utilisation_chart(branch_id, args):
    by = args.get("by") if args.get("by") in UTILISATION_PERIODS else "week"
    (today, points), as_of = figure_cache.read("utilisation", branch_id, by=by)
    fmt = {"day": "d MMM", "week": "d MMM", "month": "MMM yy"}[by]
    ends = [point.period for point in points[1:]] + [today + timedelta(days=1)]
    return {"by": by, "periods": UTILISATION_PERIODS, "as_of": as_of, "chart": {
        "type": "line", "percent": True,
        "labels": [_label(point.period, fmt) for point in points],
        "links": [_list_between("rentals", "starts_at", point.period,
                                min(end - timedelta(days=1), today))
                  for point, end in zip(points, ends, strict=True)],
        "series": [{"label": str(_l("Utilisation")),
                    "values": [point.percent for point in points]}]}}


def _feed(branch_id, _args):
    return {"items": [_feed_entry(item) for item in activity_feed.latest(branch_id)]}


def _feed_entry(item):
    if item.rental_id is not None and may_open("rentals"):
        link = url_for("rentals.details_view", id=item.rental_id)
    elif item.client_id is not None:
        link = _profile(item.client_id)
    elif item.locker_id is not None and may_open("lockers"):
        link = url_for("lockers.details_view", id=item.locker_id)
    else:
        link = None
    return {"id": item.id, "label": str(item.label), "when": local_datetime(item.occurred_at),
            "client": item.client_name, "locker": item.locker_number,
            "amount": money(item.amount_poisha) if item.amount_poisha else None,
            "by": item.by, "link": link}


def _at_risk(branch_id, _args):
    clients, as_of = figure_cache.read("at_risk", branch_id)
    return {"clients": [(client, _profile(client.client_id)) for client in clients],
            "as_of": as_of}


def _expected_revenue(branch_id, _args):
    today = clock.branch_today(branch_id) if branch_id else clock.today()
    expected, as_of = figure_cache.read("expected_revenue", branch_id)
    return {"expected": expected, "as_of": as_of,
            "link": _list_between("rentals", "ends_at", today, today + timedelta(days=29))}


def _longest_tenured(branch_id, _args):
    clients, as_of = figure_cache.read("longest_tenured", branch_id)
    return {"clients": [(client, _profile(client.client_id)) for client in clients],
            "as_of": as_of}


def _never_rented(branch_id, _args):
    lockers = figures.lockers_never_rented(branch_id)
    may_see = may_open("lockers")
    return {"count": len(lockers),
            "lockers": [(locker, url_for("lockers.details_view", id=locker.locker_id)
                         if may_see else None) for locker in lockers[:12]]}


WIDGETS = {widget.key: widget for widget in (
    Widget("lockers", _l("Lockers by status"), ("lockers-view",), "l", _lockers),
    Widget("occupancy", _l("Occupancy"), ("lockers-view",), "m", _occupancy,
           _l("Lockers taken (assigned, reserved or overdue) of those not in maintenance or out "
              "of service.")),
    Widget("expiring", _l("Rentals ending within 7 days"), ("rentals-view",), "m", _expiring),
    Widget("revenue", _l("Revenue"), FINANCIAL, "s", _revenue,
           _l("Money received less refunds; key deposits are held for clients and are not "
              "revenue.")),
    Widget("dues", _l("Dues"), FINANCIAL, "s", _dues, lazy=True),
    Widget("new_clients", _l("New clients this month"), ("clients-view",), "s", _new_clients),
    Widget("renewal_rate", _l("Renewal rate"), ("reports-view",), "s", _renewal_rate,
           _l("Rental terms that ended in the month and were continued by the same client."), lazy=True),
    Widget("revenue_chart", _l("Monthly revenue"), FINANCIAL, "l", _revenue_chart, lazy=True),
    Widget("invoice_states", _l("Paid, unpaid and overdue invoices"), FINANCIAL, "m",
           _invoice_states, _l("Invoices issued in the last 12 months, by where they stand now."), lazy=True),
    Widget("utilisation", _l("Utilisation"), ("reports-view",), "l", _utilisation_chart,
           _l("Share of the time lockers could be rented that they were rented."), lazy=True),
    Widget("feed", _l("Live activity"), ("rentals-view",), "m", _feed),
    Widget("at_risk", _l("Clients at risk of not renewing"), ("reports-view", "clients-view"),
           "l", _at_risk, lazy=True),
    Widget("expected_revenue", _l("Expected revenue, next 30 days"), FINANCIAL, "s",
           _expected_revenue,
           _l("What the terms ending in the next 30 days bring if every one is renewed at "
              "today's price."), lazy=True),
    Widget("longest_tenured", _l("Longest-tenured clients"), ("clients-view",), "m",
           _longest_tenured, lazy=True),
    Widget("never_rented", _l("Lockers never rented"), ("reports-view", "lockers-view"), "m",
           _never_rented),
)}


def _defaults(*keys):
    return [{"key": key, "size": WIDGETS[key].size} for key in keys]


ROLE_DEFAULTS = {
    SUPER_ADMIN: _defaults(*WIDGETS),
    MANAGER: _defaults(*WIDGETS),
    FRONT_DESK: _defaults("lockers", "expiring", "feed", "occupancy", "new_clients",
                          "longest_tenured"),
    ACCOUNTANT: _defaults("revenue", "dues", "expected_revenue", "new_clients", "revenue_chart",
                          "invoice_states", "lockers"),
}


def allowed_widgets(user):
    """The keys of the widgets `user` may see, in the catalogue's order."""
    return [key for key, widget in WIDGETS.items() if widget.allowed(user)]


def default_layout(user):
    """The layout of the user's role (the first of their roles that has one), else every widget."""
    for role in user.roles:
        if role.name in ROLE_DEFAULTS:
            return ROLE_DEFAULTS[role.name]
    return _defaults(*WIDGETS)


def layout(user):
    return dashboard.layout_of(user.id, set(allowed_widgets(user)), default_layout(user))


def render_widget(key, size, args=None, *, on_page=False):
    """The HTML of one widget as the current user sees it (their branch).

    On the page a lazy widget is drawn as its frame only; the browser fills it in.
    """
    widget = WIDGETS[key]
    if on_page and widget.lazy:
        return Markup(render_template("admin/dashboard/widget.html", widget=widget, size=size,
                                      size_labels=SIZE_LABELS, waiting=True))
    context = widget.gather(user_branch_id(), args or {})
    return Markup(render_template("admin/dashboard/widget.html", widget=widget, size=size,
                                  size_labels=SIZE_LABELS, **context))


def widget_response(key):
    """GET /admin/widget/<key>: one widget's HTML, 403 when the user's role may not see it."""
    widget = WIDGETS.get(key)
    if widget is None:
        abort(404)
    if not widget.allowed(current_user):
        abort(403)
    size = request.args.get("size")
    return render_widget(key, size if size in dashboard.SIZES else widget.size, request.args)


def save_response():
    """POST /admin/dashboard/layout with {"widgets": [{"key", "size"}]}: the user's arrangement."""
    body = request.get_json(silent=True)
    items = body.get("widgets") if isinstance(body, dict) else None
    try:
        saved = dashboard.save_layout(current_user.id, items, set(allowed_widgets(current_user)))
    except Refusal as refusal:
        return jsonify(error=str(refusal.message)), 400
    return jsonify(widgets=saved)


def feed_response():
    """GET /admin/feed?after=<id>: feed entries newer than the one a screen shows last."""
    if not WIDGETS["feed"].allowed(current_user):
        abort(403)
    after = request.args.get("after")
    after_id = parse_id(after) if after else None
    if after and after_id is None:
        return jsonify(error=str(_l("The entry to start after must be a record id."))), 400
    items = activity_feed.latest(user_branch_id(), after_id=after_id)
    return jsonify(items=[_feed_entry(item) for item in items])
