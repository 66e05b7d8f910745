"""Is every string a person reads translated into Bengali, in every catalog?

The msgids are extracted afresh from the code on every run, so a new string
fails this test until translations/bn has it; the third-party domains are
checked against the installed packages' own strings.
"""

import re
from pathlib import Path

import flask_admin
import flask_security
import pytest
import wtforms
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
BN = ROOT / "translations" / "bn" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_0-9]*\}")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "_gettext": None, "_ngettext": (1, 2), "_lazy_gettext": None, "_fsdomain": None,
            "make_lazy_gettext": None}
JINJA = "jinja2.ext:babel_extract"


def _extract(directory, method_map):
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(directory), method_map, keywords=KEYWORDS,
            options_map={pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in method_map
                         if method == JINJA}):
        ids.add(message if isinstance(message, str) else tuple(message))
    return ids


def _pot(path):
    with open(path, "rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


def _our_msgids():
    ids = set()
    for folder in ("app", "admin_views", "jobs"):
        ids |= _extract(ROOT / folder, [("**.py", "python")])
    ids |= _extract(ROOT / "templates", [("**.html", JINJA)])
    return ids


def _package_dir(module):
    return Path(module.__file__).parent


DOMAINS = {
    "messages": _our_msgids,
    "admin": lambda: _extract(_package_dir(flask_admin), [
        ("tests/**", "ignore"), ("**.py", "python"), ("**/templates/**.html", JINJA)]),
    "flask_security": lambda: _pot(_package_dir(flask_security) / "translations"
                                   / "flask_security.pot"),
    "wtforms": lambda: _pot(_package_dir(wtforms) / "locale" / "wtforms.pot"),
}


def _catalog(domain):
    with open(BN / f"{domain}.po", "rb") as fh:
        return {m.id: m for m in read_po(fh) if m.id}


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_msgid_has_a_bengali_translation(domain):
    """No msgid of the domain is missing, empty or fuzzy in translations/bn."""
    catalog = _catalog(domain)
    missing = []
    for msgid in sorted(DOMAINS[domain](), key=str):
        message = catalog.get(msgid)
        strings = ([message.string] if isinstance(message.string, str) else list(message.string)
                   ) if message else []
        if not message or message.fuzzy or not all(s.strip() for s in strings):
            missing.append(msgid)
    assert not missing, f"{len(missing)} untranslated in {domain}.po: {missing[:20]}"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_translations_keep_their_placeholders(domain):
    """A Bengali string keeps every %(name)s of its English original."""
    wrong = []
    for msgid, message in _catalog(domain).items():
        originals = [msgid] if isinstance(msgid, str) else list(msgid)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = set(PLACEHOLDER.findall(originals[-1])) | set(PLACEHOLDER.findall(originals[0]))
        for text in strings:
            if not set(PLACEHOLDER.findall(text)) <= expected:
                wrong.append(msgid)
    assert not wrong, wrong[:10]


def test_the_extraction_finds_our_strings():
    """The check above would notice a new string: it sees strings from code and templates."""
    ids = _our_msgids()
    assert "Locker %(number)s already exists in this branch." in ids
    assert "Lockers at a glance" in ids and "Out of service" in ids
