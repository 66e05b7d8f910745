"""Clients: registration with photo, ID scan and signed terms, status, tags, notes (SPEC C1, C2, S6).

register_client() is one desk action: the client, their files, the signature
of the current terms, their tags and the activity log are saved together or
not at all, and files written for a registration that fails are removed
again. update_client() is the one door for correcting a client afterwards
(the generic client list uses it): the same field checks as registration, in
one function, plus the branch and status rules. Every refusal raises
ClientError with a translated message and, where a form field is to blame,
the field's name.
"""

import base64
import binascii
import io
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image

from app.extensions import db
from app.models import ActivityAction
from app.models import Branch
from app.models import Client
from app.models import ClientNote
from app.models import ClientStatus
from app.models import Language
from app.models import Rental
from app.models import Tag
from app.models import TermsSignature
from app.models import TermsVersion
from app.services import audit
from app.services import clock
from app.services import events
from app.services import notifications
from app.services import uploads
from app.services.access import may_act_on_branch
from app.services.errors import Refusal
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile
from app.services.transactions import desk_action
from app.services.transactions import refuse_on_constraint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URL_PREFIX = "data:image/png;base64,"
MAX_NOTE_LENGTH = 4000
# A pixel darker than this (0 black … 255 white) once flattened on white counts as ink.
INK_THRESHOLD = 240


class ClientError(Refusal):
    """A client operation the rules refuse; `message` is for the screen, `field` the culprit."""


class DuplicateClient(ClientError):
    """The phone or NID already belongs to `other`, a client the user may see."""

    def __init__(self, message, field, other):
        super().__init__(message, field)
        self.other = other


# Two people publishing terms at once: the second is asked to try again.
for _name in ("uq_terms_version_version", "terms_version.version"):
    refuse_on_constraint(_name, _l("Another version was published at the same moment. "
                                   "Check the list and publish again."))

# Another desk gave the same phone or NID to a client between our check and our commit
# (constraint name; SQLite names the column).
for _field in ("phone", "nid"):
    for _name in (f"uq_client_{_field}", f"client.{_field}"):
        refuse_on_constraint(_name, _l("This would duplicate an existing client. Nothing was saved."),
                             _field)


# --- terms & conditions ------------------------------------------------------------

