"""Everything held about one client, as one ZIP archive (SPEC S5).

The archive holds one JSON file per table that refers to the client (found
from the models' foreign keys, so a table added later is in it without being
listed here), the records hanging on theirs (invoice lines, instalments,
refunds, payment links, rental status changes), the files (photo, ID scan,
signature images, photos of their lost items and of damage they caused) and
summary.html: the same, readable, in the client's own language.

The JSON reads without the desk: records of other tables are named (the
branch, the locker number, the invoice number, the staff member's name), times
are ISO 8601 in the branch's timezone, days ISO, money in taka as text
("1250.00", the column called amount_taka instead of amount_poisha), statuses
by their label. The archive is written to a temporary file as it is built,
never held in memory; the caller sends it and removes it.
"""

import enum
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask import render_template
from flask_babel import force_locale

from app.extensions import db
from app.models import ActivityAction
from app.models import Branch
from app.models import Campaign
from app.models import Client
from app.models import ClientNote
from app.models import Coupon
from app.models import DeletionRequest
from app.models import DepositEntry
from app.models import Invoice
from app.models import Key
from app.models import KeyEvent
from app.models import Locker
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import Notification
from app.models import Payment
from app.models import Rental
from app.models import Tag
from app.models import TermsVersion
from app.models import User
from app.models import WaitlistEntry
from app.models import Zone
from app.models import utcnow
from app.models.base import LabelledEnum
from app.services import audit
from app.services import billing
from app.services import clock
from app.services import privacy
from app.services import uploads
from app.services.money import format_taka
from app.services.money import plain_taka
from app.services.transactions import desk_action

# Records that hang on the client's through another record: table → (its column, the
# parent table whose rows of the client it points to).
CHILD_TABLES = {
    "invoice_line": ("invoice_id", "invoice"),
    "instalment": ("invoice_id", "invoice"),
    "payment_link": ("invoice_id", "invoice"),
    "refund": ("payment_id", "payment"),
    "rental_status_change": ("rental_id", "rental"),
}
# Columns that are the desk's secrets, not data about the client: a payment link's nonce
# signs the link.
LEFT_OUT = {("payment_link", "nonce")}
# How a record of another table is named in the export, by the table a foreign key refers to.
NAMES = {
    "branch": (Branch, lambda row: row.name),
    "locker": (Locker, lambda row: row.number),
    "key": (Key, lambda row: row.tag),
    "zone": (Zone, lambda row: row.local_name),
    # Staff by name only: their email is theirs, not the client's.
    "user": (User, lambda row: row.full_name),
    "invoice": (Invoice, lambda row: row.number),
    "terms_version": (TermsVersion, lambda row: f"v{row.version} · {row.title}"),
    "coupon": (Coupon, lambda row: row.code),
    "tag": (Tag, lambda row: row.local_name),
    "campaign": (Campaign, lambda row: row.name),
}


@dataclass
class Export:
    """A finished archive in a temporary file; the caller sends it and removes it."""

    path: Path
    filename: str


class _Names:
    """Names of related records, each looked up once."""

    def __init__(self):
        self.cache = {}

    def of(self, table_name, record_id):
        if record_id is None or table_name not in NAMES:
            return None
        key = (table_name, record_id)
        if key not in self.cache:
            model, name = NAMES[table_name]
            row = db.session.get(model, record_id)
            self.cache[key] = name(row) if row is not None else None
        return self.cache[key]


def _plain(value, timezone_name):
    if isinstance(value, LabelledEnum):
        return str(value.label)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return clock.to_local(value, timezone_name).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _record(table, row, timezone_name, names, files):
    """One row as readable JSON; the files it names are added to `files`."""
    record = {}
    values = row._mapping
    for column in table.columns:
        name = column.name
        if (table.name, name) in LEFT_OUT:
            continue
        value = values[column]
        if name.endswith("_poisha"):
            record[f"{name[:-len('_poisha')]}_taka"] = plain_taka(value) if value is not None else None
            continue
        if name.endswith("_path") and value:
            files.add(value)
            record[name] = f"files/{value}"
            continue
        record[name] = _plain(value, timezone_name)
        for key in column.foreign_keys:
            label = name[:-len("_id")] if name.endswith("_id") else f"{name}_name"
            if label not in table.columns:
                named = names.of(key.column.table.name, value)
                if named is not None:
                    record[label] = named
    return record


