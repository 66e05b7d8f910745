"""Invoice and receipt PDFs for download (SPEC P3); linked from other screens, not in the menu."""

from flask import Response
from flask import abort
from flask import redirect
from flask import url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from admin_views.base import ID_PATH
from admin_views.base import SecuredView
from admin_views.base import user_branch_id
from app.extensions import db
from app.models import Invoice
from app.models import Payment
from app.services import documents


def _visible(model, record_id):
    """The invoice or payment, or 404 if there is none or another branch's."""
    record = db.session.get(model, record_id)
    branch_id = user_branch_id()
    if record is None or (branch_id is not None and record.branch_id != branch_id):
        abort(404)
    return record


def _pdf(body, filename):
    # Inline: the desk opens it in the browser's viewer and prints from there.
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


class DocumentView(SecuredView):
    """/admin/documents/invoice/<id>.pdf and /admin/documents/receipt/<payment id>.pdf."""

    permission_module = "payments"

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        # Documents are opened from an invoice; the bare address leads to the invoices.
        return redirect(url_for("invoices.index_view"))

    @expose(f"/invoice/<{ID_PATH}:invoice_id>.pdf")
    def invoice(self, invoice_id):
        """The A4 invoice."""
        invoice = _visible(Invoice, invoice_id)
        return _pdf(documents.invoice_pdf(invoice.id), documents.invoice_filename(invoice.id))

    @expose(f"/receipt/<{ID_PATH}:payment_id>.pdf")
    def receipt(self, payment_id):
        """The 80 mm receipt of one payment."""
        payment = _visible(Payment, payment_id)
        return _pdf(documents.receipt_pdf(payment.id), documents.receipt_filename(payment.id))


def register(admin):
    """Add this area's views to `admin`."""
    admin.add_view(DocumentView(name=_l("Invoices and receipts"), endpoint="documents"))