def current_terms():
    """The latest published terms version (the one signed at registration), or None."""
    return db.session.execute(
        db.select(TermsVersion).order_by(TermsVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


@desk_action
def publish_terms(title, body, *, by_user_id):
    """Publish a new terms version numbered one above the last; it is shown from now on.

    Published versions are never edited: a signature keeps pointing to the text
    its client read. Two people publishing at once cannot both get the same
    number (the column is unique); the second is asked to try again.
    """
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise ClientError(_l("Give the terms a title."), "title")
    if not body:
        raise ClientError(_l("The terms text cannot be empty."), "body")
    latest = db.session.execute(db.select(db.func.max(TermsVersion.version))).scalar()
    terms = TermsVersion(version=(latest or 0) + 1, title=title[:120], body=body,
                         published_by_id=by_user_id)
    db.session.add(terms)
    return terms


# --- signatures ---------------------------------------------------------------------

def signature_png(value):
    """The PNG bytes of a signature sent as a data URL (or given as bytes).

    Refuses anything that is not a real PNG and an empty canvas (nothing drawn:
    every pixel transparent or white).
    """
    if isinstance(value, bytes):
        data = value
    else:
        text = (value or "").strip()
        if not text:
            raise ClientError(_l("The client must sign the terms & conditions."), "signature")
        if not text.startswith(DATA_URL_PREFIX):
            raise ClientError(_l("The signature is not a PNG image."), "signature")
        try:
            data = base64.b64decode(text[len(DATA_URL_PREFIX):], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ClientError(_l("The signature is not a PNG image."), "signature") from exc
    if not data.startswith(PNG_MAGIC):
        raise ClientError(_l("The signature is not a PNG image."), "signature")
    try:
        uploads.check_image(data)
    except uploads.UploadRejected as exc:
        raise ClientError(exc.message, "signature") from exc
    if not _has_ink(data):
        raise ClientError(_l("The signature pad is empty. Ask the client to sign."), "signature")
    return data


def _has_ink(png):
    """True if anything visible was drawn: some pixel is dark once laid on white."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    darkest, _ = Image.alpha_composite(white, rgba).convert("L").getextrema()
    return darkest < INK_THRESHOLD


def _sign(client, png, terms, *, by_user_id, ip, written):
    """Store the signature file and add the TermsSignature row (the caller commits)."""
    path = uploads.store_image(png, "signatures")
    written.append(path)
    signature = TermsSignature(client=client, terms_version=terms, signature_path=path,
                               staff_id=by_user_id, ip=(ip or "")[:64] or None)
    db.session.add(signature)
    return signature


def sign_terms(client_id, signature_png_bytes, *, by_user_id, ip, terms_version_id=None):
    """Record the client's signature of the current terms (or of `terms_version_id`, which
    must still be the current one: a client cannot sign text that has been replaced)."""
    written = []
    try:
        return _sign_terms(client_id, signature_png_bytes, written, by_user_id=by_user_id,
                           ip=ip, terms_version_id=terms_version_id)
    except BaseException:
        _remove_files(written)
        raise


@desk_action
def _sign_terms(client_id, signature_png_bytes, written, *, by_user_id, ip, terms_version_id):
    client = _client(client_id)
    terms = _terms_to_sign(terms_version_id)
    if terms is None:
        raise ClientError(_l("No terms & conditions have been published yet."))
    png = signature_png(signature_png_bytes)
    return _sign(client, png, terms, by_user_id=by_user_id, ip=ip, written=written)


def _terms_to_sign(terms_version_id):
    """The current terms, refusing if the form showed an older version."""
    terms = current_terms()
    if terms is not None and terms_version_id not in (None, "", terms.id):
        try:
            shown = int(terms_version_id)
        except (TypeError, ValueError):
            shown = None
        if shown != terms.id:
            raise ClientError(_l("The terms & conditions were updated while this form was open. "
                                 "Let the client read version %(version)d and sign again.",
                                 version=terms.version), "signature")
    return terms


# --- registration -------------------------------------------------------------------

def find_by_phone(raw, *, branch_id=None):
    """The client with this phone (typed any way), or None; limited to `branch_id` if given."""
    try:
        phone = normalise_bd_mobile(raw)
    except InvalidPhone:
        return None
    query = db.select(Client).where(Client.phone == phone)
    if branch_id is not None:
        query = query.where(Client.branch_id == branch_id)
    return db.session.execute(query).scalar_one_or_none()


def _duplicate(column, value):
    return db.session.execute(db.select(Client).where(column == value).limit(1)).scalar_one_or_none()


def _check_duplicates(phone, nid, *, exclude_id=None):
    """Refuse a phone or NID that another client (not `exclude_id`) already has, naming them."""
    for column, value, field in ((Client.phone, phone, "phone"), (Client.nid, nid, "nid")):
        other = _duplicate(column, value) if value else None
        if other is None or other.id == exclude_id:
            continue
        if field == "phone":
            message = _l("This phone number is already registered to %(client)s.",
                         client=other.full_name)
        else:
            message = _l("This NID / passport number is already registered to %(client)s.",
                         client=other.full_name)
        raise DuplicateClient(message, field, other)


REGISTERED_ELSEWHERE = {
    "phone": _l("This phone number is already registered in another branch."),
    "nid": _l("This NID / passport number is already registered in another branch."),
}


def _check_unique(phone, nid, *, by_user_id, exclude_id=None):
    """_check_duplicates, naming the other client only to a user who may act on their branch.

    Staff limited to one branch learn that a number is registered in another
    branch, never whose it is.
    """
    try:
        _check_duplicates(phone, nid, exclude_id=exclude_id)
    except DuplicateClient as exc:
        if may_act_on_branch(by_user_id, exc.other.branch_id):
            raise
        raise ClientError(REGISTERED_ELSEWHERE[exc.field], exc.field) from None


def _phone(raw, field, *, required):
    if not (raw or "").strip():
        if required:
            raise ClientError(InvalidPhone().message, field)
        return None
    try:
        return normalise_bd_mobile(raw)
    except InvalidPhone as exc:
        raise ClientError(exc.message, field) from exc


def _text(value, limit):
    value = (value or "").strip()
    return value[:limit] or None


def _check_branch(branch_id, by_user_id, *, client=None):
    """The branch to register `client` in (None: a new client) or move them to.

    A client may stay in a branch that has since been closed, but nobody is
    registered in or moved to one. Staff limited to a branch keep to it,
    whatever a form sent.
    """
    branch = db.session.get(Branch, branch_id) if branch_id else None
    staying = client is not None and branch is not None and branch.id == client.branch_id
    if branch is None or not (branch.is_active or staying):
        raise ClientError(_l("Choose a branch."), "branch")
    if not may_act_on_branch(by_user_id, branch.id):
        if client is None:
            raise ClientError(_l("You can only register clients in your own branch."), "branch")
        raise ClientError(_l("You can only move a client to your own branch."), "branch")
    return branch


# The longest text each client field keeps, for every door (forms, registration, import).
FIELD_LENGTHS = {"full_name": 120, "email": 255, "nid": 32, "address": 255, "notes": 10_000,
                 "emergency_contact_name": 120, "tier": 40}


def birth_date_problem(day, today):
    """Why `day` cannot be a client's date of birth on `today` (a message), or None."""
    if day.year < 1900:
        return _l("Enter a real date of birth.")
    if day > today:
        return _l("The date of birth is in the future.")
    return None


def _check_birth_date(value, branch):
    if value is None:
        return None
    problem = birth_date_problem(value, clock.branch_today(branch.id))
    if problem is not None:
        raise ClientError(problem, "date_of_birth")
    return value


def _check_referrer(referred_by_id, by_user_id, *, client=None):
    """The client who referred `client` (None: a new client), or None for nobody."""
    if referred_by_id in (None, ""):
        return None
    referrer = db.session.get(Client, int(referred_by_id))
    # Staff limited to a branch only ever look up that branch's clients.
    if referrer is None or not may_act_on_branch(by_user_id, referrer.branch_id):
        raise ClientError(_l("No client has that phone number."), "referred_by")
    if client is not None and referrer.id == client.id:
        raise ClientError(_l("A client cannot refer themself."), "referred_by")
    return referrer


def _checked_details(data, *, by_user_id, client=None):
    """The client's details in `data`, cleaned and checked, as Client attributes.

    The one place for the rules on what the desk types about a client, used
    when registering (`client` None) and when editing `client`: a branch the
    user may act on, a name, a Bangladesh mobile stored as +8801XXXXXXXXX,
    no phone or NID of another client, a real birth date and a referrer who
    exists (and is not the client). Raises ClientError naming the field.
    """
    branch = _check_branch(data.get("branch_id"), by_user_id, client=client)
    full_name = _text(data.get("full_name"), FIELD_LENGTHS["full_name"])
    if full_name is None:
        raise ClientError(_l("Enter the client's full name."), "full_name")
    phone = _phone(data.get("phone"), "phone", required=True)
    emergency_contact_phone = _phone(data.get("emergency_contact_phone"),
                                     "emergency_contact_phone", required=False)
    nid = _text(data.get("nid"), FIELD_LENGTHS["nid"])
    _check_unique(phone, nid, by_user_id=by_user_id,
                  exclude_id=client.id if client is not None else None)
    return {
        "branch": branch, "full_name": full_name, "phone": phone,
        "email": _text(data.get("email"), FIELD_LENGTHS["email"]), "nid": nid,
        "address": _text(data.get("address"), FIELD_LENGTHS["address"]),
        "notes": _text(data.get("notes"), FIELD_LENGTHS["notes"]),
        "gender": data.get("gender") or None,
        "date_of_birth": _check_birth_date(data.get("date_of_birth"), branch),
        "emergency_contact_name": _text(data.get("emergency_contact_name"),
                                        FIELD_LENGTHS["emergency_contact_name"]),
        "emergency_contact_phone": emergency_contact_phone,
        "tier": _text(data.get("tier"), FIELD_LENGTHS["tier"]),
        "referred_by": _check_referrer(data.get("referred_by_id"), by_user_id, client=client),
        "preferred_language": data.get("preferred_language") or Language.BENGALI,
        "opt_in_email": bool(data.get("opt_in_email")),
        "opt_in_sms": bool(data.get("opt_in_sms")),
        "opt_in_whatsapp": bool(data.get("opt_in_whatsapp")),
    }


def _check_files(photo, id_scan):
    """Refuse a bad photo or scan before anything is written."""
    for field, data, check in (("photo", photo, uploads.check_image),
                               ("id_scan", id_scan, uploads.check_document)):
        if data is None:
            continue
        try:
            check(data)
        except uploads.UploadRejected as exc:
            raise ClientError(exc.message, field) from exc


def _tags(tag_ids):
    ids = sorted({int(tag_id) for tag_id in tag_ids or ()})
    if not ids:
        return []
    tags = db.session.execute(db.select(Tag).where(Tag.id.in_(ids)).order_by(Tag.name)).scalars().all()
    if len(tags) != len(ids):
        raise ClientError(_l("One of the chosen tags no longer exists."), "tags")
    return tags


def register_client(*, branch_id, full_name, phone, by_user_id, ip=None, email=None, nid=None,
                    address=None, notes=None, gender=None, date_of_birth=None,
                    emergency_contact_name=None, emergency_contact_phone=None, tier=None,
                    referred_by_id=None, preferred_language=Language.BENGALI, opt_in_email=True,
                    opt_in_sms=True, opt_in_whatsapp=False, tag_ids=(), photo=None, id_scan=None,
                    signature=None, terms_version_id=None):
    """Register a client with their files, signature of the current terms and tags.

    `photo` and `id_scan` are the uploaded bytes (or None), `signature` the
    pad's "data:image/png;base64,…" URL. When terms are published the client
    must sign them. All or nothing: on any refusal or error no row is saved
    and no file is left behind.
    """
    details = _checked_details({
        "branch_id": branch_id, "full_name": full_name, "phone": phone, "email": email,
        "nid": nid, "address": address, "notes": notes, "gender": gender,
        "date_of_birth": date_of_birth, "emergency_contact_name": emergency_contact_name,
        "emergency_contact_phone": emergency_contact_phone, "tier": tier,
        "referred_by_id": referred_by_id, "preferred_language": preferred_language,
        "opt_in_email": opt_in_email, "opt_in_sms": opt_in_sms,
        "opt_in_whatsapp": opt_in_whatsapp,
    }, by_user_id=by_user_id)
    tags = _tags(tag_ids)
    _check_files(photo, id_scan)
    terms = _terms_to_sign(terms_version_id)
    # With nothing published there is nothing to sign; a stray drawing is not kept.
    png = signature_png(signature) if terms is not None else None

    written = []
    try:
        return _register(details, tags, photo, id_scan, png, terms, written,
                         by_user_id=by_user_id, ip=ip)
    except Refusal:
        _remove_files(written)
        # Someone registered the same phone or NID a moment ago: say who, if the user may see.
        _check_unique(details["phone"], details["nid"], by_user_id=by_user_id)
        raise
    except BaseException:
        _remove_files(written)
        raise


@desk_action
def _register(details, tags, photo, id_scan, png, terms, written, *, by_user_id, ip):
    """The registration's writes, one transaction; `written` collects the files stored."""
    client = Client(**details, status=ClientStatus.ACTIVE, tags=tags)
    if photo is not None:
        client.photo_path = uploads.store_image(photo, "clients")
        written.append(client.photo_path)
    if id_scan is not None:
        client.id_scan_path = uploads.store_document(id_scan, "clients")
        written.append(client.id_scan_path)
    db.session.add(client)
    if png is not None:
        _sign(client, png, terms, by_user_id=by_user_id, ip=ip, written=written)
    db.session.flush()
    notifications.record_consent(client, source="registration", by_user_id=by_user_id)
    if tags:
        _log_tags(client, [], [tag.name for tag in tags])
    events.record(events.CLIENT_REGISTERED, branch_id=client.branch_id, client_id=client.id,
                  by_user_id=by_user_id)
    return client


def _remove_files(relatives):
    """Delete files (and thumbnails) written for work that was rolled back."""
    root = Path(current_app.config["UPLOAD_DIR"])
    for relative in relatives:
        path = root / relative
        for candidate in (path, uploads.thumbnail_of(path)):
            candidate.unlink(missing_ok=True)


# --- profile: status, tags, notes ---------------------------------------------------

def _client(client_id):
    """The client to change; refused once they are anonymised (their data stays forgotten)."""
    client = db.session.get(Client, client_id)
    if client is None:
        raise ClientError(_l("That client does not exist."))
    _refuse_if_anonymised(client)
    return client


def _refuse_if_anonymised(client):
    from app.services import privacy  # privacy builds on the client services

    if client.status is ClientStatus.INACTIVE and privacy.is_anonymised(client.id):
        raise ClientError(_l("This client's personal data was removed at their request; "
                             "nothing can be added to it."))


@desk_action
def update_client(client_id, data, *, by_user_id):
    """Correct a client's details, branch and status; returns the client.

    `data` holds every field of the client list's edit form (branch_id,
    full_name, phone, …, referred_by_id, status, ban_reason, notes); a field
    left out is emptied, as a form sent without it would. The details pass the
    checks registration uses, the status the rules of set_status(). Staff
    limited to a branch can neither edit a client of another branch nor move
    one there.
    """
    client = db.session.get(Client, client_id, with_for_update=True, populate_existing=True) \
        if client_id is not None else None
    if client is None:
        raise ClientError(_l("That client does not exist."))
    if not may_act_on_branch(by_user_id, client.branch_id):
        raise ClientError(_l("This client belongs to another branch."))
    _refuse_if_anonymised(client)
    details = _checked_details(data, by_user_id=by_user_id, client=client)
    consents = {channel: details.pop(column.key) for channel, column
                in notifications.OPT_IN.items() if column.key in details}
    for name, value in details.items():
        setattr(client, name, value)
    set_status(client.id, data.get("status"), by_user_id=by_user_id,
               reason=data.get("ban_reason"))
    db.session.flush()
    for channel, opted_in in consents.items():
        if bool(opted_in) != getattr(client, notifications.OPT_IN[channel].key):
            # Recorded with when and who, and what was waiting is not sent after a "no".
            notifications.set_consent(client.id, channel, bool(opted_in), source="client form",
                                      by_user_id=by_user_id)
    _announce_update(client, by_user_id)
    return client


def _announce_update(client, by_user_id):
    """A client changed: the grid shows their initials on the lockers they hold."""
    held = db.session.execute(db.select(Rental.holding_locker_id).where(
        Rental.client_id == client.id, Rental.holding_locker_id.is_not(None))).scalars().all()
    events.record(events.CLIENT_UPDATED, branch_id=client.branch_id, client_id=client.id,
                  by_user_id=by_user_id, locker_ids=sorted(held))


@desk_action
def set_status(client_id, status, *, by_user_id, reason=None):
    """Make a client Active, Inactive or Banned; a ban needs a reason, and only a ban keeps one."""
    client = _client(client_id)
    if not isinstance(status, ClientStatus):
        try:
            status = ClientStatus[str(status)]
        except KeyError as exc:
            raise ClientError(_l("Choose a status."), "status") from exc
    reason = _text(reason, 255)
    if status is ClientStatus.BANNED and reason is None:
        raise ClientError(_l("Give the reason for the ban."), "ban_reason")
    client.status = status
    client.ban_reason = reason if status is ClientStatus.BANNED else None
    db.session.flush()
    return client


@desk_action
def set_tags(client_id, tag_ids, *, by_user_id):
    """Replace a client's tags; the change is logged with the names before and after."""
    client = _client(client_id)
    tags = _tags(tag_ids)
    before = [tag.name for tag in client.tags]
    after = [tag.name for tag in tags]
    if before == after:
        return client
    client.tags = tags
    # The tag link table is not a model, so the automatic log cannot see it.
    _log_tags(client, before, after)
    return client


def _log_tags(client, before, after):
    audit.record(ActivityAction.UPDATE, model="Client", object_id=client.id, summary=str(client),
                 changes={"tags": [before, after]}, branch_id=client.branch_id)


@desk_action
def add_note(client_id, body, *, by_user_id):
    """Add a dated staff note to the client's timeline."""
    client = _client(client_id)
    body = (body or "").strip()
    if not body:
        raise ClientError(_l("Write the note first."), "body")
    if len(body) > MAX_NOTE_LENGTH:
        raise ClientError(_l("A note can be at most %(count)d characters.", count=MAX_NOTE_LENGTH),
                          "body")
    note = ClientNote(client=client, body=body, author_id=by_user_id)
    db.session.add(note)
    return note
