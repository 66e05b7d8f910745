"""Business settings with their types and defaults (SPEC S7).

A setting not yet saved reads as its default, so a new install works before
anyone opens the settings screen.
"""

import json
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Setting
from app.services import secret_box
from app.services.errors import Refusal


@dataclass(frozen=True)
class SettingSpec:
    """What one setting means and which values it accepts."""

    label: object
    kind: type
    default: object
    minimum: int | None = None
    check: object = None  # for dict settings: a function raising InvalidSetting
    # For an uploaded image: the upload folder (app.services.uploads) its file is stored in.
    upload_folder: str | None = None
    # A password or token: encrypted at rest (app.services.secret_box), never shown back in full.
    secret: bool = False


TERMS = ("DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY")


def _check_price_table(table):
    """{"*": {"MONTHLY": 800, …}, "Premium": {…}}: taka per term, per locker category."""
    if not isinstance(table, dict) or "*" not in table:
        raise InvalidSetting(_l('Give prices per category, with "*" for every other category.'))
    for category, prices in table.items():
        if not isinstance(prices, dict) or set(prices) - set(TERMS):
            raise InvalidSetting(_l("Prices of %(category)s must be given per term: %(terms)s.",
                                    category=category, terms=", ".join(TERMS)))
        for amount in prices.values():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                raise InvalidSetting(_l("A price must be a number of taka, 0 or more."))


def _check_mail_security(value):
    if value not in ("", "starttls", "ssl", "none"):
        raise InvalidSetting(_l('Write "starttls", "ssl" or "none" (empty: as the server '
                                'environment says).'))


def _check_quiet_hours(value):
    if value and not _parse_quiet_hours(value):
        raise InvalidSetting(_l('Write the quiet hours as "21:00-08:00" (empty: none).'))


def _parse_quiet_hours(value):
    """"21:00-08:00" → ((21, 0), (8, 0)), or None when it does not read as that."""
    try:
        start, end = (part.strip() for part in value.replace("–", "-").split("-"))
        pairs = tuple(tuple(int(n) for n in part.split(":")) for part in (start, end))
    except ValueError:
        return None
    if all(len(pair) == 2 and 0 <= pair[0] < 24 and 0 <= pair[1] < 60 for pair in pairs):
        return pairs
    return None


def _check_reminder_schedule(value):
    if parse_reminder_schedule(value) is None:
        raise InvalidSetting(_l('Write each reminder as a channel and a day counted from the '
                                'expiry, e.g. "email -7, sms -3, whatsapp 0, sms +3".'))


def parse_reminder_schedule(value):
    """"email -7, sms -3" → [("email", -7), ("sms", -3)], or None when it does not read as that."""
    rules = []
    for part in (value or "").split(","):
        if not part.strip():
            continue
        words = part.split()
        if len(words) != 2 or words[0].lower() not in ("email", "sms", "whatsapp"):
            return None
        try:
            rules.append((words[0].lower(), int(words[1])))
        except ValueError:
            return None
    return rules


def _check_day_list(value):
    if parse_day_list(value) is None:
        raise InvalidSetting(_l('Write whole days separated by commas, e.g. "1, 7, 14".'))


def parse_day_list(value):
    """"1, 7, 14" → [1, 7, 14], or None when it does not read as that."""
    try:
        days = [int(part) for part in (value or "").split(",") if part.strip()]
    except ValueError:
        return None
    return days if all(day > 0 for day in days) else None


def _check_backup_schedule(value):
    if value not in ("daily", "weekly", "off"):
        raise InvalidSetting(_l('Write "daily", "weekly" or "off".'))


def _check_web_address(value):
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise InvalidSetting(_l("Write a web address starting with https:// (or http://)."))


def _check_rsa_private_key(value):
    from cryptography.hazmat.primitives import serialization

    if value and not _key_loads(value, lambda der: serialization.load_der_private_key(der, None)):
        raise InvalidSetting(_l("Paste the private key as Nagad gave it (PEM, or its Base64 text)."))


