"""The signed terms & conditions as a PDF (SPEC S6), rendered with WeasyPrint.

The PDF shows the text of the version the client signed (not the current
one), the client's name, phone and NID, the signature image, when it was
signed in the branch's clock, the staff member who witnessed it and the
version number, under headings in Bengali and English.

The Bengali font is bundled in app/static/fonts (Noto Sans Bengali, OFL) and
named in the PDF's own @font-face, so every machine renders and shapes the
same glyphs whatever fonts it has installed.
"""

import base64
from datetime import UTC

from babel.dates import format_datetime
from babel.dates import get_timezone
from flask import render_template
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import TermsSignature
from app.services import settings
from app.services import uploads
from app.services.pdf import FONT_FAMILY
from app.services.pdf import LANGUAGES
from app.services.pdf import LATIN_FAMILY
from app.services.pdf import STATIC_DIR  # noqa: F401  (tests reach the fonts through it)
from app.services.pdf import bilingual
from app.services.pdf import render_html

DEFAULT_TIMEZONE = "Asia/Dhaka"

HEADINGS = {
    "title": _l("Terms & conditions and liability waiver"),
    "client": _l("Client"),
    "phone": _l("Phone"),
    "nid": _l("NID / passport no."),
    "version": _l("Version"),
    "signed_at": _l("Signed"),
    "witness": _l("Witnessed by"),
    "signature": _l("Signature"),
    "terms": _l("Terms & conditions"),
    "missing": _l("The signature file is missing."),
    "page": _l("Page"),
}


class WaiverError(LookupError):
    """There is no such signature."""


def signed_time(signature):
    """When it was signed, in the branch's timezone: {"bn": …, "en": …, "zone": "Asia/Dhaka"}."""
    zone = (signature.client.branch.timezone if signature.client.branch else None) or DEFAULT_TIMEZONE
    moment = signature.signed_at.replace(tzinfo=UTC)
    shown = {locale: format_datetime(moment, "d MMMM y, HH:mm", tzinfo=get_timezone(zone),
                                     locale=locale) for locale in LANGUAGES}
    shown["zone"] = zone
    return shown


def _signature_data_url(signature):
    path = uploads.resolve(signature.signature_path)
    if path is None:
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _signature(signature_id):
    signature = db.session.get(TermsSignature, signature_id)
    if signature is None:
        raise WaiverError(signature_id)
    return signature


def waiver_html(signature_id):
    """The HTML the PDF is made from."""
    signature = _signature(signature_id)
    return render_template(
        "admin/clients/waiver_pdf.html",
        signature=signature,
        client=signature.client,
        terms=signature.terms_version,
        staff=signature.staff,
        signed=signed_time(signature),
        signature_image=_signature_data_url(signature),
        headings={key: bilingual(message) for key, message in HEADINGS.items()},
        company=settings.company(signature.client.branch)["name"],
        font_family=FONT_FAMILY,
        latin_family=LATIN_FAMILY,
    )


def waiver_document(signature_id):
    """The laid-out waiver, before it is written as PDF (tests look inside it)."""
    return render_html(waiver_html(signature_id))


def waiver_pdf(signature_id):
    """The waiver of one signature as PDF bytes."""
    return waiver_document(signature_id).write_pdf()


def waiver_filename(signature_id):
    """A download name such as terms-v3-client-42.pdf."""
    signature = _signature(signature_id)
    return f"terms-v{signature.terms_version.version}-client-{signature.client_id}.pdf"
