"""The content store: write-once content named by its SHA-256.

:class:`ContentStore` is what the services use; :class:`FilesystemStore` (the default) keeps
content on the local filesystem, :class:`~kommune_documents.documents.s3store.S3Store` in an
S3-compatible object store (chosen by ``DOCUMENTS_STORAGE_BACKEND``). Both stage an upload in a
local temporary file while it is hashed, so the final name is known before anything is published.

On the filesystem, content is streamed into a temporary file under ``<root>/tmp`` while it is
hashed, then made durable (``fsync``) and put in place as ``<root>/<aa>/<bb>/<sha256>`` with
``link(2)``, which is atomic and never replaces an existing file: content that is stored already
is not written again (deduplication), and a stored file is never changed (it is also made
read-only). The directory is fsynced after the link so the name survives a crash as well.

A file that is published but whose database transaction then fails stays in the store without
a row pointing to it: harmless (content-addressed), and a sweep can remove such orphans.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio.to_thread

from kommune.errors import PayloadTooLarge, ServiceUnavailable

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
FLUSH_BYTES = 1024 * 1024
"""Written to disk (in a worker thread) whenever this much is buffered."""
HEAD_BYTES = 8192
"""The beginning of the content kept for sniffing its type."""
READ_BYTES = 1024 * 1024
"""Downloads and hand-over packages read content in pieces of this size."""


class Readable(Protocol):
    """Content being read: a local file or an object store's response body."""

    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class ContentMissing(ServiceUnavailable):
    """A version's content is not in the store (deleted behind the service's back, or the store
    lost it): a clear 503, never a 500."""

    def __init__(self) -> None:
        super().__init__("The content store does not have this content right now.")


def key_of(sha256: str) -> str:
    """``<aa>/<bb>/<sha256>``: the content's name below the store's root (or key prefix)."""
    if not SHA256_PATTERN.match(sha256):
        raise ValueError("not a SHA-256")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class StagedContent:
    """Content being received: hashed as it comes, buffered up to 1 MiB, written to a temp file."""

    def __init__(self, store: ContentStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.path = store.tmp / f"{uuid.uuid4().hex}.part"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self.size = 0
        self.head = b""
        self.sha256 = ""

    def feed(self, data: bytes) -> None:
        """Take the next bytes (synchronous: called from the multipart parser)."""
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"A document may have at most {self.max_bytes} bytes.")
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._hash.update(data)
        self._buffer += data

    @property
    def needs_flush(self) -> bool:
        return len(self._buffer) >= FLUSH_BYTES

    async def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            await anyio.to_thread.run_sync(_write_all, self._fd, chunk)

    async def finish(self) -> str:
        """Write the rest, fsync, close; returns the SHA-256 (hex)."""
        await self.flush()
        await anyio.to_thread.run_sync(_sync_and_close, self._fd)
        self._fd = -1
        self.sha256 = self._hash.hexdigest()
        return self.sha256

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore(ABC):
    """Write-once content by SHA-256. Uploads are staged under ``<staging root>/tmp``.

    The synchronous methods block (disk or network): call them from a worker thread.
    """

    backend: str

    def __init__(self, staging_root: Path) -> None:
        self.tmp = staging_root / "tmp"

    def prepare(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    async def check(self) -> None:
        """At start-up: raise (with a message an operator understands) if the store is unusable."""
        await anyio.to_thread.run_sync(self.prepare)

    def stage(self, max_bytes: int) -> StagedContent:
        self.prepare()
        return StagedContent(self, max_bytes)

    async def publish(self, staged: StagedContent) -> bool:
        """Store finished content under its hash; ``False`` if it was stored already
        (deduplicated). Never replaces stored content. The staged file stays until
        ``staged.discard()`` (so it can still be read, e.g. for text extraction)."""
        return await anyio.to_thread.run_sync(self._publish, staged.path, staged.sha256)

    @abstractmethod
    def _publish(self, source: Path, sha256: str) -> bool: ...

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        """The content (bytes ``start`` … ``end`` inclusive, all by default), to be read in
        pieces and closed; :class:`ContentMissing` if it is not there."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove content (disposal only; the caller checked that no version uses it)."""

    @contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """A local file with the content, for tools that need a path (text extraction, OCR):
        the stored file itself on the filesystem, else a temporary copy removed afterwards."""
        self.prepare()
        copy = self.tmp / f"{uuid.uuid4().hex}.copy"
        try:
            with copy.open("xb") as out:
                for piece in self.chunks(sha256):
                    out.write(piece)
            yield copy
        finally:
            copy.unlink(missing_ok=True)

    def chunks(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The content in pieces of at most :data:`READ_BYTES` (blocking)."""
        source = self.open(sha256, start, end)
        try:
            while piece := source.read(READ_BYTES):
                yield piece
        finally:
            source.close()


class FilesystemStore(ContentStore):
    """``<root>/<aa>/<bb>/<sha256>``, published with ``link(2)``, read-only once stored."""

    backend = "filesystem"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / key_of(sha256)

    def _publish(self, source: Path, sha256: str) -> bool:
        target = self.path_of(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            return False
        os.chmod(target, 0o444)
        _fsync_dir(target.parent)
        return True

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        try:
            handle = self.path_of(sha256).open("rb")
        except FileNotFoundError:
            raise ContentMissing() from None
        handle.seek(start)
        if end is None:
            return handle
        return _Bounded(handle, end - start + 1)

    def delete(self, sha256: str) -> None:
        self.path_of(sha256).unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        path = self.path_of(sha256)
        if not path.is_file():
            raise ContentMissing()
        yield path


class _Bounded:
    """At most ``remaining`` bytes of ``inner`` (a byte range of a file)."""

    def __init__(self, inner: BinaryIO, remaining: int) -> None:
        self.inner = inner
        self.remaining = remaining

    def read(self, size: int, /) -> bytes:
        data = self.inner.read(min(size, self.remaining))
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.inner.close()
