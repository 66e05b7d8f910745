"""Privacy (SPEC S5): deletion requests and anonymisation, the consent log.

A client (or someone on their behalf) asks the gym to delete their data; staff
record who asked, when and how. After the retention period the daily job
anonymises the client, once and for good, in one transaction: everything that
says who they are goes (name, phone, email, NID, address, date of birth,
emergency contact, notes, photo, ID scan and signature images, the words of
the messages sent to them), while the money stays exactly as it was: rentals,
invoices, payments, refunds and the deposit ledger are what the law requires
the gym to keep, and they must still add up. While the client holds a locker,
has a key, owes money, has a deposit held, has an online payment in flight or
is on the waitlist, the request waits, and says why.

The activity log gets one entry for the anonymisation with the removed values
masked (as audit.SECRET_FIELDS are), and the values the log kept from before
are masked too: otherwise anyone who may read the log could still read them.

The export of everything held about one client lives in
app.services.privacy_export; both find the client's records through
referencing_tables(), read from the models, so a table added later is
exported and cleaned with the rest.
"""

import logging
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.i18n import money
from app.i18n import reads_bengali
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.models import ClientNote
from app.models import ClientStatus
from app.models import ConsentChange
from app.models import DeletionRequest
from app.models import DeletionStatus
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import Key
from app.models import KeyEvent
from app.models import KeyEventKind
from app.models import KeyState
from app.models import MessageStatus
from app.models import Notification
from app.models import Rental
from app.models import RequestChannel
from app.models import Requester
from app.models import TermsSignature
from app.models import WaitlistEntry
from app.models import WaitlistStatus
from app.models import utcnow
from app.models.clients import client_tags
from app.models.gateways import UNSETTLED
from app.services import audit
from app.services import billing
from app.services import client_search
from app.services import clock
from app.services import handover
from app.services import settings
from app.services import uploads
from app.services.access import may_act_on_branch
from app.services.digits import bengali_digits
from app.services.errors import Refusal
from app.services.transactions import desk_action

# What an anonymised client is called and reached at. The phone column is UNIQUE and
# NOT NULL; a real phone is always +8801XXXXXXXXX (app.services.phones), so a value
# without "+880" and with the client's own id can never collide with one.
ANONYMOUS_NAME = "Anonymised client #{id}"
ANONYMOUS_PHONE = "anon-{id}"
# The client's columns that say who they are: emptied (their values masked in the log).
PERSONAL_FIELDS = ("full_name", "phone", "email", "nid", "address", "notes", "gender",
                   "date_of_birth", "emergency_contact_name", "emergency_contact_phone", "tier",
                   "referred_by_id", "photo_path", "id_scan_path", "ban_reason")
# Free text about the client in other records, masked in the log by field name.
FREE_TEXT = {"Client": set(PERSONAL_FIELDS), "ClientNote": {"body"}, "KeyEvent": {"note"},
             "WaitlistEntry": {"note"}, "DeletionRequest": {"representative"}}
# Shorter values are not searched for in old log entries: they would match anything.
MIN_SCRUBBED_LENGTH = 3
_LOG_BATCH = 500

log = logging.getLogger(__name__)


class PrivacyError(Refusal):
    """A privacy action the rules refuse; `message` says why."""


class StillInUse(PrivacyError):
    """The client cannot be anonymised yet; `reasons` says everything that stands in the way."""

    def __init__(self, reasons):
        super().__init__(reasons[0])
        self.reasons = reasons


def referencing_tables():
    """{Table: [its columns holding a client's id]} of every table with a foreign key to client.id.

    Read from the models' metadata: a table added later is found without being listed.
    """
    client_id = Client.__table__.c.id
    found = {}
    for table in db.metadata.sorted_tables:
        columns = [key.parent for key in table.foreign_keys if key.column is client_id]
        if columns:
            found[table] = columns
    return found


def branch_time(value, timezone_name):
    """A UTC datetime from the database as dd/mm/yyyy HH:mm in `timezone_name`, in the reader's digits."""
    if value is None:
        return ""
    text = clock.to_local(value, timezone_name).strftime("%d/%m/%Y %H:%M")
    return bengali_digits(text) if reads_bengali() else text


# --- who may be anonymised, and when ------------------------------------------------------

def retention_days():
    """Days between a deletion request and the anonymisation (settings "privacy_retention_days")."""
    return settings.get("privacy_retention_days")


def due_on(request):
    """The branch day from which the request's client may be anonymised."""
    return request.requested_on + timedelta(days=retention_days())


