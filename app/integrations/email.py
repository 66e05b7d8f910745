"""Email over SMTP, with STARTTLS or SSL as the server wants (SPEC N2)."""

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from email.utils import formatdate

from flask import current_app

from app.integrations import PermanentFailure
from app.integrations import Sent
from app.integrations import TemporaryFailure
from app.services import settings


@dataclass(frozen=True)
class EmailConfig:
    server: str
    port: int
    security: str  # "starttls", "ssl" or "none"
    username: str
    password: str
    sender: str
    timeout: float


def configured():
    """The SMTP settings (the settings screen first, then the environment), or None when off."""
    config = current_app.config
    server = settings.get("mail_server") or config.get("MAIL_SERVER")
    if not server:
        return None
    security = settings.get("mail_security") or (
        "ssl" if config.get("MAIL_USE_SSL") else "starttls" if config.get("MAIL_USE_TLS")
        else "none")
    return EmailConfig(
        server=server, port=settings.get("mail_port") or int(config.get("MAIL_PORT") or 25),
        security=security,
        username=settings.get("mail_username") or config.get("MAIL_USERNAME") or "",
        password=settings.get("mail_password") or config.get("MAIL_PASSWORD") or "",
        sender=settings.get("mail_default_sender") or config.get("MAIL_DEFAULT_SENDER"),
        timeout=config.get("PROVIDER_TIMEOUT", 15))


def compose(config, message, sender_name=""):
    """The email of `message`; its Message-ID is derived from our reference, the same each attempt."""
    email = EmailMessage()
    email["From"] = formataddr((sender_name, config.sender)) if sender_name else config.sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    domain = config.sender.rpartition("@")[2] or "locker-desk.local"
    email["Message-ID"] = f"<{message.reference}@{domain}>"
    email["Content-Language"] = message.language
    email.set_content(message.body)
    for filename, mime_type, content in message.attachments:
        maintype, _, subtype = mime_type.partition("/")
        email.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return email


def send(config, message, sender_name=""):
    """Hand the email to the SMTP server; a 4xx or a dropped connection is temporary, a 5xx not."""
    email = compose(config, message, sender_name)
    try:
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.server, config.port, timeout=config.timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(config.server, config.port, timeout=config.timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password)
            refused = smtp.send_message(email)
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentFailure(f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}") \
            from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        raise _by_code(code, reason) from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error) from exc
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise TemporaryFailure(f"SMTP server unreachable: {exc.__class__.__name__} {exc}") from exc
    if refused:
        code, reason = next(iter(refused.values()))
        raise _by_code(code, reason)
    return Sent(provider_id=email["Message-ID"].strip("<>"))


def _text(reason):
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _by_code(code, reason):
    failure = TemporaryFailure if 400 <= int(code) < 500 else PermanentFailure
    return failure(f"SMTP {code} {_text(reason)}")
