"""Finding clients the way the desk types (SPEC C3).

A phone number is found however it is typed ("01711-123456", "+880 1711…"),
a locker number finds the client renting it, and the payment state of a
client (has dues / paid / overdue) is one definition used by every list.
"""

import re
import unicodedata

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Client
from app.models import ClientSearchKey
from app.models import Locker
from app.models import Rental
from app.models import RentalStatus
from app.models import Tag
from app.models.clients import SEARCH_KEY_LENGTH
from app.services import billing
from app.services import clock
from app.services.digits import ascii_digits
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile

# Rentals that still hold a locker for their client.
HOLDING = (RentalStatus.RESERVED, RentalStatus.ACTIVE, RentalStatus.EXPIRED)
DUES, PAID, OVERDUE = "dues", "paid", "overdue"


# Spellings of the same name word, found by one another ("Md." is "Mohammad").
# Each group is stored and searched under its first spelling as well.
NAME_VARIANTS = (
    ("md", "mohammad", "mohammed", "muhammad", "muhammed", "mohamed", "mohd", "mohamad",
     "মোঃ", "মো", "মোহাম্মদ", "মুহাম্মদ", "মোহাম্মাদ"),
    ("mst", "mosammat", "mosammet", "mossammat", "mosamat", "most", "মোসাঃ", "মোসা",
     "মোসাম্মত", "মোছাঃ", "মোছাম্মৎ"),
    ("abdul", "abdool", "আব্দুল", "আবদুল"),
)
_VARIANT_OF = {spelling: group[0] for group in NAME_VARIANTS for spelling in group}

# Key kinds: the first characters of every key say what it was made from.
NAME, EMAIL, NID, PHONE, PHONE_END = "n:", "e:", "i:", "p:", "t:"
# Digits fewer than this are not searched as part of a phone or NID: "017" is everyone.
MIN_DIGITS = 4
_WORD = re.compile(r"[0-9a-z\u00df-\u024f\u0980-\u09ff]+")
_LATIN_MARKS = re.compile(r"[\u0300-\u036f]")
# Typing variants of Bengali that look the same: joiners, and khanda ta written as ta + virama.
_BENGALI_SAME = str.maketrans({"\u200c": None, "\u200d": None, "\u09ce": "\u09a4\u09cd"})


def fold(text):
    """Text as search keys hold it: any case, Latin accents and Bengali typing variants alike.

    "Rúmana" and "RUMANA" fold to "rumana"; "য়" typed as one character or as
    য + nukta folds to the same; Bengali digits become ASCII.
    """
    text = unicodedata.normalize("NFKD", ascii_digits(str(text or "")))
    text = _LATIN_MARKS.sub("", text).translate(_BENGALI_SAME)
    return unicodedata.normalize("NFC", text).casefold()


def name_words(text):
    """The folded words of a name: "Md. Abdur-Rahman" → ["md", "abdur", "rahman"]."""
    return _WORD.findall(fold(text))


def _phone_digits(phone):
    """The national number without its leading 0: +8801711123456 → "1711123456"."""
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    return digits[3:] if digits.startswith("880") else digits.lstrip("0")


def _key(kind, text):
    return (kind + text)[:SEARCH_KEY_LENGTH]


def search_keys(full_name, phone, email, nid):
    """Every key a client with these details is found by (see ClientSearchKey)."""
    keys = set()
    for word in name_words(full_name):
        keys.add(_key(NAME, word))
        if word in _VARIANT_OF:
            keys.add(_key(NAME, _VARIANT_OF[word]))
    digits = _phone_digits(phone)
    if digits:
        keys.add(_key(PHONE, digits))
        keys.add(_key(PHONE_END, digits[::-1]))
    if email:
        keys.add(_key(EMAIL, fold(email).strip()))
    nid_digits = "".join(ch for ch in ascii_digits(nid or "") if ch.isdigit())
    if nid_digits:
        keys.add(_key(NID, nid_digits))
    return keys


def _starting_with(prefix):
    """Keys that start with `prefix`, as a range the primary key's index answers on every database."""
    prefix = prefix[:SEARCH_KEY_LENGTH]
    following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(ClientSearchKey.key >= prefix, ClientSearchKey.key < following)


def _keyed(*ranges):
    """The ids of clients with a key in any of `ranges`: one read of the key index per range.

    Each range is a select of its own, joined by UNION ALL rather than an OR:
    PostgreSQL answers an OR of ranges with a bitmap scan that reads the table's
    rows (thousands of pages for "khan"), a single range from the primary key's
    index alone (key, client_id).
    """
    if len(ranges) == 1:
        return sa.select(ClientSearchKey.client_id).where(ranges[0])
    found = sa.union_all(*(sa.select(ClientSearchKey.client_id).where(condition)
                           for condition in ranges)).subquery()
    return sa.select(found.c.client_id)


def any_of(id_column, *selects):
    """`id_column` IN the union of `selects`.

    Alternatives are joined by a UNION of subqueries rather than an OR of IN
    conditions: PostgreSQL and MariaDB answer an OR of subqueries by reading
    every row and testing each, while each part of a UNION reads its own index.
    The UNION is read as a derived table: MariaDB would otherwise run it once
    per row of the outer table instead of joining it.
    """
    if len(selects) == 1:
        return id_column.in_(selects[0])
    found = sa.union(*selects).subquery()
    return id_column.in_(sa.select(*found.c))