def keys_out(client_id):
    """The keys the client has now (issued to them and not back)."""
    issued = sa.select(KeyEvent.key_id).where(KeyEvent.client_id == client_id,
                                              KeyEvent.kind == KeyEventKind.ISSUED)
    keys = db.session.execute(sa.select(Key).where(Key.state == KeyState.WITH_CLIENT,
                                                   Key.id.in_(issued))).scalars().all()
    return [key for key in keys if handover.issued_to(key.id) == client_id]


def blockers(client_id):
    """Why the client cannot be anonymised now, as translated reasons; empty if nothing does.

    The financial records stay after anonymisation, but nobody could be asked to
    return a key, pay what they owe or collect their deposit any more.
    """
    reasons = []
    holding = db.session.execute(sa.select(sa.func.count()).select_from(Rental).where(
        Rental.client_id == client_id, Rental.holding_locker_id.is_not(None))).scalar_one()
    if holding:
        reasons.append(_l("The client still holds a locker (a reservation or a rental not "
                          "released yet)."))
    keys = keys_out(client_id)
    if keys:
        reasons.append(_l("The client still has a key: %(tags)s.",
                          tags=", ".join(key.tag for key in keys)))
    owed = billing.client_owes(client_id)
    if owed > 0:
        reasons.append(_l("The client owes %(amount)s.", amount=money(owed)))
    deposit = handover.deposit_balance(client_id)
    if deposit > 0:
        reasons.append(_l("The gym holds a key deposit of %(amount)s for the client.",
                          amount=money(deposit)))
    in_flight = db.session.execute(sa.select(sa.func.count()).select_from(GatewayTransaction)
                                   .where(GatewayTransaction.client_id == client_id,
                                          GatewayTransaction.status.in_(
                                              (*UNSETTLED, GatewayStatus.UNAPPLIED)))).scalar_one()
    if in_flight:
        reasons.append(_l("An online payment of the client is not settled yet."))
    waiting = db.session.execute(sa.select(sa.func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.client_id == client_id,
        WaitlistEntry.status.in_((WaitlistStatus.WAITING, WaitlistStatus.OFFERED)))).scalar_one()
    if waiting:
        reasons.append(_l("The client is on the waitlist for a locker."))
    return reasons


@dataclass
class RequestState:
    """A deletion request as the pages show it: when it is due and what it waits for."""

    request: DeletionRequest
    due_on: object
    is_due: bool
    reasons: list = field(default_factory=list)


def state_of(request):
    """The request with its due day and, while it waits, everything it waits for."""
    is_due = clock.branch_today(request.branch_id) >= due_on(request)
    reasons = blockers(request.client_id) if request.status is DeletionStatus.PENDING else []
    return RequestState(request, due_on(request), is_due, reasons)


def requests(*, branch_id=None, status=None):
    """Deletion requests, pending first, newest first; of one branch and status if given."""
    query = sa.select(DeletionRequest)
    if branch_id is not None:
        query = query.where(DeletionRequest.branch_id == branch_id)
    if status is not None:
        query = query.where(DeletionRequest.status == status)
    pending_first = sa.case((DeletionRequest.status == DeletionStatus.PENDING, 0), else_=1)
    rows = db.session.execute(query.order_by(pending_first, DeletionRequest.requested_on.desc(),
                                             DeletionRequest.id.desc())).scalars().all()
    return [state_of(row) for row in rows]


def latest_request(client_id):
    """The client's latest deletion request that is not cancelled, with its state; or None."""
    row = db.session.execute(sa.select(DeletionRequest).where(
        DeletionRequest.client_id == client_id,
        DeletionRequest.status != DeletionStatus.CANCELLED)
        .order_by(DeletionRequest.id.desc()).limit(1)).scalar_one_or_none()
    return state_of(row) if row is not None else None


def is_anonymised(client_id):
    """True once the client's personal data has been removed."""
    return db.session.execute(sa.select(DeletionRequest.id).where(
        DeletionRequest.client_id == client_id,
        DeletionRequest.status == DeletionStatus.DONE).limit(1)).first() is not None


# --- recording and cancelling requests ----------------------------------------------------

def client_for(client_id, by_user_id, *, lock=False):
    """The client, if `by_user_id` may act on their branch (None: a job); else PrivacyError."""
    client = db.session.get(Client, client_id, with_for_update=lock,
                            populate_existing=lock) if client_id is not None else None
    if client is None:
        raise PrivacyError(_l("That client does not exist."))
    if not may_act_on_branch(by_user_id, client.branch_id):
        raise PrivacyError(_l("This client belongs to another branch."))
    return client


