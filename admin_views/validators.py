"""Form validators that call the business rules in app.services."""

from wtforms.validators import ValidationError

from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile


class BangladeshMobile:
    """Accept any way of typing a Bangladesh mobile and store it as +8801XXXXXXXXX."""

    def __init__(self, required=True):
        self.required = required

    def __call__(self, form, field):
        if not (field.data or "").strip():
            if self.required:
                raise ValidationError(str(InvalidPhone.message))
            field.data = None
            return
        try:
            field.data = normalise_bd_mobile(field.data)
        except InvalidPhone as exc:
            raise ValidationError(str(exc.message)) from exc
