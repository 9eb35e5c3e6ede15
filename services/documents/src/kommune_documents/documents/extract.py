"""Text for search, extracted from stored content (in a worker thread).

Born-digital PDF (``pypdf``), DOCX (``python-docx``), e-mail (the standard library's parser
with the modern policy: subject, sender, recipients and the plain or HTML body), XML
(``defusedxml``: no entity expansion, no external entities, no network) and plain text.
Scans give no text here: :func:`extract` says so (``needs_ocr``) for images and for PDFs with
image-only pages, and the service has them read by Tesseract in the background
(:mod:`kommune_documents.ocr`). Extraction never fails an upload: broken content is stored and
simply not indexed.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree  # type: ignore[import-untyped]
import docx
import pypdf
import structlog

from kommune_documents.documents import content_types

log = structlog.get_logger(__name__)

MAX_TEXT_CHARS = 200_000
"""Stored for search per document (PostgreSQL's tsvector is bounded, and so is useful text)."""
_TAGS = re.compile(r"<[^>]{0,2000}>")
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/tiff"})
"""Scans by nature: always read by OCR."""
MIN_PAGE_TEXT = 3
"""A PDF page with fewer non-blank characters than this has no text layer worth the name."""


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    needs_ocr: bool = False
    """The content has pages without a text layer (an image, a scanned PDF page): OCR them."""


class _ImageOnlyPages(Exception):  # noqa: N818 - a signal, not an error
    def __init__(self, text: str) -> None:
        self.text = text


def is_image_only(page: pypdf.PageObject, text: str) -> bool:
    """A page without a text layer that shows an image (a blank page is not worth an OCR)."""
    if len(text.strip()) >= MIN_PAGE_TEXT:
        return False
    try:
        return len(page.images) > 0
    except Exception:  # an image the library cannot list: let OCR judge the rendered page
        return True


def _pdf(path: Path) -> str:
    reader = pypdf.PdfReader(path)
    parts: list[str] = []
    size = 0
    image_only = False
    for page in reader.pages:
        text = page.extract_text() or ""
        image_only = image_only or is_image_only(page, text)
        parts.append(text)
        size += len(text)
        if size > MAX_TEXT_CHARS:
            break
    if image_only:
        raise _ImageOnlyPages("\n".join(parts))
    return "\n".join(parts)


def _docx(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _email(path: Path) -> str:
    with path.open("rb") as stream:
        message = email.message_from_binary_file(stream, policy=email.policy.default)
    parts = [f"{name}: {message[name]}" for name in ("Subject", "From", "To") if message[name]]
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if body.get_content_type() == "text/html":
            content = _TAGS.sub(" ", content)
        parts.append(content)
    return "\n".join(parts)


def _xml(path: Path) -> str:
    tree = defusedxml.ElementTree.parse(str(path), forbid_dtd=True)
    return " ".join(text.strip() for text in tree.getroot().itertext() if text.strip())


def _text(path: Path) -> str:
    with path.open("rb") as stream:
        return stream.read(MAX_TEXT_CHARS * 4).decode("utf-8", "replace")


EXTRACTORS = {
    content_types.PDF: _pdf,
    content_types.DOCX: _docx,
    content_types.EMAIL: _email,
    content_types.XML: _xml,
    content_types.TEXT: _text,
}


def storable(text: str) -> str:
    """``text`` without control characters, at most :data:`MAX_TEXT_CHARS`."""
    return _UNSTORABLE.sub(" ", text)[:MAX_TEXT_CHARS]


def extract(path: Path, media_type: str) -> Extracted:
    """The storable text of the content, and whether it has pages only OCR can read."""
    if media_type in IMAGE_TYPES:
        return Extracted("", needs_ocr=True)
    extractor = EXTRACTORS.get(media_type)
    if extractor is None:
        return Extracted("")
    try:
        text = extractor(path)
    except _ImageOnlyPages as partial:
        return Extracted(storable(partial.text), needs_ocr=True)
    except Exception as error:
        log.info("text_extraction_failed", media_type=media_type, error=type(error).__name__)
        return Extracted("")
    return Extracted(storable(text))


def extract_text(path: Path, media_type: str) -> str:
    """Storable text (no control characters), at most :data:`MAX_TEXT_CHARS`; ``""`` if none."""
    return extract(path, media_type).text
