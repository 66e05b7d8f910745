"""Business settings with their types and defaults (SPEC S7).

A setting not yet saved reads as its default, so a new install works before
anyone opens the settings screen.
"""

import json
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import RentalTerm
from app.models import Setting
from app.services import money
from app.services import secret_box
from app.services.digits import ascii_digits
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
    # An amount stored as integer poisha and typed in taka on the settings screen.
    money: bool = False
    # The values offered as (value, label) pairs, or a function giving them; nothing else is taken.
    choices: object = ()
    # A yes/no setting stored as 1/0.
    boolean: bool = False
    # Several lines of text (an address).
    multiline: bool = False


TERMS = ("DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY")


def _check_price_table(table):
    """{"*": {"MONTHLY": 800, …}, "Premium": {…}}: taka per term, per locker category.

    A price is whole taka (800) or taka with poisha as text ("800.50"), never a
    float; "*" (every other category) needs a price for every term.
    """
    if not isinstance(table, dict) or "*" not in table:
        raise InvalidSetting(_l('Give prices per category, with "*" for every other category.'))
    for category, prices in table.items():
        if not isinstance(prices, dict) or set(prices) - set(TERMS):
            raise InvalidSetting(_l("Prices of %(category)s must be given per term: %(terms)s.",
                                    category=category, terms=", ".join(TERMS)))
        for amount in prices.values():
            if isinstance(amount, bool) or not isinstance(amount, int | str) or (
                    isinstance(amount, str) and not re.fullmatch(r"\d+(\.\d{1,2})?", amount)) or (
                    isinstance(amount, int) and amount < 0):
                raise InvalidSetting(_l("A price must be a number of taka, 0 or more."))
    if set(table["*"]) != set(TERMS):
        raise InvalidSetting(_l("Every other category needs a price for every term."))


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


def _check_holidays(value):
    if parse_holidays(value) is None:
        raise InvalidSetting(_l('Write the dates the gym is closed as 2026-12-16, separated by '
                                'commas (empty: none).'))


def parse_holidays(value):
    """"2026-12-16, 2027-02-21" → {date(2026, 12, 16), …}, or None when it does not read as that."""
    from datetime import date

    try:
        return {date.fromisoformat(part.strip()) for part in (value or "").split(",")
                if part.strip()}
    except ValueError:
        return None


def holidays():
    """The days the gym is closed (dates in the branch's calendar)."""
    return parse_holidays(get("holidays")) or set()


def _check_timezone(value):
    from zoneinfo import ZoneInfo
    from zoneinfo import ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSetting(_l("Write a timezone name such as Asia/Dhaka.")) from exc


def _check_invoice_format(value):
    try:
        sample = value.format(prefix="INV", YYYY="2026", YY="26", MM="01", seq=1)
    except (KeyError, IndexError, ValueError):
        sample = None
    if "{seq" not in value or not sample:
        raise InvalidSetting(_l("Use only {prefix}, {YYYY}, {YY}, {MM} and the running number "
                                "{seq:06}, e.g. {prefix}-{YYYY}-{seq:06}."))


