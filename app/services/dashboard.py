"""Each user's dashboard (SPEC D1–D3, D6): its arrangement, and the figures read over a long history.

The widgets themselves (what each shows, who may see it) are the screens'
business (admin_views.dashboard); here is what a user saved, checked against
the widgets they may see, so a forged layout cannot add a widget a role may not
see and a widget whose permission was taken away disappears; and, at the end,
the figures that read a whole period's rentals, kept by app.services.figure_cache
so the dashboard does not count them on every view.
"""

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import DashboardLayout
from app.services import clock
from app.services import figure_cache
from app.services import figures
from app.services.errors import Refusal

SIZES = ("s", "m", "l")
# More than every widget twice over: a layout is a short list, never a payload.
MAX_WIDGETS = 40


class LayoutRefused(Refusal):
    """The layout sent cannot be saved (an unknown widget, a size that does not exist)."""


def layout_of(user_id, allowed, default):
    """[{"key", "size"}] the user sees: what they saved, or `default`, limited to `allowed` keys."""
    saved = db.session.get(DashboardLayout, user_id)
    widgets = saved.widgets if saved is not None else default
    return [dict(item) for item in widgets if item.get("key") in allowed]


def save_layout(user_id, items, allowed):
    """Keep `items` ([{"key", "size"}]) as the user's layout; returns what was saved.

    Refuses, saving nothing, a widget the user may not see, one twice, or a size
    that is not small, medium or large.
    """
    if not isinstance(items, list) or len(items) > MAX_WIDGETS:
        raise LayoutRefused(_l("The dashboard layout could not be read."))
    cleaned, seen = [], set()
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        if not isinstance(key, str) or key not in allowed:
            raise LayoutRefused(_l("That widget is not one you may add."))
        if key in seen:
            raise LayoutRefused(_l("A widget can be on the dashboard once."))
        if size not in SIZES:
            raise LayoutRefused(_l("A widget is small, medium or large."))
        seen.add(key)
        cleaned.append({"key": key, "size": size})
    # Two tabs saving at once: the last one wins, as when one tab saves after the other.
    for _attempt in range(2):
        saved = db.session.get(DashboardLayout, user_id)
        if saved is None:
            db.session.add(DashboardLayout(user_id=user_id, widgets=cleaned))
        else:
            saved.widgets = cleaned
        try:
            db.session.commit()
            break
        except IntegrityError:  # the other tab's first save came in between
            db.session.rollback()
    return cleaned


def reset_layout(user_id):
    """Forget the user's arrangement: they see their role's default again."""
    db.session.execute(db.delete(DashboardLayout).where(DashboardLayout.user_id == user_id))
    db.session.commit()


# --- the figures read over a long history, kept by app.services.figure_cache ------------------

def months_back(today, count):
    """The first day of the month `count` - 1 months before `today`'s (12: a year of months)."""
    first = today.replace(day=1)
    for _ in range(count - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def _today(branch_id):
    return clock.branch_today(branch_id) if branch_id is not None else clock.today()


# How far back each utilisation chart looks: 30 days, 12 weeks, 12 months.
UTILISATION_SPANS = {"day": 30, "week": 12, "month": 12}


@figure_cache.figure("utilisation")
def utilisation(branch_id, by="week"):
    """(today, [Utilised]) of the chart's span by day, week or month."""
    today, count = _today(branch_id), UTILISATION_SPANS[by]
    start = {"day": today - timedelta(days=count - 1),
             "week": today - timedelta(days=7 * count - 1),
             "month": months_back(today, count)}[by]
    return today, figures.utilisation(branch_id, start, today, by=by)


@figure_cache.figure("revenue_chart")
def monthly_revenue(branch_id):
    """(today, [Collected]) of the last 12 months."""
    today = _today(branch_id)
    return today, figures.collections(branch_id, months_back(today, 12), today, by="month")


@figure_cache.figure("renewal_rate")
def renewal_rates(branch_id):
    """{"this"/"last": (first, last day, RenewalRate)} of this month so far and last month."""
    first, today = figures.month_so_far(branch_id)
    last_end = first - timedelta(days=1)
    last_first = last_end.replace(day=1)
    return {"this": (first, today, figures.renewal_rate(branch_id, first, today)),
            "last": (last_first, last_end, figures.renewal_rate(branch_id, last_first, last_end))}


@figure_cache.figure("at_risk")
def clients_at_risk(branch_id):
    return figures.clients_at_risk(branch_id, limit=10)


@figure_cache.figure("expected_revenue")
def expected_revenue(branch_id):
    return figures.expected_revenue_next_30_days(branch_id)


@figure_cache.figure("longest_tenured")
def longest_tenured(branch_id):
    return figures.longest_tenured_clients(branch_id, limit=10)