def _member(enum_class, value, message, field_name):
    if isinstance(value, enum_class):
        return value
    try:
        return enum_class[str(value)]
    except KeyError:
        raise PrivacyError(message, field_name) from None


@desk_action
def request_deletion(client_id, *, requested_by, received_via, by_user_id, requested_on=None,
                     representative=None):
    """Record that the client asked for their data to be deleted; returns the request.

    `requested_by` is a Requester (or its name), `received_via` a RequestChannel,
    `requested_on` the branch day they asked (today if None). Someone asking on the
    client's behalf is named. A client has at most one waiting request, and one
    already anonymised cannot ask again.
    """
    client = client_for(client_id, by_user_id, lock=True)
    if is_anonymised(client.id):
        raise PrivacyError(_l("This client's personal data has already been removed."))
    waiting = db.session.execute(sa.select(DeletionRequest.id).where(
        DeletionRequest.client_id == client.id,
        DeletionRequest.status == DeletionStatus.PENDING).limit(1)).first()
    if waiting is not None:
        raise PrivacyError(_l("A deletion request for this client is already waiting."))
    requested_by = _member(Requester, requested_by, _l("Say who asked."), "requested_by")
    received_via = _member(RequestChannel, received_via, _l("Say how the request was made."),
                           "received_via")
    representative = (representative or "").strip()[:120] or None
    if requested_by is Requester.REPRESENTATIVE and representative is None:
        raise PrivacyError(_l("Name the person who asked on the client's behalf."),
                           "representative")
    if requested_by is Requester.CLIENT:
        representative = None
    today = clock.branch_today(client.branch_id)
    requested_on = requested_on or today
    if requested_on > today:
        raise PrivacyError(_l("The request cannot be dated in the future."), "requested_on")
    if requested_on < clock.local_day(client.registered_at, clock.branch_timezone(client.branch_id)):
        raise PrivacyError(_l("The request cannot be dated before the client registered."),
                           "requested_on")
    request = DeletionRequest(branch_id=client.branch_id, client_id=client.id,
                              requested_by=requested_by, representative=representative,
                              received_via=received_via, requested_on=requested_on,
                              recorded_by_id=by_user_id, status=DeletionStatus.PENDING)
    db.session.add(request)
    db.session.flush()
    return request


def _request(request_id, by_user_id):
    request = db.session.get(DeletionRequest, request_id, with_for_update=True,
                             populate_existing=True) if request_id is not None else None
    if request is None:
        raise PrivacyError(_l("That deletion request does not exist."))
    if by_user_id is not None and not may_act_on_branch(by_user_id, request.branch_id):
        raise PrivacyError(_l("This client belongs to another branch."))
    return request


@desk_action
def cancel_request(request_id, *, by_user_id, reason=None):
    """Cancel a waiting deletion request (the client changed their mind); the data stays."""
    request = _request(request_id, by_user_id)
    if request.status is not DeletionStatus.PENDING:
        raise PrivacyError(_l("Only a waiting request can be cancelled."))
    request.status = DeletionStatus.CANCELLED
    request.cancelled_at = utcnow()
    request.cancelled_by_id = by_user_id
    request.cancel_reason = (reason or "").strip()[:255] or None
    return request


# --- anonymisation ------------------------------------------------------------------------

def anonymise_due():
    """Job: anonymise the client of every waiting request whose retention period is over.

    A request whose client still holds a locker, a key, dues or a deposit waits
    for the next run. Returns {"anonymised": [request ids], "waiting": [request ids]}
    (and "failed", should one fail unexpectedly: the others are still carried out).
    Running it again changes nothing more.
    """
    done, waiting, failed = [], [], []
    pending = db.session.execute(sa.select(DeletionRequest).where(
        DeletionRequest.status == DeletionStatus.PENDING).order_by(DeletionRequest.id)).scalars().all()
    due = [row.id for row in pending if clock.branch_today(row.branch_id) >= due_on(row)]
    for request_id in due:
        try:
            anonymise(request_id, by_user_id=None)
        except PrivacyError:
            waiting.append(request_id)
        except Exception:
            # One client's failure must not keep every other request waiting for ever.
            log.exception("Anonymising deletion request %s failed; it is tried again "
                          "at the next run.", request_id)
            failed.append(request_id)
        else:
            done.append(request_id)
    return {"anonymised": done, "waiting": waiting, **({"failed": failed} if failed else {})}