def _check_rsa_public_key(value):
    from cryptography.hazmat.primitives import serialization

    if value and not _key_loads(value, serialization.load_der_public_key):
        raise InvalidSetting(_l("Paste the public key as Nagad gave it (PEM, or its Base64 text)."))


def _key_loads(text, load):
    from app.integrations.gateways import key_der

    try:
        load(key_der(text))
    except (ValueError, TypeError):
        return False
    return True


def quiet_hours():
    """The quiet hours as ((start hour, minute), (end hour, minute)), or None when there are none."""
    return _parse_quiet_hours(get("quiet_hours")) if get("quiet_hours") else None


DEFAULT_PRICES = {"*": {"DAILY": 50, "WEEKLY": 250, "MONTHLY": 800, "QUARTERLY": 2200,
                        "HALF_YEARLY": 4200, "YEARLY": 8000},
                  "Premium": {"DAILY": 80, "WEEKLY": 400, "MONTHLY": 1200, "QUARTERLY": 3300,
                              "HALF_YEARLY": 6300, "YEARLY": 12000}}

SETTINGS = {
    # Empty until the gym names itself: documents then print the branch's name and address.
    "company_name": SettingSpec(_l("Company name"), str, ""),
    "company_address": SettingSpec(_l("Company address"), str, ""),
    "company_bin": SettingSpec(_l("VAT/BIN number"), str, ""),
    "company_logo": SettingSpec(_l("Company logo (on invoices and receipts)"), str, "",
                                upload_folder="company"),
    "currency": SettingSpec(_l("Currency"), str, "BDT"),
    "timezone": SettingSpec(_l("Timezone"), str, "Asia/Dhaka"),
    "default_language": SettingSpec(_l("Default language"), str, "bn"),
    "key_deposit_poisha": SettingSpec(_l("Key deposit (poisha)"), int, 50000, 0),
    "lost_key_fee_poisha": SettingSpec(_l("Lost key fee (poisha)"), int, 100000, 0),
    "grace_period_days": SettingSpec(_l("Grace period (days)"), int, 3, 0),
    "vat_rate_percent": SettingSpec(_l("VAT rate (%)"), int, 15, 0),
    "reservation_hold_hours": SettingSpec(_l("Reservation hold (hours)"), int, 24, 1),
    "expiring_soon_days": SettingSpec(_l("Expiring soon (days)"), int, 3, 0),
    "invoice_prefix": SettingSpec(_l("Invoice number prefix"), str, "INV"),
    "invoice_format": SettingSpec(_l("Invoice number format"), str, "{prefix}-{YYYY}-{seq:06}"),
    "invoice_start": SettingSpec(_l("First invoice number"), int, 1, 1),
    "receipt_bengali_digits": SettingSpec(_l("Bengali digits on invoices and receipts (1 = yes)"),
                                          int, 0, 0),
    "instalments_from_days": SettingSpec(_l("Terms of this many days or more may be paid in "
                                            "instalments"), int, 90, 1),
    "waitlist_offer_hours": SettingSpec(_l("Waitlist offer held for (hours)"), int, 24, 1),
    "lost_item_holding_days": SettingSpec(_l("Lost & found holding period (days)"), int, 30, 1),
    "password_max_age_days": SettingSpec(_l("Staff passwords must be changed after (days; "
                                            "0 = never)"), int, 90, 0),
    "password_history_count": SettingSpec(_l("Staff may not reuse their last (passwords)"),
                                          int, 5, 0),
    "rental_prices_taka": SettingSpec(_l("Rental prices (taka per category and term)"), dict,
                                      DEFAULT_PRICES, check=_check_price_table),
    # --- Messages to clients (app.services.notifications). Empty channel settings fall
    # back to the server's environment (MAIL_SERVER, SMS_API_URL, …), so an install can
    # be set up before its first start.
    "gym_hours": SettingSpec(_l("Opening hours (told in messages)"), str, "06:00-22:00"),
    "quiet_hours": SettingSpec(_l("Quiet hours: no reminders between (e.g. 21:00-08:00)"), str,
                               "21:00-08:00", check=_check_quiet_hours),
    "reminder_schedule": SettingSpec(_l("Reminders: channel and day from expiry "
                                        "(e.g. email -7, sms -3, whatsapp 0, sms +3)"), str,
                                     "email -7, sms -3, whatsapp 0, sms +3",
                                     check=_check_reminder_schedule),
    "overdue_notice_days": SettingSpec(_l("Overdue notices after (days, on every channel)"), str,
                                       "1, 7, 14", check=_check_day_list),
    "message_expiry_hours": SettingSpec(_l("A message not sent within (hours) is dropped"), int,
                                        72, 1),
    "mail_server": SettingSpec(_l("Email: SMTP server"), str, ""),
    "mail_port": SettingSpec(_l("Email: SMTP port (0 = from the environment)"), int, 0, 0),
    "mail_security": SettingSpec(_l("Email: starttls, ssl or none"), str, "",
                                 check=_check_mail_security),
    "mail_username": SettingSpec(_l("Email: user name"), str, ""),
    "mail_password": SettingSpec(_l("Email: password"), str, "", secret=True),
    "mail_default_sender": SettingSpec(_l("Email: sender address"), str, ""),
    "sms_api_url": SettingSpec(_l("SMS: SSL Wireless API address"), str, ""),
    "sms_api_token": SettingSpec(_l("SMS: API token"), str, "", secret=True),
    "sms_sid": SettingSpec(_l("SMS: sender ID (SID)"), str, ""),
    "sms_cost_poisha": SettingSpec(_l("SMS: cost of one part (poisha)"), int, 35, 0),
    "whatsapp_api_url": SettingSpec(_l("WhatsApp: Cloud API address"), str, ""),
    "whatsapp_phone_number_id": SettingSpec(_l("WhatsApp: phone number ID"), str, ""),
    "whatsapp_token": SettingSpec(_l("WhatsApp: access token"), str, "", secret=True),
    "whatsapp_app_secret": SettingSpec(_l("WhatsApp: app secret (checks status callbacks)"), str,
                                       "", secret=True),
    "whatsapp_verify_token": SettingSpec(_l("WhatsApp: webhook verify token"), str, "",
                                         secret=True),
    "whatsapp_cost_poisha": SettingSpec(_l("WhatsApp: cost of one delivered message (poisha)"),
                                        int, 100, 0),
    "backup_schedule": SettingSpec(_l("Backups: daily, weekly or off"), str, "daily",
                                   check=_check_backup_schedule),
    "backup_keep": SettingSpec(_l("Backups: how many to keep"), int, 14, 1),
    "backup_offsite_dir": SettingSpec(_l("Backups: also copy to this folder (a mounted share)"),
                                      str, ""),
    "payment_link_hours": SettingSpec(_l("Online payment links work for (hours)"), int, 72, 1),
    "bkash_base_url": SettingSpec(_l("bKash: API address (sandbox or live)"), str,
                                  "https://tokenized.sandbox.bka.sh/v1.2.0-beta",
                                  check=_check_web_address),
    "bkash_app_key": SettingSpec(_l("bKash: app key"), str, ""),
    "bkash_app_secret": SettingSpec(_l("bKash: app secret"), str, "", secret=True),
    "bkash_username": SettingSpec(_l("bKash: user name"), str, ""),
    "bkash_password": SettingSpec(_l("bKash: password"), str, "", secret=True),
    "sslcommerz_base_url": SettingSpec(_l("SSLCommerz: address (sandbox or live)"), str,
                                       "https://sandbox.sslcommerz.com", check=_check_web_address),
    "sslcommerz_store_id": SettingSpec(_l("SSLCommerz: store ID"), str, ""),
    "sslcommerz_store_password": SettingSpec(_l("SSLCommerz: store password"), str, "",
                                             secret=True),
    "nagad_base_url": SettingSpec(_l("Nagad: API address (sandbox or live)"), str,
                                  "http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0/api/dfs",
                                  check=_check_web_address),
    "nagad_merchant_id": SettingSpec(_l("Nagad: merchant ID"), str, ""),
    "nagad_merchant_number": SettingSpec(_l("Nagad: merchant wallet number"), str, ""),
    "nagad_merchant_private_key": SettingSpec(_l("Nagad: merchant private key (PEM or Base64)"),
                                              str, "", secret=True, check=_check_rsa_private_key),
    "nagad_public_key": SettingSpec(_l("Nagad: Nagad's public key (PEM or Base64)"), str, "",
                                    check=_check_rsa_public_key),
    "bkash_refund_days": SettingSpec(_l("bKash: refunds possible for (days after payment)"), int,
                                     15, 0),
}


