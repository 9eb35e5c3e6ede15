"""Scans made on the spot: German text rendered with Pillow into an image, a PDF without a text
layer (one image per page), and made-up words OCR reads unambiguously."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont

FONT = "DejaVuSans.ttf"
"""Debian's fonts-dejavu-core (installed with the OCR tools: deploy/local/lib.sh): has umlauts."""
# No letters Tesseract may confuse with others in a made-up word (l/I/1, rn/m, ...).
_LETTERS = "abcdefghkmnopstuvwxz"


def made_up_word(prefix: str = "Brenz") -> str:
    """A word that exists in no other test's documents (lower-case letters after ``prefix``)."""
    return prefix + "".join(random.choice(_LETTERS) for _ in range(7))


def scan_image(*lines: str) -> Image.Image:
    """A clean 'scanned' page: black text on white, about 150 dpi."""
    font = ImageFont.truetype(FONT, 44)
    image = Image.new("L", (1400, 160 + 90 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((90, 90 + 90 * number), line, font=font, fill=0)
    return image


def png_bytes(*lines: str) -> bytes:
    buffer = io.BytesIO()
    scan_image(*lines).save(buffer, format="PNG")
    return buffer.getvalue()


def scanned_pdf_bytes(*pages: tuple[str, ...]) -> bytes:
    """An image-only PDF (what a scanner makes): one page per tuple of lines, no text layer."""
    images = [scan_image(*lines) for lines in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=150, save_all=True, append_images=images[1:])
    return buffer.getvalue()