def _check_offsite_url(value):
    if value and not re.fullmatch(r"(sftp://[^\s/]+|s3://[^\s/]+)(/\S*)?", value):
        raise InvalidSetting(_l('Write "sftp://host/folder" or "s3://bucket/folder" (empty: none).'))


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
    "company_address": SettingSpec(_l("Company address"), str, "", multiline=True),
    "company_bin": SettingSpec(_l("VAT/BIN number"), str, ""),
    "company_logo": SettingSpec(_l("Company logo (on invoices and receipts)"), str, "",
                                upload_folder="company"),
    # Amounts are shown with ৳ for BDT, with the code otherwise (an international chain's
    # own reports); gateways and messages always speak taka.
    "currency": SettingSpec(_l("Currency"), str, "BDT",
                            choices=(("BDT", _l("Bangladeshi taka (৳)")), ("USD", "USD"),
                                     ("EUR", "EUR"), ("GBP", "GBP"), ("INR", "INR"))),
    "timezone": SettingSpec(_l("Timezone"), str, "Asia/Dhaka", check=_check_timezone),
    "default_language": SettingSpec(_l("Default language"), str, "bn",
                                    choices=(("bn", _l("Bengali")), ("en", _l("English")))),
    "key_deposit_poisha": SettingSpec(_l("Key deposit"), int, 50000, 0, money=True),
    "lost_key_fee_poisha": SettingSpec(_l("Lost key fee"), int, 100000, 0, money=True),
    "grace_period_days": SettingSpec(_l("Grace period (days)"), int, 3, 0),
    "vat_rate_percent": SettingSpec(_l("VAT rate (%)"), int, 15, 0),
    "reservation_hold_hours": SettingSpec(_l("Reservation hold (hours)"), int, 24, 1),
    "expiring_soon_days": SettingSpec(_l("Expiring soon (days)"), int, 3, 0),
    "invoice_prefix": SettingSpec(_l("Invoice number prefix"), str, "INV"),
    "invoice_format": SettingSpec(_l("Invoice number format"), str, "{prefix}-{YYYY}-{seq:06}",
                                  check=_check_invoice_format),
    "invoice_start": SettingSpec(_l("First invoice number"), int, 1, 1),
    "receipt_bengali_digits": SettingSpec(_l("Bengali digits on invoices and receipts"),
                                          int, 0, 0, boolean=True),
    "instalments_from_days": SettingSpec(_l("Terms of this many days or more may be paid in "
                                            "instalments"), int, 90, 1),
    "waitlist_offer_hours": SettingSpec(_l("Waitlist offer held for (hours)"), int, 24, 1),
    "lost_item_holding_days": SettingSpec(_l("Lost & found holding period (days)"), int, 30, 1),
    "password_max_age_days": SettingSpec(_l("Staff passwords must be changed after (days; "
                                            "0 = never)"), int, 90, 0),
    "password_history_count": SettingSpec(_l("Staff may not reuse their last (passwords)"),
                                          int, 5, 0),
    "default_term": SettingSpec(_l("Term offered first when a locker is assigned"), str,
                                "MONTHLY", choices=lambda: [(term.name, term.label) for term in
                                                            RentalTerm if term.name in TERMS]),
    "rental_prices_taka": SettingSpec(_l("Rental prices (taka per category and term)"), dict,
                                      DEFAULT_PRICES, check=_check_price_table),
    # --- Messages to clients (app.services.notifications). Empty channel settings fall
    # back to the server's environment (MAIL_SERVER, SMS_API_URL, …), so an install can
    # be set up before its first start.
    "gym_hours": SettingSpec(_l("Opening hours (told in messages)"), str, "06:00-22:00",
                             check=_check_quiet_hours),
    # Reminders and campaigns wait for the next open day instead of asking a client to
    # come on a day the gym is closed.
    "holidays": SettingSpec(_l("Days the gym is closed (e.g. 2026-12-16, 2027-02-21)"), str, "",
                            check=_check_holidays, multiline=True),
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
                                 choices=(("", _l("As the server's environment says")),
                                          ("starttls", "STARTTLS"), ("ssl", "SSL/TLS"),
                                          ("none", _l("None (a server on this machine)")))),
    "mail_username": SettingSpec(_l("Email: user name"), str, ""),
    "mail_password": SettingSpec(_l("Email: password"), str, "", secret=True),
    "mail_default_sender": SettingSpec(_l("Email: sender address"), str, ""),
    "sms_api_url": SettingSpec(_l("SMS: SSL Wireless API address"), str, ""),
    "sms_api_token": SettingSpec(_l("SMS: API token"), str, "", secret=True),
    "sms_sid": SettingSpec(_l("SMS: sender ID (SID)"), str, ""),
    "sms_cost_poisha": SettingSpec(_l("SMS: cost of one part"), int, 35, 0, money=True),
    "whatsapp_api_url": SettingSpec(_l("WhatsApp: Cloud API address"), str, ""),
    "whatsapp_phone_number_id": SettingSpec(_l("WhatsApp: phone number ID"), str, ""),
    "whatsapp_token": SettingSpec(_l("WhatsApp: access token"), str, "", secret=True),
    "whatsapp_app_secret": SettingSpec(_l("WhatsApp: app secret (checks status callbacks)"), str,
                                       "", secret=True),
    "whatsapp_verify_token": SettingSpec(_l("WhatsApp: webhook verify token"), str, "",
                                         secret=True),
    "whatsapp_cost_poisha": SettingSpec(_l("WhatsApp: cost of one delivered message"), int, 100,
                                        0, money=True),
    "backup_schedule": SettingSpec(_l("Backups: how often"), str, "daily",
                                   choices=(("daily", _l("Every day")), ("weekly", _l("Every week")),
                                            ("off", _l("Off (only when asked for)")))),
    "backup_keep": SettingSpec(_l("Backups: how many to keep"), int, 14, 1),
    "backup_offsite_dir": SettingSpec(_l("Backups: also copy to this folder (a mounted share)"),
                                      str, ""),
    # Off-site storage through fsspec: "sftp://host/folder" or "s3://bucket/folder".
    "backup_offsite_url": SettingSpec(_l("Backups: also copy to (sftp://host/folder or "
                                         "s3://bucket/folder)"), str, "",
                                      check=_check_offsite_url),
    "backup_offsite_endpoint": SettingSpec(_l("Backups: S3-compatible service address (empty: "
                                              "Amazon S3)"), str, "", check=_check_web_address),
    "backup_offsite_username": SettingSpec(_l("Backups: off-site user name or access key"), str,
                                           ""),
    "backup_offsite_password": SettingSpec(_l("Backups: off-site password or secret key"), str,
                                           "", secret=True),
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
    # A deletion request waits this long (a client may change their mind; a dispute may need
    # the data) before the client's personal data is removed (app.services.privacy).
    "privacy_retention_days": SettingSpec(_l("Personal data is removed this many days after a "
                                             "deletion request"), int, 30, 0),
    "bkash_refund_days": SettingSpec(_l("bKash: refunds possible for (days after payment)"), int,
                                     15, 0),
}