def _word_ids(word):
    """The ids of clients one typed word finds: a name word, email, phone or NID starting with it,
    or the locker they hold."""
    folded = fold(word).strip()
    digits = "".join(ch for ch in folded if ch.isdigit())
    found = []
    if len(digits) >= MIN_DIGITS and len(digits) >= len(folded) - 2 and digits.lstrip("0"):
        # A number: the start of a phone (typed with 0, 880 or neither), its last digits, or an NID.
        national = digits[3:] if digits.startswith("880") else digits.lstrip("0")
        found.append(_keyed(_starting_with(PHONE + national),
                            _starting_with(PHONE_END + digits[::-1]), _starting_with(NID + digits)))
    elif "@" in folded:
        found.append(_keyed(_starting_with(EMAIL + folded)))
    else:
        parts = name_words(folded)
        if len(parts) == 1:
            found.append(_keyed(*_name_ranges(parts[0]), _starting_with(EMAIL + folded)))
        elif parts:
            # "Abdur-Rahman" typed as one word needs both of its words.
            both = sa.intersect(*(_keyed(*_name_ranges(part)) for part in parts)).subquery()
            found.append(sa.select(both.c.client_id))
    number = word.strip().upper()
    if number:
        # The locker number exactly, as printed on the door (numbers are stored in capitals).
        lockers = sa.select(Locker.id).where(Locker.number == number)
        found.append(sa.select(Rental.client_id).where(Rental.holding_locker_id.in_(lockers)))
    return found


def _name_ranges(word):
    ranges = [_starting_with(NAME + word)]
    if word in _VARIANT_OF:
        ranges.append(ClientSearchKey.key == _key(NAME, _VARIANT_OF[word]))
    return ranges


def search_condition(text):
    """A WHERE clause for the client search box; every typed word must find something.

    Words are looked up by the start of a key (ClientSearchKey), never by a
    pattern over the client table, so a search reads an index on every
    database however many clients there are. Bengali digits find what ASCII
    digits find: "০১৭১১" is "01711".
    """
    text = ascii_digits(text or "").strip()
    if not text:
        return sa.true()
    try:
        # The whole box as one phone number: spaces and dashes are part of it.
        return Client.phone == normalise_bd_mobile(text)
    except InvalidPhone:
        pass
    words = [_word_ids(word) for word in text.split()]
    return sa.and_(*(any_of(Client.id, *found) if found else sa.false() for found in words))


_KEYED_FIELDS = ("full_name", "phone", "email", "nid")


def clients_found(text):
    """The ids of the clients the search box finds for `text`, as a subquery for other lists."""
    return sa.select(Client.id).where(search_condition(text))


def rows_found(id_column, text, **alternatives):
    """The rows of a list the search box finds: those of the clients `text` finds, or any of
    `alternatives` (name=condition), each answered by its own index (see any_of).

    `id_column` is the list's primary key; its table must have a `client_id`.
    """
    table = id_column.table
    selects = [sa.select(id_column).where(table.c.client_id.in_(clients_found(text)))]
    selects += [sa.select(id_column).where(condition) for condition in alternatives.values()]
    return any_of(id_column, *selects)


def typed_exactly(column, text):
    """`column` holds exactly what was typed, as typed or in capitals (numbers are printed so)."""
    text = ascii_digits(text or "").strip()
    return column.in_(sorted({text, text.upper()}))


def _keys_changed(client):
    state = sa.inspect(client)
    return any(state.attrs[name].history.has_changes() for name in _KEYED_FIELDS)


def _keep_keys(session, flush_context):
    """Write the search keys of every client this flush added or changed, in its transaction."""
    ids = [obj.id for obj in session.new if isinstance(obj, Client)]
    ids += [obj.id for obj in session.dirty if isinstance(obj, Client) and _keys_changed(obj)]
    if ids:
        _rewrite(session.connection(), ids)


def rewrite_keys(client_ids):
    """Make the clients' keys say what their rows say now (after an UPDATE around the session)."""
    _rewrite(db.session.connection(), list(client_ids))


def _rewrite(connection, client_ids):
    table = ClientSearchKey.__table__
    connection.execute(table.delete().where(table.c.client_id.in_(client_ids)))
    rows = connection.execute(sa.select(Client.id, Client.full_name, Client.phone, Client.email,
                                        Client.nid).where(Client.id.in_(client_ids))).all()
    _insert_keys(connection, rows)


def _insert_keys(connection, clients):
    keys = [{"client_id": row.id, "key": key} for row in clients
            for key in search_keys(row.full_name, row.phone, row.email, row.nid)]
    if keys:
        connection.execute(ClientSearchKey.__table__.insert(), keys)


def write_missing_keys(batch=5000):
    """Give every client without search keys their keys; returns how many clients got them.

    The session keeps keys as clients change; this fills in clients that came
    before the keys did (an upgrade, run by `flask seed`) or were written
    around the session (a bulk load).
    """
    table = ClientSearchKey.__table__
    written = 0
    while True:
        missing = db.session.execute(
            sa.select(Client.id, Client.full_name, Client.phone, Client.email, Client.nid)
            .where(~sa.exists().where(table.c.client_id == Client.id))
            .order_by(Client.id).limit(batch)).all()
        if not missing:
            return written
        _insert_keys(db.session.connection(), missing)
        db.session.commit()
        written += len(missing)


def install_listeners():
    """Keep clients' search keys from every session; safe to call again."""
    if not sa.event.contains(Session, "after_flush", _keep_keys):
        sa.event.listen(Session, "after_flush", _keep_keys)


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

