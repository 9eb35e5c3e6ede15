"""Reading scans with Tesseract (German): images page by page, PDFs only on their image-only pages.

Runs in a worker thread; the work itself happens in child processes (``tesseract``, and
poppler's ``pdftoppm`` to render a PDF page), each killed at its time limit, so a hostile scan
costs at most ``max_pages`` x ``page_timeout`` seconds and never blocks the event loop. Text
pages of a PDF are taken from its text layer (``pypdf``) and never rasterised: born-digital
content is not run through a renderer at all (docs/adr/0020-documents-ocr.md).

A failure is final and says why (:class:`OcrFailed`): OCR of the same bytes would fail again,
so the consumer records it instead of retrying.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pdf2image
import pdf2image.exceptions
import pypdf
import pytesseract  # type: ignore[import-untyped]
from PIL import Image, ImageSequence, UnidentifiedImageError

from kommune_documents.documents.extract import IMAGE_TYPES, is_image_only, storable
from kommune_documents.events import Reason

LANGUAGE = "deu"
PDF = "application/pdf"


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int = 20
    """Pages (or frames of a TIFF) read at most; the rest of a longer scan stays unindexed."""
    page_timeout: float = 60.0
    """Seconds Tesseract (and the renderer) may take for one page."""
    dpi: int = 300
    """Resolution PDF pages are rendered at (Tesseract's sweet spot for printed text)."""
    max_pixels: int = 60_000_000
    """An image larger than this (width x height) is refused, not decoded: a decompression
    bomb costs nothing (an A4 page at 600 dpi has about 35 million pixels)."""


@dataclass(frozen=True, slots=True)
class Recognised:
    text: str
    pages: int
    """Pages (frames) read by OCR (text pages of a PDF are not counted)."""


class OcrFailed(Exception):  # noqa: N818 - the outcome, named as the event says it
    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


def _tesseract(image: Image.Image, limits: Limits) -> str:
    try:
        text: str = pytesseract.image_to_string(image, lang=LANGUAGE, timeout=limits.page_timeout)
    except pytesseract.TesseractError as error:
        raise OcrFailed(Reason.UNREADABLE, str(error)[:200]) from error
    except RuntimeError as error:  # pytesseract's "Tesseract process timeout"
        raise OcrFailed(Reason.TIMEOUT, str(error)) from error
    return text


def _frames(path: Path, limits: Limits) -> Iterator[Image.Image]:
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise OcrFailed(Reason.TOO_LARGE, f"{width}x{height} pixels")
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                if index >= limits.max_pages:
                    break
                if frame.size[0] * frame.size[1] > limits.max_pixels:
                    raise OcrFailed(Reason.TOO_LARGE, f"frame {index + 1}")
                converted = frame.convert("L")  # decodes it: a broken image fails here
                yield converted
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise OcrFailed(Reason.UNREADABLE, type(error).__name__) from error


def _image(path: Path, limits: Limits) -> Recognised:
    parts = [_tesseract(frame, limits) for frame in _frames(path, limits)]
    return Recognised(storable("\n".join(parts)), len(parts))


def _render(path: Path, number: int, limits: Limits) -> Image.Image:
    try:
        [page] = pdf2image.convert_from_path(
            path,
            dpi=limits.dpi,
            first_page=number,
            last_page=number,
            grayscale=True,
            timeout=int(limits.page_timeout),
        )
    except subprocess.TimeoutExpired as error:
        raise OcrFailed(Reason.TIMEOUT, f"rendering page {number}") from error
    except (
        pdf2image.exceptions.PDFPageCountError,
        pdf2image.exceptions.PDFSyntaxError,
        ValueError,
    ) as error:
        raise OcrFailed(Reason.UNREADABLE, f"rendering page {number}") from error
    if page.size[0] * page.size[1] > limits.max_pixels:
        raise OcrFailed(Reason.TOO_LARGE, f"page {number}")
    return page


def _pdf(path: Path, limits: Limits) -> Recognised:
    try:
        reader = pypdf.PdfReader(path)
        pages = list(reader.pages)
    except Exception as error:  # pypdf raises many kinds for broken files
        raise OcrFailed(Reason.UNREADABLE, type(error).__name__) from error
    parts: list[str] = []
    read = 0
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
            image_only = is_image_only(page, text)
        except Exception:
            text, image_only = "", True
        if image_only and read < limits.max_pages:
            text = _tesseract(_render(path, number, limits), limits)
            read += 1
        parts.append(text)
    return Recognised(storable("\n".join(parts)), read)


def recognise(path: Path, media_type: str, limits: Limits) -> Recognised:
    """The text of a scan (blocking: call it in a worker thread)."""
    if not path.is_file():
        raise OcrFailed(Reason.MISSING_CONTENT)
    if media_type == PDF:
        return _pdf(path, limits)
    if media_type in IMAGE_TYPES:
        return _image(path, limits)
    raise OcrFailed(Reason.UNREADABLE, f"no OCR for {media_type}")
