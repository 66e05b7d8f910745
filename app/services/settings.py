"""Business settings with their types and defaults (SPEC S7).

A setting not yet saved reads as its default, so a new install works before
anyone opens the settings screen.
"""

import json
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Setting
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
    return str(raw if raw is not None else "").strip()


def get(key):
    """The current value of setting `key`."""
    row = db.session.get(Setting, key)
    return SETTINGS[key].default if row is None else row.value


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