@desk_action
def anonymise(request_id, *, by_user_id=None):
    """Remove the personal data of the request's client, for good; returns the request.

    Only a waiting request past its retention period whose client holds nothing
    and owes nothing; raises StillInUse with every reason otherwise. A request
    already carried out is returned as it is (nothing happens twice). The
    personal data is removed with plain UPDATE and DELETE statements so the
    activity log's automatic entries never see it; the one entry written here
    names what was removed, masked.
    """
    request = _request(request_id, by_user_id)
    if request.status is DeletionStatus.DONE:
        return request
    if request.status is not DeletionStatus.PENDING:
        raise PrivacyError(_l("This request was cancelled."))
    client = db.session.get(Client, request.client_id, with_for_update=True,
                            populate_existing=True)
    if clock.branch_today(client.branch_id) < due_on(request):
        raise PrivacyError(_l("The retention period of this request is not over yet."))
    reasons = blockers(client.id)
    if reasons:
        raise StillInUse(reasons)

    values = _personal_values(client)
    files = [client.photo_path, client.id_scan_path, *db.session.execute(
        sa.select(TermsSignature.signature_path).where(TermsSignature.client_id == client.id)
    ).scalars()]
    label = ANONYMOUS_NAME.format(id=client.id)
    removed = [name for name in PERSONAL_FIELDS if getattr(client, name) is not None]
    linked = _linked_records(client.id)

    _remove_personal_data(client, label, values)
    _scrub_activity_log(linked, values)
    audit.record(ActivityAction.UPDATE, model="Client", object_id=client.id,
                 summary=f"{label}: personal data removed (deletion request #{request.id})",
                 changes={name: [audit.MASK, audit.MASK] for name in removed},
                 branch_id=client.branch_id)
    request.status = DeletionStatus.DONE
    request.anonymised_at = utcnow()
    db.session.flush()
    # Written with UPDATE statements: what the session holds of them is out of date.
    db.session.expire(client)
    db.session.expire(request, ["representative"])
    # The files go last, once every check has passed. Should the commit still fail, the
    # request stays waiting and the next run completes it (a file already gone is fine).
    for relative in files:
        uploads.discard(relative)
    return request


def _personal_values(client):
    """The texts that say who the client is, as old log entries may quote them."""
    values = {client.full_name, client.email, client.nid, client.address, client.notes,
              client.emergency_contact_name, client.ban_reason}
    for phone in (client.phone, client.emergency_contact_phone):
        if phone:
            # Stored as +8801XXXXXXXXX; typed and shown as 01XXXXXXXXX too.
            values.update({phone, phone.lstrip("+"), "0" + phone[-10:]})
    values.update(db.session.execute(sa.select(ClientNote.body).where(
        ClientNote.client_id == client.id)).scalars())
    values.update(db.session.execute(sa.select(DeletionRequest.representative).where(
        DeletionRequest.client_id == client.id)).scalars())
    for model in (KeyEvent, WaitlistEntry):
        values.update(db.session.execute(sa.select(model.note).where(
            model.client_id == client.id)).scalars())
    # Longest first, so a name is masked whole before a part of it could be.
    return sorted((value for value in values if value and len(value) >= MIN_SCRUBBED_LENGTH),
                  key=len, reverse=True)


def _remove_personal_data(client, label, values):
    """The UPDATEs and DELETEs that forget who the client is; money rows are not touched."""
    run = db.session.execute
    run(sa.update(Client).where(Client.id == client.id).values(
        full_name=label, phone=ANONYMOUS_PHONE.format(id=client.id), email=None, nid=None,
        address=None, notes=None, gender=None, date_of_birth=None, emergency_contact_name=None,
        emergency_contact_phone=None, tier=None, referred_by_id=None, photo_path=None,
        id_scan_path=None, ban_reason=None, status=ClientStatus.INACTIVE, opt_in_email=False,
        opt_in_sms=False, opt_in_whatsapp=False, updated_at=utcnow(),
    ).execution_options(synchronize_session=False))
    client_search.rewrite_keys([client.id])
    run(sa.delete(client_tags).where(client_tags.c.client_id == client.id))
    run(sa.delete(ClientNote).where(ClientNote.client_id == client.id)
        .execution_options(synchronize_session=False))
    # Nothing more is sent to them; what was sent keeps its channel, status and cost only.
    run(sa.update(Notification).where(Notification.client_id == client.id,
                                      Notification.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED).execution_options(synchronize_session=False))
    run(sa.update(Notification).where(Notification.client_id == client.id).values(
        recipient=None, subject=None, body=None, error=None)
        .execution_options(synchronize_session=False))
    for model in (KeyEvent, WaitlistEntry):
        run(sa.update(model).where(model.client_id == client.id).values(note=None)
            .execution_options(synchronize_session=False))
    run(sa.update(DeletionRequest).where(DeletionRequest.client_id == client.id)
        .values(representative=None).execution_options(synchronize_session=False))
    _scrub_gateway_calls(client.id, values)


