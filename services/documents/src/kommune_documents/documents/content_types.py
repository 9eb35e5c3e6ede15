"""What a document is, judged by its bytes (never by the name or the header the client sent).

Binary formats by their signatures (``filetype``); text by being UTF-8 without NUL, then XML
by its start and an e-mail by its header lines. Anything else is refused (415): the E-Akte
keeps office documents, scans and mail, not executables or archives of unknown content.
"""

from __future__ import annotations

import re

import filetype  # type: ignore[import-untyped]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
XML = "application/xml"
EMAIL = "message/rfc822"
TEXT = "text/plain"

ACCEPTED_BINARY = frozenset({PDF, DOCX, XLSX, ODT, "image/png", "image/jpeg", "image/tiff"})
ACCEPTED = ACCEPTED_BINARY | {XML, EMAIL, TEXT}

_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{0,76}:[ \t]", re.MULTILINE)
_MAIL_HEADERS = (b"from:", b"received:", b"mime-version:", b"message-id:", b"subject:")


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The head may end inside a multi-byte character: only that is forgiven.
        if error.start < len(head) - 3:
            return None
        return head[: error.start].decode("utf-8")


def _looks_like_mail(head: bytes) -> bool:
    first_block = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = [line for line in first_block.splitlines() if line and not line[:1].isspace()]
    if not lines or not all(_HEADER_LINE.match(line) for line in lines):
        return False
    names = {line.split(b":", 1)[0].lower() + b":" for line in lines}
    return sum(name in names for name in _MAIL_HEADERS) >= 2


def sniff(head: bytes) -> str | None:
    """The media type of content starting with ``head``; ``None`` if it is not accepted."""
    if not head:
        return TEXT
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime if kind.mime in ACCEPTED_BINARY else None
    text = _as_text(head)
    if text is None:
        return None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return XML
    if _looks_like_mail(head):
        return EMAIL
    return TEXT
