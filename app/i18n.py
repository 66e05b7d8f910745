"""Language and time on screen: per-user locale, the branch's timezone, ৳ amounts."""

import flask_admin.babel
from babel import support
from flask import current_app
from flask import has_request_context
from flask import request
from flask import session
from flask_babel import format_datetime
from flask_babel import format_decimal
from flask_babel import get_locale
from flask_login import current_user
from wtforms.i18n import messages_path

from app.extensions import db
from app.models import Branch
from app.services.money import format_taka


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


def money(poisha):
    """Integer poisha as taka for the reader: ৳4,10,338.00 in English, ৳৪,১০,৩৩৮.০০ in Bengali."""
    return format_taka(poisha, bengali=str(get_locale()) == "bn")


def local_datetime(value):
    """A UTC datetime from the database, shown in the user's branch timezone."""
    if value is None:
        return ""
    return format_datetime(value, "medium")


def _wtforms_translations():
    """WTForms' own messages ("This field is required.") in the user's language.

    WTForms ships no Bengali catalog, and both Flask-WTF and Flask-Admin load
    WTForms messages from WTForms' package folder only. Our catalog in
    translations/ is tried first, WTForms' own second.
    """
    locale = get_locale()
    ours = support.Translations.load(
        current_app.config["BABEL_TRANSLATION_DIRECTORIES"], [locale], domain="wtforms"
    )
    if isinstance(ours, support.Translations):
        return ours
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


def init_i18n(app):
    """Register template filters and make WTForms speak Bengali too."""
    app.add_template_filter(money, "money")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_global(get_locale, "get_locale")
    app.add_template_filter(format_decimal, "format_decimal")

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
