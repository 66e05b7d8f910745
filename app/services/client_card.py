"""The printable client card (SPEC U5): photo, name, member id, locker and a QR code, CR80 size.

The QR code holds the member id and nothing else ("MEM-000042", Client.member_id):
a USB scanner types it into the Ctrl+K quick search and presses Enter, and the
quick search opens the client's profile (app/services/quick_search.py). A URL
would mean nothing to the quick search.

One card (templates/documents/_client_card.html, app/static/css/client_card.css)
makes both the PDF, laid out by WeasyPrint with the bundled fonts as the
invoices are, and the desk's print view, so the browser prints what the PDF
shows. Labels are Bengali / English pairs, as on the receipts: the card is the
client's, whatever language the desk reads. The member id is printed as it is
scanned and typed, in ASCII digits, like an invoice number.
"""

import base64
import mimetypes
from dataclasses import dataclass

from flask import render_template
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Client
from app.models import Locker
from app.models import Rental
from app.models import RentalStatus
from app.models import Zone
from app.services import qr
from app.services import settings
from app.services import uploads
from app.services.pdf import bilingual
from app.services.pdf import font_faces_css
from app.services.pdf import font_stack
from app.services.pdf import render_html

# ISO/IEC 7810 ID-1, the size of a bank card, which card printers and PVC blanks are
# (css/client_card.css lays the card and its page out at this size).
CARD_WIDTH_MM = 85.60
CARD_HEIGHT_MM = 53.98
# The rentals whose locker the client has now: an expired rental's locker is still
# theirs until it is released. A reserved one is not theirs yet.
HELD = (RentalStatus.ACTIVE, RentalStatus.EXPIRED)
LABELS = {
    "title": _l("Member card"),
    "member_id": _l("Member ID"),
    "locker": _l("Locker"),
}


class CardError(LookupError):
    """There is no such client."""


@dataclass
class Card:
    """What the card shows; images are data: URIs, read the same by WeasyPrint and a browser."""

    client: Client
    member_id: str
    # [(locker number, zone name as (Bengali, English) or (English,))]
    lockers: list
    qr_svg: str
    photo_src: str | None
    company_name: str
    company_address: str
    logo_src: str | None
    labels: dict


def _client(client_id):
    client = db.session.get(Client, client_id)
    if client is None:
        raise CardError(client_id)
    return client


def lockers_held(client_id):
    """[(locker number, zone names)] of the lockers the client has now, oldest rental first."""
    rows = db.session.execute(
        db.select(Locker.number, Zone.name, Zone.name_bn)
        .select_from(Rental).join(Locker, Rental.locker_id == Locker.id)
        .join(Zone, Locker.zone_id == Zone.id)
        .where(Rental.client_id == client_id, Rental.holding_locker_id.is_not(None),
               Rental.status.in_(HELD))
        .order_by(Rental.starts_at, Rental.id))
    return [(number, (name_bn, name) if name_bn and name_bn != name else (name,))
            for number, name, name_bn in rows]


def qr_svg(member_id):
    """The card's QR code: exactly the member id, which is what the scanner types."""
    return qr.svg(member_id, css_class="cc-qr", label=member_id)


def _data_uri(relative, *, thumbnail=False):
    """A stored image as a data: URI (the thumbnail when asked and made), or None if missing.

    Inline, so WeasyPrint and the print view read the same bytes, and the print
    view needs no second request under another permission (the logo's is settings-view).
    """
    path = uploads.resolve(relative) if relative else None
    if path is None:
        return None
    if thumbnail and uploads.thumbnail_of(path).is_file():
        path = uploads.thumbnail_of(path)
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mimetype};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def card(client_id):
    """Everything the card of `client_id` shows (CardError if there is no such client)."""
    client = _client(client_id)
    company = settings.company(client.branch)
    return Card(client=client, member_id=client.member_id, lockers=lockers_held(client.id),
                qr_svg=qr_svg(client.member_id),
                # The 320 px thumbnail is about 350 dpi on the card's 23 × 29 mm photo.
                photo_src=_data_uri(client.photo_path, thumbnail=True),
                company_name=company["name"], company_address=company["address"],
                logo_src=_data_uri(company["logo_path"]),
                labels={name: bilingual(label) for name, label in LABELS.items()})


def card_html(client_id):
    """The HTML the card's PDF is made from: one CR80 page."""
    return render_template("documents/client_card.html", card=card(client_id),
                           font_faces=font_faces_css(), font_stack=font_stack())


def card_document(client_id):
    """The laid-out card, before it is written as PDF (tests look inside it)."""
    return render_html(card_html(client_id))


def card_pdf(client_id):
    """The client card as PDF bytes, one page of 85.60 × 53.98 mm."""
    return card_document(client_id).write_pdf()


def card_filename(client_id):
    """A download name such as client-card-MEM-000042.pdf."""
    return f"client-card-{_client(client_id).member_id}.pdf"
