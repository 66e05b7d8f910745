"""Secrets kept in the database (gateway and message credentials), encrypted at rest.

The keys never touch the database: they come from SETTINGS_KEYS in the
environment (several hosts share it) or from instance/settings_keys, written
once. Several keys may be listed, newest first; values encrypted under an older
key still read, and `rotate()` re-encrypts every stored secret under a new one
so the old key can then be dropped.
"""

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from flask import current_app

from app.services.login_secrets import SecretFromEnvironment
from app.services.login_secrets import instance_dir

PREFIX = "enc:"
KEYS_FILE = "settings_keys"


class UnreadableSecret(RuntimeError):
    """A stored secret none of the keys opens (the key was lost or changed wrongly)."""


def _keys():
    raw = current_app.config.get("SETTINGS_KEYS")
    if not raw:
        path = instance_dir() / KEYS_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Fernet.generate_key().decode())
            path.chmod(0o600)
        raw = path.read_text()
    return [key.strip() for key in raw.replace("\n", ",").split(",") if key.strip()]


def _box():
    return MultiFernet([Fernet(key) for key in _keys()])


def seal(plain):
    """The stored form of secret text `plain` ("" stays "": nothing is set)."""
    if not plain:
        return ""
    return PREFIX + _box().encrypt(plain.encode()).decode()


def is_sealed(value):
    """Whether `value` is a stored secret rather than plain text."""
    return isinstance(value, str) and value.startswith(PREFIX)


def open_sealed(value):
    """The plain text of a stored secret."""
    if not value:
        return ""
    if not is_sealed(value):
        return value
    try:
        return _box().decrypt(value[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise UnreadableSecret from exc


def masked(plain):
    """How a secret is shown back: its last four characters at most."""
    if not plain:
        return ""
    return "•" * 8 + (plain[-4:] if len(plain) >= 12 else "")


def rotate(reseal_all):
    """Put a new key first in instance/settings_keys and re-encrypt every secret under it.

    `reseal_all(rotate_one)` re-writes each stored secret with `rotate_one`
    and commits. The keys file gets the new key (keeping the old ones) before
    any secret is re-encrypted, so a crash half-way leaves every secret readable.
    """
    if current_app.config.get("SETTINGS_KEYS"):
        raise SecretFromEnvironment("SETTINGS_KEYS")
    path = instance_dir() / KEYS_FILE
    old = _keys()
    new_key = Fernet.generate_key().decode()
    box = MultiFernet([Fernet(key) for key in [new_key, *old]])

    def rotate_one(value):
        if not is_sealed(value):
            return value
        return PREFIX + box.rotate(value[len(PREFIX):].encode()).decode()

    path.write_text("\n".join([new_key, *old]))
    path.chmod(0o600)
    return reseal_all(rotate_one)
