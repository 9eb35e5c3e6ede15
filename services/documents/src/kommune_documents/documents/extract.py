"""Text for search, extracted from stored content (in a worker thread).

Born-digital PDF (``pypdf``), DOCX (``python-docx``), e-mail (the standard library's parser
with the modern policy: subject, sender, recipients and the plain or HTML body), XML
(``defusedxml``: no entity expansion, no external entities, no network) and plain text.
Image-only scans give no text (OCR is not part of this service yet). Extraction never fails an
upload: broken content is stored and simply not indexed.
"""

from __future__ import annotations

import email
import email.policy
import re
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


def _pdf(path: Path) -> str:
    reader = pypdf.PdfReader(path)
    parts: list[str] = []
    size = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
        if size > MAX_TEXT_CHARS:
            break
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


def extract_text(path: Path, media_type: str) -> str:
    """Storable text (no control characters), at most :data:`MAX_TEXT_CHARS`; ``""`` if none."""
    extractor = EXTRACTORS.get(media_type)
    if extractor is None:
        return ""
    try:
        text = extractor(path)
    except Exception as error:
        log.info("text_extraction_failed", media_type=media_type, error=type(error).__name__)
        return ""
    return _UNSTORABLE.sub(" ", text)[:MAX_TEXT_CHARS]
