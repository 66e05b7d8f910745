"""Maintenance tickets on lockers (SPEC L6): open, work on, resolve, repeat, and what it costs.

Every change to a ticket goes through a function here. Each one is a whole desk
action: it commits, or rolls back and raises MaintenanceError, whose `message`
is for the screen and whose `field` names the form field it is about, so a
refused ticket leaves nothing behind (not even its photo).

The ticket's own state machine is TRANSITIONS; the locker's status is changed
only through app.services.lockers.change_status, in the same transaction.
"""

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Branch
from app.models import Client
from app.models import Locker
from app.models import LockerStatus
from app.models import MaintenanceTicket
from app.models import TicketPriority
from app.models import TicketStatus
from app.models import User
from app.models import utcnow
from app.services import clock
from app.services import lockers as locker_service
from app.services import money
from app.services import uploads
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.transactions import desk_action

T = TicketStatus
TRANSITIONS = {
    T.OPEN: frozenset({T.IN_PROGRESS, T.RESOLVED}),
    T.IN_PROGRESS: frozenset({T.RESOLVED}),
    T.RESOLVED: frozenset(),
}
# Where a locker may go back to when its last ticket is resolved.
PUT_BACK_TARGETS = (LockerStatus.AVAILABLE, LockerStatus.CLEANING)
DUE_SOON_DAYS = 7
MAX_REPEAT_DAYS = 3650
# ৳99,999,999.99: anything larger is a typing slip, not a repair bill.
MAX_COST_POISHA = 9_999_999_999
TOP_LOCKERS = 20
UPLOAD_FOLDER = "maintenance"



class MaintenanceError(Refusal):
    """A ticket operation the rules refuse; `message` is for the screen, `field` the form field."""


@dataclass
class TicketOpened:
    """What open_ticket() did: the ticket, and whether the locker left service (or why not)."""

    ticket: MaintenanceTicket
    locker_changed: bool = False
    locker_note: object = None


@dataclass
class TicketResolved:
    """What resolve_ticket() did: the ticket, its successor if it repeats, the locker's move."""

    ticket: MaintenanceTicket
    successor: MaintenanceTicket | None = None
    locker_status: LockerStatus | None = None


@dataclass
class DueTicket:
    """A scheduled ticket on the due list; `days` is due_on minus the branch's today."""

    ticket: MaintenanceTicket
    overdue: bool
    days: int


@dataclass
class CostAnalysis:
    """Ticket costs (integer poisha) of the last months, broken down several ways."""

    months: list = dataclass_field(default_factory=list)      # [(first day of month, poisha)]
    zones: list = dataclass_field(default_factory=list)       # [(Zone, poisha)]
    lockers: list = dataclass_field(default_factory=list)     # [(Locker, poisha)], top 20
    priorities: list = dataclass_field(default_factory=list)  # [(TicketPriority, poisha)]
    charged_to_clients: int = 0
    total: int = 0
    ticket_count: int = 0


# --- time and money -----------------------------------------------------------------

def parse_taka(text, field="cost"):
    """Taka as typed by staff to integer poisha (app.services.money); empty means 0."""
    try:
        return money.parse_taka(text, maximum=MAX_COST_POISHA)
    except money.InvalidAmount as exc:
        raise MaintenanceError(exc.message, field) from exc


# --- loading with the branch check ---------------------------------------------------

def _check_branch(branch_id, by_user_id, field):
    """Staff limited to a branch act on that branch only, whatever a form sent."""
    if not may_act_on_branch(by_user_id, branch_id):
        raise MaintenanceError(_l("This locker belongs to another branch."), field)


def _locker_for(locker_id, by_user_id):
    locker = db.session.get(Locker, int(locker_id)) if locker_id not in (None, "") else None
    if locker is None:
        raise MaintenanceError(_l("Choose the locker."), "locker")
    _check_branch(locker.branch_id, by_user_id, "locker")
    return locker


def _ticket_for(ticket_id, by_user_id):
    """The ticket, locked for this transaction so two staff cannot resolve it twice."""
    ticket = db.session.get(MaintenanceTicket, ticket_id, with_for_update=True,
                            populate_existing=True)
    if ticket is None:
        raise MaintenanceError(_l("That ticket does not exist."))
    _check_branch(ticket.branch_id, by_user_id, None)
    return ticket


# --- field checks ----------------------------------------------------------------------

def _priority(value):
    if isinstance(value, TicketPriority):
        return value
    try:
        return TicketPriority[str(value)]
    except KeyError as exc:
        raise MaintenanceError(_l("Choose a priority."), "priority") from exc


