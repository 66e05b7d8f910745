"""Form fields shared by the admin's screens."""


from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup
from markupsafe import escape
from wtforms import fields
from wtforms import widgets
from wtforms.validators import ValidationError

from app.i18n import local_date
from app.services import uploads
from app.services.typed_dates import parse_typed_date

# The same style in moment.js's words, for the picker (static/js/datepicker.js).
PICKER_DATE_FORMAT = "DD/MM/YYYY"


class DatePickerInput(widgets.TextInput):
    """A text input the desk's date picker opens on (data-role, as Flask-Admin's form.js reads it).

    Not <input type="date">: the browser's own picker follows the PC's
    language and region, not the user's, and shows mm/dd/yyyy on an
    English-US Windows.
    """

    def __call__(self, field, **kwargs):
        kwargs.setdefault("data-role", "datepicker")
        kwargs.setdefault("data-date-format", PICKER_DATE_FORMAT)
        kwargs.setdefault("placeholder", _("dd/mm/yyyy"))
        # The browser's list of earlier entries would cover the calendar.
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


class DeskDateField(fields.DateField):
    """A day typed or picked as dd/mm/yyyy and shown so, in the reader's digits.

    Reads 31/12/2026, ৩১/১২/২০২৬ and 2026-12-31. An empty input is no date
    (None): whether one is needed is for the field's validators to say.
    """

    widget = DatePickerInput()

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = valuelist[0] or ""
        self.data = None
        if not text.strip():
            return
        try:
            self.data = parse_typed_date(text)
        except ValueError as exc:
            raise ValueError(_("Enter the date as dd/mm/yyyy, e.g. 31/12/2026")) from exc

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return local_date(self.data) if self.data else ""


class UploadWidget:
    """A file input (camera on a tablet) with the current file's thumbnail beside it."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("accept", "image/*,application/pdf" if field.document else "image/*")
        kwargs.setdefault("class", "form-control-file")
        current = ""
        if field.object_data:
            link = url_for("web.upload", relative=field.object_data)
            if str(field.object_data).endswith(".pdf"):
                current = Markup('<a href="%s" target="_blank">PDF</a> ') % link
            else:
                current = Markup('<img src="%s?thumb=1" alt="" class="upload-thumb mb-1"><br>') % link
        attrs = " ".join(f'{escape(k)}="{escape(v)}"' for k, v in kwargs.items())
        return current + Markup(f'<input type="file" id="{escape(field.id)}" '
                                f'name="{escape(field.name)}" {attrs}>')


class UploadField(fields.FileField):
    """A photo (or, with document=True, a photo or PDF) checked by content, stored on save.

    Leaving the input empty keeps the file the record already has.
    """

    widget = UploadWidget()

    def __init__(self, label=None, validators=None, *, folder, document=False, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.folder = folder
        self.document = document
        self._bytes = None

    def process_formdata(self, valuelist):
        chosen = valuelist[0] if valuelist else None
        self._chosen = chosen if getattr(chosen, "filename", "") else None

    def pre_validate(self, form):
        chosen = getattr(self, "_chosen", None)
        if chosen is None:
            return
        try:
            self._bytes = uploads.read_upload(chosen)
            (uploads.check_document if self.document else uploads.check_image)(self._bytes)
        except uploads.UploadRejected as exc:
            self._bytes = None
            raise ValidationError(str(exc.message)) from exc

    def populate_obj(self, obj, name):
        if self._bytes is not None:
            store = uploads.store_document if self.document else uploads.store_image
            setattr(obj, name, store(self._bytes, self.folder))