def _queries(client_id):
    """(table, SELECT of the client's rows) for every table that holds data about the client."""
    queries = {}
    for table, columns in privacy.referencing_tables().items():
        if table.name == "client":
            # The client's own row; other clients they referred are other people.
            condition = table.c.id == client_id
        else:
            condition = sa.or_(*(column == client_id for column in columns))
        queries[table.name] = (table, condition)
    tables = db.metadata.tables
    for name, (column, parent_name) in CHILD_TABLES.items():
        parent, parent_condition = queries[parent_name]
        queries[name] = (tables[name], tables[name].c[column].in_(
            sa.select(parent.c.id).where(parent_condition)))
    return [(table, sa.select(table).where(condition).order_by(*table.primary_key.columns))
            for table, condition in queries.values()]


def _write_table(archive, table, query, timezone_name, names, files):
    """data/<table>.json, written row by row into the archive; returns the number of records."""
    count = 0
    with archive.open(f"data/{table.name}.json", "w") as out:
        out.write(b'{"table": ' + json.dumps(table.name).encode() + b', "records": [')
        # Fetched whole: one client's rows are few, and a streaming cursor would leave
        # MariaDB's connection busy while _record() looks up the names it shows.
        for row in db.session.execute(query).all():
            record = _record(table, row, timezone_name, names, files)
            out.write((b",\n" if count else b"\n") + json.dumps(
                record, ensure_ascii=False, default=str, indent=1).encode("utf-8"))
            count += 1
        out.write(b"\n]}\n")
    return count


def _write_files(archive, files):
    """The stored files under files/; returns the ones that are missing on disk."""
    missing = []
    for relative in sorted(files):
        path = uploads.resolve(relative)
        if path is None:
            missing.append(relative)
            continue
        archive.write(path, f"files/{relative}")
    return missing


def _of_client(model, client_id, *order):
    return db.session.execute(sa.select(model).where(model.client_id == client_id)
                              .order_by(*order)).scalars().all()


def _summary(client, counts, files, missing, timezone_name, bengali):
    """summary.html: what the archive holds, readable, in the client's language."""
    cid = client.id
    return render_template(
        "admin/privacy/export_summary.html", client=client, counts=counts, files=sorted(files),
        missing=missing, timezone=timezone_name, generated_at=utcnow(),
        when=lambda value: privacy.branch_time(value, timezone_name),
        taka=lambda poisha: format_taka(poisha, bengali=bengali),
        balance=billing.balance,
        rentals=_of_client(Rental, cid, Rental.starts_at, Rental.id),
        invoices=_of_client(Invoice, cid, Invoice.issued_at, Invoice.id),
        payments=_of_client(Payment, cid, Payment.paid_at, Payment.id),
        deposits=_of_client(DepositEntry, cid, DepositEntry.at, DepositEntry.id),
        key_events=_of_client(KeyEvent, cid, KeyEvent.at, KeyEvent.id),
        messages=_of_client(Notification, cid, Notification.created_at, Notification.id),
        consents=list(reversed(privacy.consent_history(cid))),
        notes=_of_client(ClientNote, cid, ClientNote.created_at, ClientNote.id),
        waitlist=_of_client(WaitlistEntry, cid, WaitlistEntry.created_at, WaitlistEntry.id),
        lost_items=_of_client(LostItem, cid, LostItem.cleaned_out_on, LostItem.id),
        tickets=_of_client(MaintenanceTicket, cid, MaintenanceTicket.opened_at,
                           MaintenanceTicket.id),
        requests=_of_client(DeletionRequest, cid, DeletionRequest.id),
    )


def export_client(client_id, *, by_user_id):
    """Everything held about the client as a ZIP archive in a temporary file (an Export).

    Refused (privacy.PrivacyError) for a client of a branch the user is not
    limited to. The download is logged in the activity log.
    """
    client = privacy.client_for(client_id, by_user_id)
    timezone_name = clock.branch_timezone(client.branch_id)
    language = client.preferred_language.value
    handle, name = tempfile.mkstemp(prefix=f"client-{client.id}-", suffix=".zip")
    os.close(handle)
    try:
        with force_locale(language), zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as archive:
            names, files, counts = _Names(), set(), {}
            for table, query in _queries(client.id):
                counts[table.name] = _write_table(archive, table, query, timezone_name, names,
                                                  files)
            missing = _write_files(archive, files)
            archive.writestr("summary.html", _summary(client, counts, files, missing,
                                                      timezone_name, language == "bn"))
    except BaseException:
        os.unlink(name)
        raise
    _log_export(client.id, by_user_id=by_user_id)
    day = clock.branch_today(client.branch_id).isoformat()
    return Export(Path(name), f"client-{client.id}-data-{day}.zip")


@desk_action
def _log_export(client_id, *, by_user_id):
    """A copy of the client's data left the desk: who took it, when."""
    client = db.session.get(Client, client_id)
    audit.record(ActivityAction.DOWNLOADED, model="Client", object_id=client_id,
                 summary="client's data exported (privacy)", branch_id=client.branch_id)
