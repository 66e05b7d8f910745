"""Form fields shared by the admin's screens."""

from flask import url_for
from markupsafe import Markup
from markupsafe import escape
from wtforms import fields
from wtforms.validators import ValidationError

from app.services import uploads


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
