"""Scans made on the spot: German text rendered with Pillow into an image, a PDF without a text
layer (one image per page), and made-up words OCR reads back exactly."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont

FONT = "DejaVuSans.ttf"
"""Debian's fonts-dejavu-core (installed with the OCR tools: deploy/local/lib.sh): has umlauts."""
# Syllables Tesseract reads back exactly: a consonant and a vowel, never two look-alikes in a
# row. Random letters were misread in 7 of 300 words ("ccnk" as "cenk", "bdbf" as "hdbf"), which
# failed an OCR test now and then; these syllables in 0 of 600 (300 each with the default page
# segmentation and with --psm 6, the test font at the test size). Left out: c/e, i/l/j/1, o/0
# next to z, s/z (read as capitals), g/q/y, r (rn/m), v/w (vv/w).
_CONSONANTS = "bdfhkmnpt"
_VOWELS = "aou"


def made_up_word(prefix: str = "Brenz") -> str:
    """A word that exists in no other test's documents: four syllables after ``prefix``
    (531,441 of them)."""
    return prefix + "".join(random.choice(_CONSONANTS) + random.choice(_VOWELS) for _ in range(4))


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
