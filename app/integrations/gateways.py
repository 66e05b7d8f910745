"""What the payment gateways' clients share: their two failures, amounts, and redaction.

Amounts cross the boundary as taka decimal strings ("150.00") and are compared
as Decimal, never float; the desk keeps integer poisha.
"""

import base64
import re
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation

# Fields whose values never reach the ledger's record of an exchange.
SECRET_FIELDS = {"app_secret", "password", "store_passwd", "id_token", "refresh_token",
                 "sensitiveData", "signature", "verify_sign", "verify_sign_sha2"}


# Verdict states: the gateway's word on one payment.
COMPLETED, FAILED, CANCELLED, EXPIRED, OPEN = "completed", "failed", "cancelled", "expired", "open"


@dataclass(frozen=True)
class Verdict:
    """What a gateway's own API says of one payment, in its own values (amounts as strings).

    OPEN: not settled yet (the client is still on the page, or the gateway is
    still working); ask again later.
    """

    state: str
    transaction_id: str = ""
    amount: str = ""
    currency: str = ""
    reference: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Customer:
    """Who pays, as the gateways that ask want it."""

    name: str
    phone: str
    email: str = ""
    address: str = ""
    city: str = "Dhaka"
    ip: str = "127.0.0.1"  # the client's IPv4, which Nagad asks for


class GatewayError(Exception):
    """A call to a gateway did not succeed; `reason` says why in the gateway's words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = str(reason)[:255]


class Refused(GatewayError):
    """The gateway answered and said no (`code` is its own failure code)."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code


class Unreachable(GatewayError):
    """No answer we can trust (timeout, dropped connection, an error page, a malformed body):
    whether the gateway acted is unknown until we ask it again."""


def taka(poisha):
    """"150.00" for 15000 poisha."""
    return f"{Decimal(int(poisha)) / 100:.2f}"


def poisha(amount):
    """Integer poisha of a taka decimal string, or None when it is not a plain amount."""
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


def redact(payload):
    """A copy of `payload` (a dict of a request or an answer) without its secrets."""
    if not isinstance(payload, dict):
        return payload
    return {key: ("***" if key in SECRET_FIELDS else redact(value))
            for key, value in payload.items()}


def key_der(text):
    """The DER bytes of a key given as PEM or as its bare Base64 body, newlines or not.

    Gateways hand keys out either way, and a pasted PEM loses its line breaks in a
    one-line field. Raises ValueError (binascii.Error is one) when it is not Base64.
    """
    body = re.sub(r"-----[A-Z ]+-----", "", text or "")
    return base64.b64decode(re.sub(r"\s+", "", body), validate=True)
