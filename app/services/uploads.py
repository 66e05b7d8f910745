"""Client photos, ID scans, signatures and ticket photos, stored safely (issue C1/S6/L6/L7).

A file is accepted by what it is, not by its name: images must open in Pillow
and are re-encoded (which drops anything hidden in them, and EXIF location
data), PDFs must start like a PDF. Files get random names in folders under
UPLOAD_DIR, outside the static folder, and are served only to signed-in staff
whose role may see that kind of file (see app.web.upload).
"""

import io
import math
import re
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from app.services.errors import Refusal

# Which permission lets a user open files of each folder.
FOLDER_PERMISSIONS = {
    "clients": "clients-view",
    "signatures": "clients-view",
    "maintenance": "maintenance-view",
    "lost_found": "lost_found-view",
    # The company logo printed on invoices and receipts (the settings screen shows it).
    "company": "settings-view",
}
# A client's photo, an ID scan or a lost item's photo: the desk tablet's or a phone's
# camera takes 12 megapixels (4000 x 3000), a 300-dpi A4 scan is 8.7. Twenty leaves
# room for 16-20 MP cameras; more is a camera's full-resolution mode (48, 108 MP) or a
# decompression bomb, and decoding it (3 bytes a pixel, then a copy to re-encode)
# would cost a web worker hundreds of MB. Checked from the header, before decoding,
# and by us rather than through Pillow's process-wide Image.MAX_IMAGE_PIXELS, which
# only warns up to twice its value (a 79 MP PNG got through a 40 MP setting).
MAX_IMAGE_PIXELS = 20_000_000
THUMBNAIL_SIZE = (320, 320)


class UploadRejected(Refusal):
    """The file is refused; `message` says why, for the screen."""


class NotAPhoto(UploadRejected):
    """The file does not open as a JPEG, PNG or WebP image."""


def _max_bytes():
    return current_app.config["UPLOAD_MAX_BYTES"]


def read_upload(file):
    """Bytes of an uploaded file (a FileStorage or bytes), refusing one over the limit."""
    data = file if isinstance(file, bytes) else file.read(_max_bytes() + 1)
    if not data:
        raise UploadRejected(_l("The file is empty."))
    if len(data) > _max_bytes():
        raise UploadRejected(_l("The file is too large (at most %(mb)d MB).",
                                mb=_max_bytes() // (1024 * 1024)))
    return data


def _too_large(pixels):
    return UploadRejected(_l(
        "This photo is too large: %(megapixels)d megapixels (at most %(limit)d)."
        " Take it again at a lower resolution.",
        megapixels=math.ceil(pixels / 1_000_000), limit=MAX_IMAGE_PIXELS // 1_000_000))


def _open_image(data):
    """The decoded image, refusing what is not a photo, too large, or damaged.

    The size is checked from the header, before anything is decoded. Then the
    image is decoded in full (load()), so a truncated file is refused rather
    than padded with grey: that relies on PIL.ImageFile.LOAD_TRUNCATED_IMAGES
    being off, which app.services.pdf keeps so after WeasyPrint switches it on.
    """
    damaged = _l("This photo is damaged or incomplete; take or upload it again.")
    try:
        probe = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Far above our limit Pillow refuses (or warns) before we see the size; its
        # message has the size ("Image size (178956971 pixels) exceeds limit ...").
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(int(found[1]) if found else Image.MAX_IMAGE_PIXELS + 1) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise NotAPhoto(_l("This is not a photo (JPEG, PNG or WebP).")) from exc
    with probe:
        if probe.format not in ("JPEG", "PNG", "WEBP"):
            raise NotAPhoto(_l("This is not a photo (JPEG, PNG or WebP)."))
        width, height = probe.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_large(width * height)
        try:
            probe.verify()
        except (OSError, SyntaxError) as exc:
            raise UploadRejected(damaged) from exc
    image = Image.open(io.BytesIO(data))
    try:
        image.load()
    except (OSError, SyntaxError) as exc:
        image.close()
        raise UploadRejected(damaged) from exc
    return ImageOps.exif_transpose(image)


def check_image(file):
    """Raise UploadRejected unless `file` is a real photo within the size limit."""
    _open_image(read_upload(file))


def _target(folder, suffix):
    if folder not in FOLDER_PERMISSIONS:
        raise ValueError(f"unknown upload folder {folder!r}")
    relative = f"{folder}/{secrets.token_urlsafe(16)}{suffix}"
    path = Path(current_app.config["UPLOAD_DIR"]) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return relative, path


def store_photo(file, folder, field="photo_path"):
    """Store an optional photo (None when there is none); a refusal names the form field."""
    if file is None:
        return None
    try:
        return store_image(file, folder)
    except UploadRejected as exc:
        raise UploadRejected(exc.message, field) from exc


def store_image(file, folder):
    """Save a photo re-encoded as JPEG (PNG if it has transparency) with a thumbnail.

    Returns the path relative to UPLOAD_DIR, which is what models store.
    """
    image = _open_image(read_upload(file))
    keeps_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    suffix = ".png" if keeps_alpha else ".jpg"
    relative, path = _target(folder, suffix)
    image = image.convert("RGBA" if keeps_alpha else "RGB")
    image.save(path, "PNG" if keeps_alpha else "JPEG", quality=88)
    thumb = image.copy()
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb.save(thumbnail_of(path), "PNG" if keeps_alpha else "JPEG", quality=80)
    return relative


def _is_pdf(data):
    if not data.startswith(b"%PDF-"):
        return False
    if b"%%EOF" not in data[-2048:]:
        raise UploadRejected(_l("This PDF is damaged or incomplete."))
    return True


def check_document(file):
    """Raise UploadRejected unless `file` is a real photo or PDF within the size limit."""
    data = read_upload(file)
    if not _is_pdf(data):
        try:
            _open_image(data)
        except NotAPhoto as exc:
            raise UploadRejected(_l("Upload a photo (JPEG, PNG or WebP) or a PDF.")) from exc


def store_document(file, folder):
    """Save an ID scan: a photo (re-encoded) or a PDF (kept as it is)."""
    data = read_upload(file)
    if _is_pdf(data):
        relative, path = _target(folder, ".pdf")
        path.write_bytes(data)
        return relative
    try:
        return store_image(data, folder)
    except NotAPhoto as exc:
        raise UploadRejected(_l("Upload a photo (JPEG, PNG or WebP) or a PDF.")) from exc


def discard(relative):
    """Delete a stored file and its thumbnail (a change that stored it was rolled back)."""
    if not relative:
        return
    path = resolve(relative)
    if path is not None:
        thumbnail_of(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def thumbnail_of(path):
    """The thumbnail file next to an image file."""
    path = Path(path)
    return path.with_name(f"{path.stem}.thumb{path.suffix}")


def resolve(relative):
    """The absolute path of a stored file, or None if it is outside UPLOAD_DIR or missing."""
    root = Path(current_app.config["UPLOAD_DIR"]).resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def permission_for(relative):
    """The permission needed to open a stored file (by its folder), or None if unknown."""
    return FOLDER_PERMISSIONS.get(relative.split("/", 1)[0])
