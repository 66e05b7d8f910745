"""Rotating the secrets behind sign-in without locking anyone out.

SECRET_KEY signs cookies only: a new one signs everyone out and nothing else.
The two-factor keys encrypt each enrolled authenticator's secret in the
database; a new key is added beside the old ones and every secret re-encrypted
with it, so authenticator apps keep showing valid codes. The password salt is
not rotatable: every password hash depends on it (a new salt would mean a new
password for everyone), which is why it is kept apart from SECRET_KEY.
"""

import json
import os
import secrets
from pathlib import Path

from flask import current_app
from passlib.totp import TOTP

from app.extensions import db
from app.models import User


class SecretFromEnvironment(RuntimeError):
    """The secret is set in the environment, so the operator rotates it there."""


def instance_dir():
    """Where this app keeps its secret files (app.config.load_config reads them there)."""
    return Path(current_app.config.get("INSTANCE_DIR") or current_app.instance_path)


def rotate_secret_key():
    """Write a new instance/secret_key; takes effect (signing everyone out) at the next start."""
    if os.environ.get("SECRET_KEY"):
        raise SecretFromEnvironment("SECRET_KEY")
    path = instance_dir() / "secret_key"
    path.write_text(secrets.token_urlsafe(48))
    path.chmod(0o600)
    return path


def rotate_totp_key():
    """Add a new two-factor key to instance/totp_secrets.json and re-encrypt every secret.

    Returns how many staff members' authenticator secrets were re-encrypted.
    """
    path = instance_dir() / "totp_secrets.json"
    if os.environ.get("TOTP_SECRETS") or not path.exists():
        raise SecretFromEnvironment("TOTP_SECRETS")
    keys = json.loads(path.read_text())
    tag = str(max(int(existing) for existing in keys) + 1)
    keys[tag] = secrets.token_urlsafe(32)
    issuer = current_app.config["SECURITY_TOTP_ISSUER"]
    # Encrypts with the new (highest) tag, and still reads secrets under the old ones.
    factory = TOTP.using(issuer=issuer, secrets=keys, default_tag=tag)
    users = db.session.execute(db.select(User).where(User.tf_totp_secret.is_not(None))).scalars()
    count = 0
    for user in users:
        user.tf_totp_secret = factory.from_source(user.tf_totp_secret).to_json(encrypt=True)
        count += 1
    # The file is written only once the database has the re-encrypted secrets.
    db.session.commit()
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return count
