"""Clients of the providers the desk talks to: SMTP email, SSL Wireless SMS, WhatsApp Cloud API.

Each channel module offers `configured()` (its settings, or None while it has
no credentials: the channel is off) and `send(config, message)`, which returns
a Sent or raises one of the outcomes below. They speak the providers' documented
protocols and know nothing of notifications, retries or the database.
"""

from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class Message:
    """What one channel is asked to send."""

    reference: str            # ours, unique per message and stable across attempts
    recipient: str
    body: str
    subject: str = ""
    language: str = "bn"
    attachments: tuple = ()   # (filename, mime type, bytes)
    template_name: str = ""   # WhatsApp: the approved template
    parameters: tuple = ()    # WhatsApp: the template's body parameters, in order
    document: dict = field(default_factory=dict)  # WhatsApp: {"link", "filename"} header


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_id: str = ""
    segments: int = 1


class DeliveryFailed(Exception):
    """The provider did not take the message; `reason` says why in the provider's words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = str(reason)[:255]


class TemporaryFailure(DeliveryFailed):
    """Worth trying again later: the provider was down, slow, or asked us to slow down."""


class PermanentFailure(DeliveryFailed):
    """Trying again will not help: a bad number, a refused template, wrong credentials."""


class AlreadyAccepted(Exception):
    """The provider already has this message (an earlier attempt got through): it is sent."""
