"""Download responses: ``ETag`` (the SHA-256), ``If-None-Match``, ``Range`` and ``If-Range``.

From the filesystem, Starlette's ``FileResponse`` serves the file (it handles ranges, also
several). From an object store the content is streamed in 1 MiB pieces read in a worker thread,
with one byte range passed on to the store (``Range: bytes=a-b``, ``a-``, ``-n``); a header with
several ranges or that does not parse is ignored (the whole content, ``200``, as RFC 9110 allows),
a range past the end is ``416``. The content is opened before the response starts, so missing
content is a ``503`` problem, never a broken ``200``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import quote

import anyio.to_thread
from fastapi import Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse

from kommune_documents.documents.storage import (
    READ_BYTES,
    ContentMissing,
    ContentStore,
    FilesystemStore,
    Readable,
)

CONTENT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The content (or the scan)."},
    206: {"description": "The requested byte range."},
    304: {"description": "Not modified (If-None-Match)."},
    416: {"description": "Range not satisfiable."},
}
"""What a download endpoint answers, for its OpenAPI."""


class StoredContent(Protocol):
    """What a download needs to know of a stored object: a document version or a mail item."""

    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def media_type(self) -> str: ...
    @property
    def filename(self) -> str: ...


_ONE_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


class Unsatisfiable(Exception):  # noqa: N818 - answered as 416, never raised out of here
    pass


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single range within ``size`` bytes; ``None`` = the whole
    content; :class:`Unsatisfiable` for a range that starts past the end."""
    if not header:
        return None
    match = _ONE_RANGE.match(header.strip().replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return start, end


async def content_response(
    store: ContentStore, version: StoredContent, request: Request
) -> Response:
    etag = f'"{version.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(version.filename)}",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if isinstance(store, FilesystemStore):
        path = store.path_of(version.sha256)
        if not path.is_file():
            raise ContentMissing()
        return FileResponse(path, media_type=version.media_type, headers=headers)
    return await _streamed(store, version, request, headers)


async def _streamed(
    store: ContentStore, version: StoredContent, request: Request, headers: dict[str, str]
) -> Response:
    headers["Accept-Ranges"] = "bytes"
    if_range = request.headers.get("if-range")
    try:
        wanted = (
            None
            if if_range is not None and if_range.strip() != headers["ETag"]
            else requested_range(request.headers.get("range"), version.size)
        )
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{version.size}"
        return Response(status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE, headers=headers)
    start, end = wanted or (0, version.size - 1)
    if wanted:
        source = await anyio.to_thread.run_sync(store.open, version.sha256, start, end)
    else:
        source = await anyio.to_thread.run_sync(store.open, version.sha256)
    headers["Content-Length"] = str(end - start + 1 if version.size else 0)
    code = status.HTTP_200_OK
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{version.size}"
        code = status.HTTP_206_PARTIAL_CONTENT
    return StreamingResponse(
        _pieces(source), status_code=code, media_type=version.media_type, headers=headers
    )


async def _pieces(source: Readable) -> AsyncIterator[bytes]:
    try:
        while piece := await anyio.to_thread.run_sync(source.read, READ_BYTES):
            yield piece
    finally:
        await anyio.to_thread.run_sync(source.close)


__all__ = [
    "CONTENT_RESPONSES",
    "ContentMissing",
    "StoredContent",
    "content_response",
    "requested_range",
]