def _assignee_id(assignee_id, locker):
    if assignee_id in (None, ""):
        return None
    user = db.session.get(User, int(assignee_id))
    # Staff with no branch work for every branch, so they may take any ticket.
    if user is None or not user.active or user.branch_id not in (None, locker.branch_id):
        raise MaintenanceError(_l("Assign the ticket to a staff member of this locker's branch."),
                               "assignee")
    return user.id


def _client_id(client_id, locker):
    if client_id in (None, ""):
        return None
    client = db.session.get(Client, int(client_id))
    if client is None or client.branch_id != locker.branch_id:
        raise MaintenanceError(_l("The client must be registered at this locker's branch."),
                               "client")
    return client.id


def _repeat_days(value):
    if value in (None, ""):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError) as exc:
        raise MaintenanceError(_l("Repeat every 1 to %(days)d days.", days=MAX_REPEAT_DAYS),
                               "repeat_every_days") from exc
    if not 1 <= days <= MAX_REPEAT_DAYS:
        raise MaintenanceError(_l("Repeat every 1 to %(days)d days.", days=MAX_REPEAT_DAYS),
                               "repeat_every_days")
    return days


def _due_on(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise MaintenanceError(_l("Enter a date."), "due_on")


def _fill(ticket, locker, *, description, priority, assignee_id, client_id, cost_taka, due_on,
          repeat_every_days):
    """Check and set the fields staff type; raises before anything is changed on error."""
    description = (description or "").strip()
    if not description:
        raise MaintenanceError(_l("Describe the problem or the work to do."), "description")
    values = {
        "description": description,
        "priority": _priority(priority),
        "assignee_id": _assignee_id(assignee_id, locker),
        "client_id": _client_id(client_id, locker),
        "cost_poisha": parse_taka(cost_taka),
        "due_on": _due_on(due_on),
        "repeat_every_days": _repeat_days(repeat_every_days),
    }
    for name, value in values.items():
        setattr(ticket, name, value)


def _move(ticket, to_status):
    """The one place a ticket's status changes."""
    if to_status not in TRANSITIONS[ticket.status]:
        raise MaintenanceError(_l("Ticket #%(id)s cannot go from %(from_status)s to %(to_status)s.",
                                  id=ticket.id, from_status=ticket.status.label,
                                  to_status=to_status.label))
    ticket.status = to_status


# --- desk actions ----------------------------------------------------------------------

def _take_out_of_use(locker, ticket, by_user_id):
    """Move the locker to Maintenance for an urgent ticket: (changed, why not)."""
    if locker.status is LockerStatus.MAINTENANCE:
        return False, None
    if locker.status is LockerStatus.ASSIGNED:
        # The state machine allows Assigned → Maintenance, but a client's things
        # are inside: the desk must empty or move it first, not lock the client out.
        return False, _l("Locker %(number)s stays Assigned: a client's things are inside. "
                         "Put it in Maintenance once it is emptied.", number=locker.number)
    try:
        locker_service.change_status(locker.id, LockerStatus.MAINTENANCE, by_user_id=by_user_id,
                                     reason=f"Maintenance ticket #{ticket.id}", manual=True)
    except locker_service.LockerError as exc:
        return False, exc.message
    return True, None


@desk_action
def open_ticket(locker_id, description, *, priority, by_user_id, assignee_id=None,
                client_id=None, cost_taka="", due_on=None, repeat_every_days=None, photo=None,
                take_out_of_use=True):
    """Open a ticket on a locker  returns a TicketOpened.

    `cost_taka` is the text staff typed; `photo` the uploaded bytes. An Urgent
    ticket with `take_out_of_use` moves the locker to Maintenance in the same
    transaction; if the locker cannot go there the ticket is still opened and
    `locker_note` says why (nothing when it already is in Maintenance).
    """
    stored = None
    try:
        locker = _locker_for(locker_id, by_user_id)
        # Not flushed half-filled while _fill() looks up the assignee and the client.
        with db.session.no_autoflush:
            ticket = MaintenanceTicket(branch_id=locker.branch_id, locker=locker, status=T.OPEN,
                                       opened_by_id=by_user_id, opened_at=utcnow())
            _fill(ticket, locker, description=description, priority=priority,
                  assignee_id=assignee_id, client_id=client_id, cost_taka=cost_taka,
                  due_on=due_on, repeat_every_days=repeat_every_days)
        stored = ticket.photo_path = uploads.store_photo(photo, UPLOAD_FOLDER)
        db.session.add(ticket)
        db.session.flush()
        opened = TicketOpened(ticket)
        if take_out_of_use and ticket.priority is TicketPriority.URGENT:
            opened.locker_changed, opened.locker_note = _take_out_of_use(locker, ticket, by_user_id)
    except Exception:
        uploads.discard(stored)
        raise
    return opened


@desk_action
def update_ticket(ticket_id, *, by_user_id, description, priority, assignee_id=None,
                  client_id=None, cost_taka="", due_on=None, repeat_every_days=None, photo=None):
    """Change what staff typed on an unresolved ticket (not its locker or status)."""
    stored = None
    try:
        ticket = _ticket_for(ticket_id, by_user_id)
        if ticket.status is T.RESOLVED:
            raise MaintenanceError(_l("A resolved ticket cannot be changed."))
        _fill(ticket, ticket.locker, description=description, priority=priority,
              assignee_id=assignee_id, client_id=client_id, cost_taka=cost_taka, due_on=due_on,
              repeat_every_days=repeat_every_days)
        stored = uploads.store_photo(photo, UPLOAD_FOLDER)
        if stored:
            ticket.photo_path = stored
    except Exception:
        uploads.discard(stored)
        raise
    return ticket


@desk_action
def start_ticket(ticket_id, *, by_user_id):
    """Open → In progress; commits."""
    ticket = _ticket_for(ticket_id, by_user_id)
    _move(ticket, T.IN_PROGRESS)
    return ticket


def _keeps_locker_in_maintenance(locker_id, *, except_ticket_id, today):
    """Other unresolved tickets that need the locker out of use now.

    A scheduled ticket that is not due yet does not: the locker can be used
    until then.
    """
    stmt = db.select(MaintenanceTicket).where(
        MaintenanceTicket.locker_id == locker_id,
        MaintenanceTicket.id != except_ticket_id,
        MaintenanceTicket.status != T.RESOLVED,
        db.or_(MaintenanceTicket.due_on.is_(None), MaintenanceTicket.due_on <= today),
    ).order_by(MaintenanceTicket.id)
    return list(db.session.execute(stmt).scalars())


def other_tickets_holding_locker(ticket):
    """The other open tickets that keep this ticket's locker in Maintenance."""
    return _keeps_locker_in_maintenance(ticket.locker_id, except_ticket_id=ticket.id,
                                        today=clock.today(ticket.branch.timezone))


def can_put_back(ticket):
    """True if resolving `ticket` may return its locker to use (Available or Cleaning)."""
    return (ticket.status is not T.RESOLVED
            and ticket.locker.status is LockerStatus.MAINTENANCE
            and not other_tickets_holding_locker(ticket))


def _put_back_target(value):
    """None (leave the locker as it is), or Available/Cleaning."""
    if value in (None, ""):
        return None
    status = value if isinstance(value, LockerStatus) else LockerStatus.__members__.get(str(value))
    if status not in PUT_BACK_TARGETS:
        raise MaintenanceError(_l("Choose where the locker goes."), "locker_to")
    return status


def _successor(ticket, by_user_id, today):
    base = ticket.due_on or today
    return MaintenanceTicket(
        branch_id=ticket.branch_id, locker_id=ticket.locker_id, description=ticket.description,
        priority=ticket.priority, status=T.OPEN, assignee_id=ticket.assignee_id,
        opened_by_id=by_user_id, opened_at=utcnow(), cost_poisha=0,
        due_on=base + timedelta(days=ticket.repeat_every_days),
        repeat_every_days=ticket.repeat_every_days,
    )


@desk_action
def resolve_ticket(ticket_id, *, by_user_id, resolution, cost_taka="", locker_to=None):
    """Resolve a ticket with a note and its final cost; commits and returns a TicketResolved.

    `locker_to` (Available or Cleaning) puts the locker back in use, allowed
    only when it is in Maintenance and no other open ticket keeps it there. A
    repeating ticket opens its successor, due `repeat_every_days` after this
    one's due date (or today).
    """
    ticket = _ticket_for(ticket_id, by_user_id)
    resolution = (resolution or "").strip()
    if not resolution:
        raise MaintenanceError(_l("Say what was done."), "resolution")
    if len(resolution) > 255:
        raise MaintenanceError(_l("Keep the note to %(count)d characters.", count=255),
                               "resolution")
    cost = parse_taka(cost_taka)
    locker_to = _put_back_target(locker_to)
    if locker_to is not None and not can_put_back(ticket):
        raise MaintenanceError(_l("Locker %(number)s cannot be put back in use now.",
                                  number=ticket.locker.number), "locker_to")
    today = clock.today(ticket.branch.timezone)
    _move(ticket, T.RESOLVED)
    ticket.resolved_at = utcnow()
    ticket.resolution = resolution
    ticket.cost_poisha = cost
    result = TicketResolved(ticket)
    if ticket.repeat_every_days:
        result.successor = _successor(ticket, by_user_id, today)
        db.session.add(result.successor)
    if locker_to is not None:
        locker_service.change_status(ticket.locker_id, locker_to, by_user_id=by_user_id,
                                     reason=f"Maintenance ticket #{ticket.id} resolved",
                                     manual=True)
        result.locker_status = locker_to
    return result


# --- lists and figures -----------------------------------------------------------------

def tickets_for_locker(locker_id):
    """Every ticket of a locker, newest first (the locker page's maintenance history)."""
    stmt = (db.select(MaintenanceTicket).where(MaintenanceTicket.locker_id == locker_id)
            .order_by(MaintenanceTicket.opened_at.desc(), MaintenanceTicket.id.desc()))
    return list(db.session.execute(stmt).scalars())


def _branch_timezones(branch_id=None):
    stmt = db.select(Branch.id, Branch.timezone)
    if branch_id is not None:
        stmt = stmt.where(Branch.id == branch_id)
    return dict(db.session.execute(stmt).all())


def due_and_overdue(branch_id=None, *, within_days=DUE_SOON_DAYS):
    """Unresolved scheduled tickets due within `within_days`, and overdue ones, soonest first.

    "Today" is each branch's own date, so a ticket due today is not overdue
    until the branch's midnight has passed.
    """
    todays = {bid: clock.today(tz) for bid, tz in _branch_timezones(branch_id).items()}
    if not todays:
        return []
    stmt = db.select(MaintenanceTicket).where(
        MaintenanceTicket.status != T.RESOLVED,
        MaintenanceTicket.due_on.is_not(None),
        MaintenanceTicket.due_on <= max(todays.values()) + timedelta(days=within_days),
    ).order_by(MaintenanceTicket.due_on, MaintenanceTicket.id)
    if branch_id is not None:
        stmt = stmt.where(MaintenanceTicket.branch_id == branch_id)
    rows = []
    for ticket in db.session.execute(stmt).scalars():
        today = todays[ticket.branch_id]
        days = (ticket.due_on - today).days
        if days <= within_days:
            rows.append(DueTicket(ticket, overdue=days < 0, days=days))
    return rows


def _last_months(today, months):
    """[(year, month)] of the `months` months ending with today's, newest first."""
    year, month = today.year, today.month
    keys = []
    for _ in range(months):
        keys.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys


def cost_analysis(branch_id=None, *, today=None, months=12):
    """Costs of tickets opened in the last `months` months (this one included).

    A ticket counts in the month it was opened, in its branch's timezone, with
    its current cost (the final cost once resolved). Grouped in Python because
    month extraction differs on SQLite, PostgreSQL and MariaDB.
    """
    today = today or clock.today()
    keys = _last_months(today, months)
    oldest = date(*keys[-1], 1)
    # A day of margin: the query is in UTC, the months are local.
    since = datetime.combine(oldest - timedelta(days=1), time())
    timezones = _branch_timezones(branch_id)
    stmt = (db.select(MaintenanceTicket).where(MaintenanceTicket.opened_at >= since)
            .order_by(MaintenanceTicket.id))
    if branch_id is not None:
        stmt = stmt.where(MaintenanceTicket.branch_id == branch_id)
    by_month = dict.fromkeys(keys, 0)
    by_zone, by_locker = {}, {}
    by_priority = dict.fromkeys(TicketPriority, 0)
    result = CostAnalysis()
    for ticket in db.session.execute(stmt).scalars():
        opened = clock.to_local(ticket.opened_at, timezones.get(ticket.branch_id))
        key = (opened.year, opened.month)
        if key not in by_month:
            continue
        cost = ticket.cost_poisha
        by_month[key] += cost
        locker = ticket.locker
        by_zone[locker.zone] = by_zone.get(locker.zone, 0) + cost
        by_locker[locker] = by_locker.get(locker, 0) + cost
        by_priority[ticket.priority] += cost
        if ticket.client_id is not None:
            result.charged_to_clients += cost
        result.total += cost
        result.ticket_count += 1
    result.months = [(date(year, month, 1), by_month[(year, month)]) for year, month in keys]
    result.zones = sorted(by_zone.items(), key=lambda item: (-item[1], str(item[0]), item[0].id))
    result.lockers = sorted(((locker, cost) for locker, cost in by_locker.items() if cost > 0),
                            key=lambda item: (-item[1], item[0].number, item[0].id))[:TOP_LOCKERS]
    result.priorities = list(by_priority.items())
    return result