class InvalidSetting(Refusal):
    """A value that does not fit the setting."""


class InvalidSettings(Refusal):
    """Values that do not fit their settings: `errors` is {key: message}; nothing was saved."""

    def __init__(self, errors):
        super().__init__(_l("Some values do not fit; nothing was saved. See the marked fields."))
        self.errors = errors


# The settings screen, topic by topic (SPEC S7): (name, heading, keys). Every setting is in one.
GROUPS = (
    ("company", _l("Company"), ("company_name", "company_address", "company_bin",
                                "company_logo")),
    ("language", _l("Language, currency and time"), ("default_language", "timezone", "currency",
                                                     "receipt_bengali_digits")),
    ("hours", _l("Opening hours and holidays"), ("gym_hours", "holidays", "quiet_hours")),
    ("rentals", _l("Rentals, prices and keys"), (
        "default_term", "rental_prices_taka", "key_deposit_poisha", "lost_key_fee_poisha",
        "grace_period_days", "reservation_hold_hours", "expiring_soon_days",
        "waitlist_offer_hours", "lost_item_holding_days")),
    ("invoices", _l("Invoices and VAT"), ("vat_rate_percent", "invoice_prefix", "invoice_format",
                                          "invoice_start", "instalments_from_days")),
    ("reminders", _l("Reminders to clients"), ("reminder_schedule", "overdue_notice_days",
                                               "message_expiry_hours")),
    ("email", _l("Email"), ("mail_server", "mail_port", "mail_security", "mail_username",
                            "mail_password", "mail_default_sender")),
    ("sms", _l("SMS"), ("sms_api_url", "sms_api_token", "sms_sid", "sms_cost_poisha")),
    ("whatsapp", _l("WhatsApp"), ("whatsapp_api_url", "whatsapp_phone_number_id",
                                  "whatsapp_token", "whatsapp_app_secret",
                                  "whatsapp_verify_token", "whatsapp_cost_poisha")),
    ("payments", _l("Payment gateways"), (
        "payment_link_hours", "bkash_base_url", "bkash_app_key", "bkash_app_secret",
        "bkash_username", "bkash_password", "bkash_refund_days", "sslcommerz_base_url",
        "sslcommerz_store_id", "sslcommerz_store_password", "nagad_base_url",
        "nagad_merchant_id", "nagad_merchant_number", "nagad_merchant_private_key",
        "nagad_public_key")),
    ("backups", _l("Backups"), ("backup_schedule", "backup_keep", "backup_offsite_dir",
                                "backup_offsite_url", "backup_offsite_endpoint",
                                "backup_offsite_username", "backup_offsite_password")),
    ("staff", _l("Staff passwords and privacy"), ("password_max_age_days",
                                                  "password_history_count",
                                                  "privacy_retention_days")),
)
GROUP_KEYS = {name: keys for name, _heading, keys in GROUPS}