class InvalidSetting(Refusal):
    """A value that does not fit the setting."""


def coerce(key, raw):
    """Turn the text typed on the settings screen into the setting's type."""
    spec = SETTINGS.get(key)
    if spec is None:
        raise InvalidSetting(_l("Unknown setting."))
    if spec.kind is int:
        try:
            value = int(str(raw).strip())
        except ValueError as exc:
            raise InvalidSetting(_l("Enter a whole number.")) from exc
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidSetting(_l("The value must be at least %(minimum)d.", minimum=spec.minimum))
        return value
    if spec.upload_folder is not None:
        # The path of a file stored by app.services.uploads, never a path typed in.
        value = str(raw if raw is not None else "").strip()
        if value and not (value.startswith(f"{spec.upload_folder}/") and ".." not in value):
            raise InvalidSetting(_l("Upload an image instead."))
        return value
    if spec.kind is dict:
        try:
            value = raw if isinstance(raw, dict) else json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise InvalidSetting(_l("This must be JSON text.")) from exc
        spec.check(value)
        return value
    value = str(raw if raw is not None else "").strip()
    if spec.check is not None:
        spec.check(value)
    return secret_box.seal(value) if spec.secret else value


def get(key):
    """The current value of setting `key`."""
    row = db.session.get(Setting, key)
    value = SETTINGS[key].default if row is None else row.value
    return secret_box.open_sealed(value) if SETTINGS[key].secret else value


