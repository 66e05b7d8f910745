"""Language and time on screen: per-user locale, the branch's timezone, ৳ amounts.

Figures follow the reader's language: a Bengali reader sees Bengali digits
(৳৪,১০,৩৩৮.০০, ১৫ মিনিট) in amounts, counts and the numbers inside messages,
an English reader sees 0–9; both see lakh grouping. Printed invoices and
receipts have their own setting (receipt_bengali_digits), as they are read
by clients and auditors rather than by the desk.
"""

import functools
import re
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import flask_admin.babel
from babel import support
from babel.numbers import format_decimal as babel_format_decimal
from flask import current_app
from flask import g
from flask import has_app_context
from flask import has_request_context
from flask import request
from flask import session
from flask_babel import Domain
from flask_babel import get_locale
from flask_babel import get_timezone
from flask_babel import get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup
from wtforms.i18n import messages_path

from app.extensions import db
from app.models import Branch
from app.services.digits import bengali_digits
from app.services.money import format_taka

# A placeholder of a message ("%(count)d", "%(share).1f", "%(name)s"), or a literal "%%".
_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)([#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGs])")


def select_locale():
    """The signed-in user's language; before login, the browser's (or the switcher's)."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        # Jobs and commands speak the default language unless they force another.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or _default_language(languages)


def _default_language(languages):
    """The gym's default language (settings), for a browser that asks for neither."""
    from app.services import settings

    chosen = settings.get("default_language")
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone():
    """The timezone of the user's branch; Asia/Dhaka when the user has none."""
    branch_id = current_user.branch_id if current_user and current_user.is_authenticated else None
    if branch_id is not None:
        # Looked up by id: the user object may outlive its session in a streamed export.
        branch = db.session.get(Branch, branch_id)
        if branch is not None:
            return branch.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def reads_bengali():
    """True when what is being made (a page, a message) is for a Bengali reader."""
    locale = get_locale()
    return locale is not None and locale.language == "bn" and not locale.territory


def money(poisha):
    """Integer poisha as taka for the reader: ৳4,10,338.00 in English, ৳৪,১০,৩৩৮.০০ in Bengali."""
    return format_taka(poisha, bengali=reads_bengali())


def number(value):
    """A count or figure for the reader, in lakhs: 410338 → "4,10,338" ("৪,১০,৩৩৮" in Bengali).

    Up to three decimals are kept (33.3 → "33.3"); None is "".
    """
    if value is None:
        return ""
    text = babel_format_decimal(value, format="#,##,##0.###", locale="en")
    return bengali_digits(text) if reads_bengali() else text


def numbers_for_reader(message, variables):
    """`message` with the numbers among `variables` already written in the reader's digits.

    For a Bengali reader, "%(minutes)d মিনিট" with minutes=15 becomes "১৫ মিনিট"
    (formatted as its placeholder asks, then in Bengali digits); text, bools
    and other placeholders are left for the usual `message % variables`.
    """
    if not variables or not reads_bengali():
        return message

    def written(match):
        value = variables.get(match.group(1)) if match.group(1) else None
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return match.group(0)
        return bengali_digits(("%" + match.group(2)) % value)

    return _PLACEHOLDER.sub(written, message)


class ReaderDomain(Domain):
    """Flask-Babel's message domain, writing the numbers in a message in the reader's digits."""

    def get_translations(self):
        # A page asks for its catalog a few hundred times (labels, menus, each enum cell);
        # Flask-Babel finds it again each time from the locale's name. It is kept here on
        # Flask-Babel's own per-context namespace for as long as that locale object is
        # the context's (force_locale and refresh replace it).
        if not has_app_context():
            return super().get_translations()
        ctx = getattr(g._get_current_object(), "_flask_babel", None)
        kept = getattr(ctx, "reader_translations", None)
        if kept is not None and kept[0] is self and kept[1] is getattr(ctx, "babel_locale", None):
            return kept[2]
        translations = super().get_translations()
        ctx = g._flask_babel  # made by the lookup above
        ctx.reader_translations = (self, getattr(ctx, "babel_locale", None), translations)
        return translations

    def gettext(self, string, **variables):
        message = self.get_translations().ugettext(string)
        return numbers_for_reader(message, variables) % variables if variables else message

    def ngettext(self, singular, plural, num, **variables):
        variables.setdefault("num", num)
        message = self.get_translations().ungettext(singular, plural, num)
        return numbers_for_reader(message, variables) % variables

    def pgettext(self, context, string, **variables):
        message = self.get_translations().upgettext(context, string)
        return numbers_for_reader(message, variables) % variables if variables else message

    def npgettext(self, context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        message = self.get_translations().unpgettext(context, singular, plural, num)
        return numbers_for_reader(message, variables) % variables


# Templates' _() and ngettext(), as Jinja's "newstyle" gettext makes them (escaping
# included), with the numbers written for the reader.
@pass_context
def _template_gettext(__context, __string, **variables):
    message = numbers_for_reader(get_translations().ugettext(__string), variables)
    if __context.eval_ctx.autoescape:
        message = Markup(message)
    return message % variables


@pass_context
def _template_ngettext(__context, __singular, __plural, __num, **variables):
    variables.setdefault("num", __num)
    message = numbers_for_reader(get_translations().ungettext(__singular, __plural, __num),
                                 variables)
    if __context.eval_ctx.autoescape:
        message = Markup(message)
    return message % variables


# One date style on every screen, as on the printed invoices: 02/01/2026 and
# 02/01/2026 00:30 (a 24-hour clock, so no AM/PM to translate), in the reader's digits.
# Numbers only, so no locale's names are needed: strftime writes it (a list shows a
# time on each of its rows, and Babel's formatter took most of a cell's time).
DATE_FORMAT = "%d/%m/%Y"
DATETIME_FORMAT = "%d/%m/%Y %H:%M"


def _in_readers_digits(text):
    return bengali_digits(text) if reads_bengali() else text


def local_datetime(value):
    """A UTC datetime from the database, shown in the user's branch timezone: 02/01/2026 00:30."""
    if value is None:
        return ""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return _in_readers_digits(moment.astimezone(_zone(get_timezone())).strftime(DATETIME_FORMAT))


@functools.cache
def _zone(tzinfo):
    # Flask-Babel's pytz zone as the standard library's, which converts a time in a
    # fraction of pytz's cost (a list converts one on each of its rows).
    return ZoneInfo(str(tzinfo))


def local_date(value):
    """A calendar day (a due date, a birthday) as dd/mm/yyyy; a datetime as local_datetime()."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_datetime(value)
    return _in_readers_digits(value.strftime(DATE_FORMAT))


def _wtforms_translations():
    """WTForms' own messages ("This field is required.") in the user's language.

    WTForms ships no Bengali catalog, and both Flask-WTF and Flask-Admin load
    WTForms messages from WTForms' package folder only. Our catalog in
    translations/ is tried first, WTForms' own second.
    """
    folder, locale = current_app.config["BABEL_TRANSLATION_DIRECTORIES"], str(get_locale())
    # Read from disk once per language and process (every request asks for it).
    if (folder, locale) not in _WTFORMS_CATALOGS:
        ours = support.Translations.load(folder, [locale], domain="wtforms")
        if not isinstance(ours, support.Translations):
            ours = support.Translations.load(messages_path(), [locale], domain="wtforms")
        _WTFORMS_CATALOGS[folder, locale] = ours
    return _WTFORMS_CATALOGS[folder, locale]


_WTFORMS_CATALOGS = {}


def init_i18n(app):
    """Register template filters, write numbers for the reader, make WTForms speak Bengali too."""
    app.add_template_filter(money, "money")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(local_date, "local_date")
    app.add_template_global(get_locale, "get_locale")
    # Counts on every page: lakh grouping, Bengali digits for a Bengali reader.
    app.add_template_filter(number, "number")
    app.add_template_filter(number, "format_decimal")

    # Numbers inside messages (flashes, refusals, templates) in the reader's digits.
    babel = app.extensions["babel"]
    babel.instance.domain_instance = ReaderDomain(domain=babel.default_domain)
    app.jinja_env.globals.update(gettext=_template_gettext, ngettext=_template_ngettext)

    # Flask-Admin's WTForms domain: put our folder in front of WTForms' own.
    flask_admin.babel.wtforms_domain._translation_directories = [
        app.config["BABEL_TRANSLATION_DIRECTORIES"],
        messages_path(),
    ]

    @app.before_request
    def _load_wtforms_catalog():
        # Flask-WTF caches the catalog on the request under this name.
        if "babel" in current_app.extensions:
            request.wtforms_translations = _wtforms_translations()
