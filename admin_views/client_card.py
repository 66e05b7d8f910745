"""The printable client card (SPEC U5): a print view and a PDF, opened from the client's profile.

Both need clients-view, checked on every request by SecuredView; a client of
another branch is "not found" for staff limited to a branch, as on the profile.
Printing a card changes nothing and, like printing an invoice or a receipt, is
not written to the activity log.
"""

from flask import Response
from flask import redirect
from flask import url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from admin_views.base import ID_PATH
from admin_views.registration import ClientPage
from admin_views.registration import profile_url
from admin_views.registration import visible_client
from app.services import client_card


class ClientCardView(ClientPage):
    """/admin/client_card/?id=<client> (print view) and /admin/client_card/<client>.pdf."""

    @expose("/")
    def index(self):
        """The card on the screen, a Print button and the PDF; printed, the card alone."""
        client = self.requested_client()
        if client is None:
            return redirect(url_for("clients.index_view"))
        return self.render("admin/clients/card.html", client=client,
                           card=client_card.card(client.id), profile_url=profile_url(client.id),
                           width_mm=client_card.CARD_WIDTH_MM, height_mm=client_card.CARD_HEIGHT_MM)

    @expose(f"/<{ID_PATH}:client_id>.pdf")
    def pdf(self, client_id):
        """The card as a one-page CR80 PDF, inline: the desk prints it from the browser's viewer."""
        client = visible_client(client_id)
        response = Response(client_card.card_pdf(client.id), mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f'inline; filename="{client_card.card_filename(client.id)}"')
        response.headers["Cache-Control"] = "private, no-store"
        return response


def register(admin):
    """Add this area's views to `admin`."""
    admin.add_view(ClientCardView(name=_l("Client card"), endpoint="client_card"))
