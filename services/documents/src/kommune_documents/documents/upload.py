"""Streaming ``multipart/form-data`` uploads: the content goes to the store as it arrives.

The request body is fed chunk by chunk to ``python-multipart``'s push parser; the part named
``content`` is hashed and written to a temporary file of the content store, the other parts
(small form fields) are collected up to 4 KiB each. At no point is more than about 1 MiB of
the body in memory, whatever its size (measured in ``bench/documents_upload.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from kommune.errors import DomainError, InvalidInput, PayloadTooLarge
from kommune_documents.documents.storage import ContentStore, StagedContent

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

CONTENT_PART = "content"
MAX_FIELD_BYTES = 4096
MAX_PARTS = 8
MAX_HEADER_BYTES = 2048


class UnsupportedMediaType(DomainError):  # noqa: N818 - named like the HTTP status
    status_code = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    content: StagedContent | None = None
    filename: str | None = None

    def discard(self) -> None:
        if self.content is not None:
            self.content.discard()


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    staged: StagedContent | None = None


class _Receiver:
    """The parser's callbacks (synchronous); content bytes go straight into the staged file."""

    def __init__(self, store: ContentStore, max_bytes: int, upload: Upload) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.upload = upload
        self.part = _Part()
        self.parts = 0
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.ended = False

    def on_end(self) -> None:
        self.ended = True

    def callbacks(self) -> MultipartCallbacks:  # a TypedDict only type checkers see
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidInput(f"At most {MAX_PARTS} form parts.")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]
        self._check_header()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]
        self._check_header()

    def _check_header(self) -> None:
        if len(self.header_field) + len(self.header_value) > MAX_HEADER_BYTES:
            raise InvalidInput("A form part header is too long.")

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self.part.headers.get(b"content-disposition", b"")
        )
        if disposition != b"form-data" or b"name" not in options:
            raise InvalidInput("Every form part needs Content-Disposition: form-data; name=...")
        name = options[b"name"].decode("utf-8", "replace")
        self.part.name = name
        if name in self.upload.fields or (name == CONTENT_PART and self.upload.content):
            raise InvalidInput(f"The form field {name!r} is given twice.")
        if name == CONTENT_PART:
            filename = options.get(b"filename")
            self.upload.filename = filename.decode("utf-8", "replace") if filename else None
            self.part.staged = self.upload.content = self.store.stage(self.max_bytes)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.staged is not None:
            self.part.staged.feed(data[start:end])
            return
        self.part.data += data[start:end]
        if len(self.part.data) > MAX_FIELD_BYTES:
            raise InvalidInput(f"The form field {self.part.name!r} is too long.")

    def on_part_end(self) -> None:
        if self.part.staged is None:
            try:
                self.upload.fields[self.part.name] = self.part.data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInput(f"The form field {self.part.name!r} is not UTF-8.") from error


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("Send the document as multipart/form-data.")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidInput("The multipart boundary is missing or too long.")
    return boundary


async def receive_upload(request: Request, store: ContentStore, max_bytes: int) -> Upload:
    """Parse the body; the content part ends up fsynced in a temp file (``upload.content``).

    On any error the temp file is removed. The caller publishes or discards it.
    """
    boundary = _boundary(request)
    upload = Upload()
    receiver = _Receiver(store, max_bytes, upload)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except MultipartParseError as error:
                raise InvalidInput("The multipart body is malformed.") from error
            staged = upload.content
            if staged is not None and staged.needs_flush:
                await staged.flush()
        try:
            parser.finalize()
        except MultipartParseError as error:
            raise InvalidInput("The multipart body is malformed.") from error
        if upload.content is None:
            raise InvalidInput(f"The form part {CONTENT_PART!r} (the document) is missing.")
        if not receiver.ended:
            raise InvalidInput("The multipart body is incomplete (no closing boundary).")
        await upload.content.finish()
    except BaseException:
        upload.discard()
        raise
    return upload


__all__ = ["CONTENT_PART", "PayloadTooLarge", "UnsupportedMediaType", "Upload", "receive_upload"]
