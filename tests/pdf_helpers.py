"""Look inside WeasyPrint documents and PDFs: text boxes, glyph runs, pdftotext."""

import subprocess
from dataclasses import dataclass


def text_boxes(document):
    """Every laid-out text box of a WeasyPrint document, in page order."""
    from weasyprint.formatting_structure.boxes import TextBox

    for page in document.pages:
        for box in page._page_box.descendants():
            if isinstance(box, TextBox):
                yield box


def text_box(document, text):
    """The first laid-out text box whose text is exactly `text`."""
    return next(box for box in text_boxes(document) if box.text == text)


def layout_text(document):
    """The text of every box of the document, joined by spaces."""
    return " ".join(box.text for box in text_boxes(document))


def pdf_text(pdf):
    """The text of a PDF as poppler's pdftotext reads it."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True,
                          timeout=60).stdout.decode("utf-8")


@dataclass
class Glyph:
    """One drawn glyph: the font's glyph id and where it is drawn on the line (Pango units)."""

    glyph_id: int
    x: int


def glyph_line(box):
    """(glyphs in drawing order, font families) of the first line of a laid-out text box.

    WeasyPrint frees a box's Pango layout after layout; reactivate() rebuilds it
    from the same text and style, then the glyph runs are read through cffi. A
    glyph's x is the sum of the advances before it in its line plus its own
    x offset, so it is where the glyph is drawn, left to right.
    """
    from weasyprint.text.ffi import ffi
    from weasyprint.text.ffi import pango

    box.pango_layout.reactivate(box.style)
    line, _ = box.pango_layout.get_first_line()
    glyphs, families, x = [], set(), 0
    run = line.runs
    while run != ffi.NULL:
        string = run.data.glyphs
        for index in range(string.num_glyphs):
            info = string.glyphs[index]
            glyphs.append(Glyph(info.glyph, x + info.geometry.x_offset))
            x += info.geometry.width
        description = pango.pango_font_describe_with_absolute_size(run.data.item.analysis.font)
        families.add(ffi.string(pango.pango_font_description_get_family(description)).decode())
        pango.pango_font_description_free(description)
        run = run.next
    return glyphs, families
