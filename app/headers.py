"""Security headers on every response: a nonce-based CSP, no framing, no sniffing, no caching.

Every page allows scripts from the app's own origin and, inline, only those
carrying this request's nonce (`csp_nonce()` in templates, Flask-Admin's
`admin_csp_nonce_attribute`). No page of the desk needs an inline handler, a
`javascript:` URL or a `style=` attribute: app/static/js/desk.js binds the
handlers Flask-Admin's templates used to carry inline (see templates/admin/).
"""

import secrets

from flask import g
from flask import request

# A PDF is drawn by the browser's own viewer, which some Chrome versions refuse or
# draw a few lines high under a page's object-src 'none' or inline-style rules
# (crbug.com/271452). A PDF runs no script of ours, so its policy only has to keep
# it out of frames and load nothing but itself.
PDF_POLICY = ("default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def csp_nonce():
    """This request's CSP nonce: made on first use, the same for the whole response."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(nonce):
    """The policy of every page of the desk, allowing inline code only with `nonce`.

    img-src: the two-factor QR code is a data: SVG, the signature pad redraws a
    data: PNG and the registration photo preview is a blob: URL.
    """
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data: blob:",
        # The bundled Bengali font (app/static/fonts), said outright: no font from elsewhere.
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ))


def _is_static_file():
    """True for the app's and the extensions' /static files (Flask-Admin's, Flask-Security's)."""
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


def _set_security_headers(response):
    # A view that chose stricter headers (an upload is `default-src 'none'`) keeps them.
    if response.mimetype == "application/pdf":
        response.headers.setdefault("Content-Security-Policy", PDF_POLICY)
    else:
        response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin: the language switch and the upload-too-large redirect go back to
    # the Referer, so the desk needs it from its own pages; no other site has any
    # business learning a desk address (client ids, searched phone numbers).
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Whatever the app renders is either for a signed-in user or part of signing in
    # (login, two-factor, the redirects between): a shared desk PC must not keep it
    # for the back button or the next person. Static files stay cacheable.
    if not _is_static_file() and "no-store" not in (response.headers.get("Cache-Control") or ""):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_headers(app):
    """Send the security headers with every response and give templates `csp_nonce()`."""
    app.add_template_global(csp_nonce, "csp_nonce")
    app.after_request(_set_security_headers)