def update(values, *, by_user_id=None):
    """Check every value of `values` ({key: text typed}) and store them all, or none.

    A secret left empty keeps the one stored (secrets are never sent back to
    the browser). Returns the keys whose value changed; each change is in the
    activity log under `by_user_id`.
    """
    from app.services.transactions import desk_action

    errors, stored = {}, {}
    for key, raw in values.items():
        spec = SETTINGS.get(key)
        if spec is None:
            errors[key] = _l("Unknown setting.")
            continue
        if spec.secret and not str(raw or "").strip():
            continue
        try:
            stored[key] = coerce(key, raw)
        except Refusal as exc:
            errors[key] = exc.message
    if errors:
        raise InvalidSettings(errors)

    @desk_action
    def write(*, by_user_id):
        changed = []
        for key, value in stored.items():
            row = db.session.get(Setting, key)
            if row is not None and row.value == value and not SETTINGS[key].secret:
                continue
            row = row or Setting(key=key)
            row.value = value
            db.session.add(row)
            changed.append(key)
        return changed

    return write(by_user_id=by_user_id)


def price_table_from_cells(cells):
    """{(category, term name): taka typed} from the price grid → the rental_prices_taka value.

    A category's empty cell takes the price of every other category ("*"), so
    a category with no price typed is left out. Whole taka are stored as
    numbers, taka with poisha as "800.50" (never a float).
    """
    table = {}
    for (category, term), text in cells.items():
        if not str(text or "").strip():
            continue
        try:
            poisha = money.parse_taka(text, required=True)
        except money.InvalidAmount as exc:
            raise InvalidSetting(_l("%(category)s, %(term)s: %(problem)s",
                                    category=_l("Every other category") if category == "*"
                                    else category, term=RentalTerm[term].label,
                                    problem=exc.message)) from exc
        table.setdefault(category, {})[term] = (poisha // 100 if poisha % 100 == 0
                                                else money.plain_taka(poisha))
    table.setdefault("*", {})
    return table


def shown(key):
    """The value a form shows for `key`: taka for money, "" for a secret, JSON never."""
    spec = SETTINGS[key]
    value = get(key)
    if spec.secret:
        return ""
    if spec.money:
        return money.plain_taka(value)
    return value


def choices(key):
    """The (value, label) pairs a choice setting offers; () for a setting typed freely."""
    offered = SETTINGS[key].choices
    return tuple(offered() if callable(offered) else offered)


def coerce(key, raw):
    """Turn the text typed on the settings screen into the setting's stored value."""
    spec = SETTINGS.get(key)
    if spec is None:
        raise InvalidSetting(_l("Unknown setting."))
    if spec.boolean:
        return 1 if raw in (True, 1, "1", "y", "on", "true") else 0
    if spec.money:
        try:
            value = money.parse_taka(raw, required=True)
        except money.InvalidAmount as exc:
            raise InvalidSetting(exc.message) from exc
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidSetting(_l("The value must be at least %(minimum)d.", minimum=spec.minimum))
        return value
    if spec.kind is int:
        try:
            value = int(ascii_digits(str(raw)).strip())
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
    if spec.choices and value not in {choice for choice, _label in choices(key)}:
        raise InvalidSetting(_l("Choose one of the values offered."))
    if spec.check is not None:
        spec.check(value)
    return secret_box.seal(value) if spec.secret else value


def _row(key):
    """The stored row of `key`, or None.

    Held by the session (`session.info`) once read: the identity map holds rows
    only weakly, so without this every amount a list formats would read
    "currency" again. A commit or rollback expires the row as usual, so what
    another desk saved meanwhile is read again after one.
    """
    held = db.session.info.setdefault("setting_rows", {})
    row = held.get(key)
    if row is None or row not in db.session:
        row = held[key] = db.session.get(Setting, key)
    return row


def get(key):
    """The current value of setting `key`."""
    row = _row(key)
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
