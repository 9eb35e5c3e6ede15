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

import math
import os
import subprocess
import time
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

# Tesseract's OpenMP threads busy-wait for each other: on the shared 2-core machine (load ~8) a
# dense A4 page took 8.7 s with them and 2.6 s with one thread. One thread per page is the
# better use of few cores; an operator may still set the variable to something else.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

LANGUAGE = "deu"
PDF = "application/pdf"
MIN_DPI = 50
"""Below this, text is too small to read: a page that large is refused instead."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int = 20
    """Pages (or frames of a TIFF) read at most; the rest of a longer scan stays unindexed."""
    page_timeout: float = 60.0
    """Seconds Tesseract (and the renderer) may take for one page."""
    dpi: int = 300
    """Resolution PDF pages are rendered at (Tesseract's sweet spot for printed text)."""
    total_timeout: float = 240.0
    """Seconds one scan may take in all; pages after that stay unindexed (kept well below the
    consumer's poll interval, so a long scan never costs the consumer its group membership)."""
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


class _Clock:
    """The scan's time budget: per page the smaller of the page limit and what is left."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.total_timeout

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def page_timeout(self) -> float:
        return max(1.0, min(self.limits.page_timeout, self.left()))


def _tesseract(image: Image.Image, clock: _Clock) -> str:
    try:
        text: str = pytesseract.image_to_string(image, lang=LANGUAGE, timeout=clock.page_timeout())
    except pytesseract.TesseractError as error:
        raise OcrFailed(Reason.UNREADABLE, str(error)[:200]) from error
    except RuntimeError as error:  # pytesseract's "Tesseract process timeout"
        raise OcrFailed(Reason.TIMEOUT, str(error)) from error
    return text


def _frames(path: Path, limits: Limits) -> Iterator[Image.Image]:
    """The image's frames in grey (a TIFF may have many), each checked before it is decoded."""
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
    except OcrFailed:
        raise
    except Image.DecompressionBombError as error:
        raise OcrFailed(Reason.TOO_LARGE, "decompression bomb") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise OcrFailed(Reason.UNREADABLE, type(error).__name__) from error
    except Exception as error:  # Pillow's decoders raise many kinds on broken input
        raise OcrFailed(Reason.UNREADABLE, type(error).__name__) from error


def _image(path: Path, limits: Limits) -> Recognised:
    clock = _Clock(limits)
    parts: list[str] = []
    for frame in _frames(path, limits):
        if parts and clock.left() <= 0:
            break
        parts.append(_tesseract(frame, clock))
    return Recognised(storable("\n".join(parts)), len(parts))


def _dpi_for(page: pypdf.PageObject, limits: Limits) -> int:
    """The configured resolution, lowered for a page so large it would exceed the pixel limit
    (a hostile MediaBox must not make the renderer allocate gigabytes)."""
    try:
        width = abs(float(page.mediabox.width)) / 72
        height = abs(float(page.mediabox.height)) / 72
    except Exception as error:
        raise OcrFailed(Reason.UNREADABLE, "page size") from error
    pixels = width * height * limits.dpi * limits.dpi
    if pixels <= limits.max_pixels:
        return limits.dpi
    dpi = math.floor(limits.dpi * math.sqrt(limits.max_pixels / pixels))
    if dpi < MIN_DPI:
        raise OcrFailed(Reason.TOO_LARGE, f"page of {width:.0f}x{height:.0f} inches")
    return dpi


def _render(path: Path, number: int, dpi: int, clock: _Clock) -> Image.Image:
    try:
        [page] = pdf2image.convert_from_path(
            path,
            dpi=dpi,
            first_page=number,
            last_page=number,
            grayscale=True,
            timeout=math.ceil(clock.page_timeout()),
        )
    except subprocess.TimeoutExpired as error:
        raise OcrFailed(Reason.TIMEOUT, f"rendering page {number}") from error
    except (
        pdf2image.exceptions.PDFPageCountError,
        pdf2image.exceptions.PDFSyntaxError,
        ValueError,
    ) as error:
        raise OcrFailed(Reason.UNREADABLE, f"rendering page {number}") from error
    return page


def _pdf(path: Path, limits: Limits) -> Recognised:
    try:
        reader = pypdf.PdfReader(path)
        pages = list(reader.pages)
    except Exception as error:  # pypdf raises many kinds for broken files
        raise OcrFailed(Reason.UNREADABLE, type(error).__name__) from error
    clock = _Clock(limits)
    parts: list[str] = []
    read = 0
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
            image_only = is_image_only(page, text)
        except Exception:
            text, image_only = "", True
        if image_only and read < limits.max_pages and (read == 0 or clock.left() > 0):
            rendered = _render(path, number, _dpi_for(page, limits), clock)
            text = _tesseract(rendered, clock)
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
