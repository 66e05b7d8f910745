"""What every PDF of the app shares: the bundled fonts and how HTML is laid out.

The Bengali font is bundled in app/static/fonts (Noto Sans Bengali, OFL) and
named in each PDF's own @font-face under our own family names, so every
machine renders and shapes the same glyphs whatever fonts it has installed.
Two families rather than one with unicode-range: WeasyPrint embeds fonts of one
family as one PDF font, which mixes up the glyphs of the Bengali and Latin files.
"""

import os
import tempfile
from pathlib import Path

from flask_babel import force_locale

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Our own names for the bundled fonts, so no installed font can stand in for them.
FONT_FAMILY = "Locker Desk Bengali"
LATIN_FAMILY = "Locker Desk Latin"
LANGUAGES = ("bn", "en")

_FACES = (
    (FONT_FAMILY, 400, "noto-sans-bengali-bengali-400-normal.woff2"),
    (FONT_FAMILY, 700, "noto-sans-bengali-bengali-700-normal.woff2"),
    (LATIN_FAMILY, 400, "noto-sans-bengali-latin-400-normal.woff2"),
    (LATIN_FAMILY, 700, "noto-sans-bengali-latin-700-normal.woff2"),
)


def _truetype(name):
    """The bundled woff2 font `name` unpacked to a TrueType file, once per font file.

    WeasyPrint unpacks a woff2 @font-face on every render (~150 ms per face,
    most of an invoice's time); a .ttf is read as it is. The copy lives in the
    temporary folder, named after the source's size and mtime so an updated
    font is unpacked again, and is written under a temporary name first so
    parallel workers never read half a file.
    """
    source = STATIC_DIR / "fonts" / name
    stat = source.stat()
    folder = Path(tempfile.gettempdir()) / f"locker-desk-fonts-{os.getuid()}"
    target = folder / f"{source.stem}-{stat.st_size}-{stat.st_mtime_ns}.ttf"
    if not target.exists():
        from fontTools.ttLib import TTFont

        folder.mkdir(mode=0o700, exist_ok=True)
        font = TTFont(source)
        font.flavor = None
        partial = target.with_suffix(f".{os.getpid()}.part")
        font.save(partial)
        os.replace(partial, target)
    return target


def font_faces_css():
    """The @font-face rules of the bundled fonts, as unpacked TrueType files."""
    return "\n".join(
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
        f'src: url({_truetype(name).as_uri()}) format("truetype"); }}'
        for family, weight, name in _FACES
    )


def font_stack():
    """The CSS font-family value that uses the bundled fonts, Latin first."""
    return f'"{LATIN_FAMILY}", "{FONT_FAMILY}"'


def bilingual(message):
    """(Bengali, English) of a message; just (English,) while it has no Bengali translation."""
    texts = []
    for locale in LANGUAGES:
        with force_locale(locale):
            texts.append(str(message))
    return tuple(texts) if texts[0] != texts[1] else (texts[1],)


def _weasyprint_html():
    """weasyprint.HTML, imported here (the app's one door to WeasyPrint) and made harmless.

    Importing WeasyPrint switches PIL.ImageFile.LOAD_TRUNCATED_IMAGES on for the
    whole process ("don't crash when converting truncated images"), after which
    every upload in that process accepted a truncated JPEG padded with grey. Our
    PDFs embed only the bundled fonts and images this app re-encoded itself, so
    they need no such tolerance: Pillow's default is put back at once.
    """
    from PIL import ImageFile
    from weasyprint import HTML

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return HTML


def render_html(html):
    """Lay out `html` with the bundled fonts and app/static reachable (a weasyprint Document)."""
    return _weasyprint_html()(string=html, base_url=f"{STATIC_DIR}/").render()
