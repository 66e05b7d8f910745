"""QR codes drawn on the server as inline SVG: no script and nothing fetched by the browser."""

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from markupsafe import escape


def svg(text, *, css_class, label):
    """An inline SVG QR code of `text`, named `label` for screen readers."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    drawing = image.to_string(encoding="unicode")
    return Markup(drawing.replace(
        "<svg ", f'<svg class="{escape(css_class)}" role="img" aria-label="{escape(label)}" ', 1))
