"""The desk's password rules, as Flask-Security's PasswordUtil (set up in app.extensions)."""

from flask_babel import gettext as _
from flask_security import PasswordUtil


class DeskPasswordUtil(PasswordUtil):
    """Flask-Security's rules (length, zxcvbn strength), plus: not one of the last few.

    Flask-Security calls this with the `user` for a change of password, and
    app.services.staff.set_password does for a Super Admin's reset, so both
    refuse a recent password alike.
    """

    def validate(self, password, is_register, **kwargs):
        # Imported here: app.extensions builds Security with this class before
        # the services (which use the extensions) can be imported.
        from app.services.staff import used_recently

        problems, normalised = super().validate(password, is_register, **kwargs)
        user = kwargs.get("user")
        if not problems and user is not None and used_recently(user, normalised):
            problems = [_("You have used this password recently. Choose one you have not "
                          "used before.")]
        return problems, normalised
