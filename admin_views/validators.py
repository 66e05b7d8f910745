"""Form validators that call the business rules in app.services."""

from wtforms.validators import StopValidation
from wtforms.validators import ValidationError

from app.extensions import db
from app.services.phones import InvalidPhone
from app.services.phones import normalise_bd_mobile


class BangladeshMobile:
    """Accept any way of typing a Bangladesh mobile and store it as +8801XXXXXXXXX."""

    def __init__(self, required=True):
        self.required = required

    def __call__(self, form, field):
        if not (field.data or "").strip():
            if self.required:
                raise ValidationError(str(InvalidPhone().message))
            field.data = None
            return
        try:
            field.data = normalise_bd_mobile(field.data)
        except InvalidPhone as exc:
            raise ValidationError(str(exc.message)) from exc


class NotTaken:
    """Refuse a value another record already has, saying which record.

    Placed before Flask-Admin's own Unique check (which only says "Already
    exists."), it stops validation with a message that names the other record.
    """

    def __init__(self, column, message):
        self.column = column
        self.message = message

    def __call__(self, form, field):
        if not field.data:
            return
        model = self.column.class_
        other = db.session.execute(
            db.select(model).where(self.column == field.data).limit(1)).scalar_one_or_none()
        editing = getattr(form, "_obj", None)
        if other is not None and (editing is None or other.id != editing.id):
            raise StopValidation(self.message(other))