def _scrub_gateway_calls(client_id, values):
    """Mask the client's personal values in what gateways were sent and answered.

    The attempts themselves (amounts, references, statuses) are financial records and stay.
    """
    table = GatewayTransaction.__table__
    rows = db.session.execute(sa.select(table.c.id, table.c.exchanges, table.c.error)
                              .where(table.c.client_id == client_id)).all()
    for row_id, exchanges, error in rows:
        scrubbed = {"exchanges": _scrub(exchanges, values), "error": _scrub(error, values)}
        if scrubbed != {"exchanges": exchanges, "error": error}:
            db.session.execute(sa.update(table).where(table.c.id == row_id).values(**scrubbed))


def _linked_records(client_id):
    """{model name: [record ids as the log keeps them]} of the client and every record of theirs."""
    classes = {mapper.local_table.name: mapper.class_ for mapper in db.Model.registry.mappers}
    linked = {"Client": [str(client_id)]}
    for table, columns in referencing_tables().items():
        model = classes.get(table.name)
        if model is None or model is Client or not table.primary_key.columns:
            continue
        key = list(table.primary_key.columns)[0]
        ids = db.session.execute(sa.select(key).where(
            sa.or_(*(column == client_id for column in columns)))).scalars().all()
        if ids:
            linked[model.__name__] = [str(record_id) for record_id in ids]
    return linked


def _scrub(value, values, masked_keys=()):
    """`value` (text or the JSON of a log entry) with `values` masked, and `masked_keys` whole."""
    if isinstance(value, str):
        for personal in values:
            value = value.replace(personal, audit.MASK)
        return value
    if isinstance(value, list):
        return [_scrub(item, values) for item in value]
    if isinstance(value, dict):
        return {key: (_masked(item) if key in masked_keys else _scrub(item, values))
                for key, item in value.items()}
    return value


def _masked(value):
    if isinstance(value, list):
        return [audit.MASK if item not in (None, "") else item for item in value]
    return audit.MASK if value not in (None, "") else value


def _scrub_activity_log(linked, values):
    """Mask the client's personal values in the log entries about them and their records.

    Entries are otherwise never changed; these keep who did what and when, but
    no longer what the client was called, reached at or written about.
    """
    for model, ids in linked.items():
        masked_keys = FREE_TEXT.get(model, ())
        for start in range(0, len(ids), _LOG_BATCH):
            rows = db.session.execute(sa.select(ActivityLog.id, ActivityLog.summary,
                                                ActivityLog.changes).where(
                ActivityLog.model == model,
                ActivityLog.object_id.in_(ids[start:start + _LOG_BATCH]))).all()
            for row_id, summary, changes in rows:
                new_summary = _scrub(summary, values)
                new_changes = _scrub(changes, values, masked_keys)
                if (new_summary, new_changes) != (summary, changes):
                    db.session.execute(sa.update(ActivityLog).where(ActivityLog.id == row_id)
                                       .values(summary=new_summary, changes=new_changes))


# --- the consent log ------------------------------------------------------------------------

@dataclass
class ConsentEntry:
    """One line of a client's consent log: a yes or no to a channel, or terms signed."""

    at: object
    change: ConsentChange | None = None
    signature: TermsSignature | None = None


def consent_history(client_id):
    """Every consent change and every terms signature of the client, newest first."""
    changes = db.session.execute(sa.select(ConsentChange).where(
        ConsentChange.client_id == client_id)).scalars().all()
    signatures = db.session.execute(sa.select(TermsSignature).where(
        TermsSignature.client_id == client_id)).scalars().all()
    entries = [ConsentEntry(change.changed_at, change=change) for change in changes]
    entries += [ConsentEntry(signature.signed_at, signature=signature) for signature in signatures]
    return sorted(entries, key=lambda entry: (
        entry.at, entry.change.id if entry.change else entry.signature.id), reverse=True)
