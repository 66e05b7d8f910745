"""Finding clients the way the desk types (SPEC C3).

A phone number is found however it is typed ("01711-123456", "+880 1711…"),
a locker number finds the client renting it, and the payment state of a
client (has dues / paid / overdue) is one definition used by every list.
"""

import sqlalchemy as sa

from app.models import Client
from app.models import Locker
from app.models import Rental
from app.models import RentalStatus
from app.models import Tag
from app.services import billing
from app.services import clock
from app.services.digits import ascii_digits
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile

# Rentals that still hold a locker for their client.
HOLDING = (RentalStatus.RESERVED, RentalStatus.ACTIVE, RentalStatus.EXPIRED)
DUES, PAID, OVERDUE = "dues", "paid", "overdue"


def _like(text):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(text):
    """A WHERE clause for the client search box; every word must match something.

    Bengali digits find what ASCII digits find: "০১৭১১" is "01711".
    """
    text = ascii_digits(text or "").strip()
    if not text:
        return sa.true()
    try:
        # The whole box as one phone number: spaces and dashes are part of it.
        return Client.phone == normalise_bd_mobile(text)
    except InvalidPhone:
        pass
    conditions = []
    for word in text.split():
        pattern = _like(word)
        digits = "".join(ch for ch in word if ch.isdigit())
        renting = sa.select(Rental.client_id).join(Locker, Rental.locker_id == Locker.id).where(
            sa.func.upper(Locker.number) == word.upper(), Rental.status.in_(HOLDING))
        alternatives = [
            Client.full_name.ilike(pattern, escape="\\"),
            Client.email.ilike(pattern, escape="\\"),
            Client.nid.ilike(pattern, escape="\\"),
            Client.id.in_(renting),
        ]
        if len(digits) >= 4 and digits.lstrip("0"):
            # Part of a number ("1711 123") matches the stored +8801711123456; zeros alone
            # ("0000") would match every phone.
            alternatives.append(Client.phone.like(_like(digits.lstrip("0")), escape="\\"))
        conditions.append(sa.or_(*alternatives))
    return sa.and_(*conditions)


def payment_state_condition(state, today=None):
    """Clients that owe money, have paid everything, or are past due (billing's one definition).

    Dues: an invoice (not cancelled) with an open balance. Overdue: such an
    invoice past its due date, or an instalment of it, at the branch's `today`.
    """
    if state == DUES:
        return Client.id.in_(billing.clients_owing())
    if state == OVERDUE:
        return Client.id.in_(billing.clients_owing(overdue_on=today or clock.today()))
    if state == PAID:
        return Client.id.not_in(billing.clients_owing())
    raise ValueError(state)


def tag_condition(tag_id):
    """Clients carrying the tag."""
    return Client.tags.any(Tag.id == int(tag_id))