def reseal_secrets(rotate_one):
    """Re-encrypt every stored secret with `rotate_one` (secret_box.rotate); commits."""
    keys = [key for key, spec in SETTINGS.items() if spec.secret]
    rows = db.session.execute(db.select(Setting).where(Setting.key.in_(keys))).scalars().all()
    for row in rows:
        row.value = rotate_one(row.value)
    db.session.commit()
    return len([row for row in rows if row.value])


def company(branch=None):
    """Who issues invoices and receipts: {"name", "address", "bin", "logo_path"}.

    The settings say; while the company name or address is not set, that of
    `branch` (the document's branch) stands in, so no document ever prints a
    placeholder. `logo_path` is the stored logo's path relative to UPLOAD_DIR, or "".
    """
    name = get("company_name") or (branch.name if branch is not None else "")
    address = get("company_address") or (branch.address or "" if branch is not None else "")
    return {"name": name, "address": address, "bin": get("company_bin"),
            "logo_path": get("company_logo")}


def put(key, raw):
    """Validate and store a setting (logged like any other change)."""
    value = coerce(key, raw)
    row = db.session.get(Setting, key) or Setting(key=key)
    row.value = value
    db.session.add(row)
    return row


def ensure_defaults():
    """Create a row with the default value for every setting not saved yet."""
    existing = set(db.session.execute(db.select(Setting.key)).scalars())
    for key, spec in SETTINGS.items():
        if key not in existing:
            db.session.add(Setting(key=key, value=spec.default))
    db.session.commit()
