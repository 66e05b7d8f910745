"""Where a request comes from, as far as the desk can trust it.

`request.remote_addr` is the only source: behind a reverse proxy, Werkzeug's
ProxyFix (set up in create_app with TRUSTED_PROXIES hops) rewrites it from
X-Forwarded-For, taking only the hops the install says it runs. A header sent
by the browser itself is never read here, so nobody can put a made-up address
into the activity log, and nothing longer than an IPv6 address is ever stored.
"""

import ipaddress

from flask import has_request_context
from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

# The longest textual IPv6 address ("ffff:…:255.255.255.255") is 45 characters.
ADDRESS_MAX_LENGTH = 45


def request_address():
    """The validated IP address of the current request, or None outside a request."""
    if not has_request_context():
        return None
    return valid_address(request.remote_addr)


def valid_address(value):
    """`value` as a normalised IP address string, or None if it is not one."""
    if not value or len(value) > ADDRESS_MAX_LENGTH:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


class TrustedProxies:
    """Werkzeug's ProxyFix for the TRUSTED_PROXIES hops the app's config names (0: none).

    The count is read per request so that the config decides, not the moment
    the app was built.
    """

    def __init__(self, app):
        self.app = app
        self.wsgi_app = app.wsgi_app
        self.fixes = {}

    def __call__(self, environ, start_response):
        hops = int(self.app.config.get("TRUSTED_PROXIES") or 0)
        if hops <= 0:
            return self.wsgi_app(environ, start_response)
        fix = self.fixes.get(hops)
        if fix is None:
            fix = self.fixes[hops] = ProxyFix(self.wsgi_app, x_for=hops, x_proto=hops)
        return fix(environ, start_response)
