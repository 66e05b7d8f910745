"""Staff accounts: passwords set by a Super Admin."""

from flask_security import hash_password

from app.extensions import security


class WeakPassword(ValueError):
    """The password breaks the password rules; `messages` says how."""

    def __init__(self, messages):
        super().__init__(" ".join(str(m) for m in messages))
        self.messages = messages


def password_problems(password, user=None):
    """Why `password` breaks the rules (length, zxcvbn strength); empty when it is fine."""
    if user is None:
        problems, _ = security.password_util.validate(password, True)
    else:
        problems, _ = security.password_util.validate(password, False, user=user)
    return [str(p) for p in problems or []]


def set_password(user, password):
    """Check `password` against the rules, store its hash, end the user's sessions.

    Changing fs_uniquifier invalidates every session cookie of the account, so a
    password reset by an admin logs the person out everywhere.
    """
    problems, normalised = security.password_util.validate(password, False, user=user)
    if problems:
        raise WeakPassword(problems)
    user.password = hash_password(normalised)
    security.datastore.set_uniquifier(user)
