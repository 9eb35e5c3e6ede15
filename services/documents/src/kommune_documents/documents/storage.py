"""The content store: write-once files named by their SHA-256, on the local filesystem.

Content is streamed into a temporary file under ``<root>/tmp`` while it is hashed, then made
durable (``fsync``) and put in place as ``<root>/<aa>/<bb>/<sha256>`` with ``link(2)``, which
is atomic and never replaces an existing file: content that is stored already is not written
again (deduplication), and a stored file is never changed (it is also made read-only). The
directory is fsynced after the link so the name survives a crash as well.

A file that is published but whose database transaction then fails stays in the store without
a row pointing to it: harmless (content-addressed), and a sweep can remove such orphans.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import anyio.to_thread

from kommune.errors import PayloadTooLarge

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
FLUSH_BYTES = 1024 * 1024
"""Written to disk (in a worker thread) whenever this much is buffered."""
HEAD_BYTES = 8192
"""The beginning of the content kept for sniffing its type."""


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


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def prepare(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if not SHA256_PATTERN.match(sha256):
            raise ValueError("not a SHA-256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def stage(self, max_bytes: int) -> StagedContent:
        self.prepare()
        return StagedContent(self, max_bytes)

    async def publish(self, staged: StagedContent) -> bool:
        """Put finished content in place; ``False`` if it was stored already (deduplicated)."""
        return await anyio.to_thread.run_sync(self._publish, staged.path, staged.sha256)

    def _publish(self, source: Path, sha256: str) -> bool:
        target = self.path_of(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            return False
        finally:
            source.unlink(missing_ok=True)
        os.chmod(target, 0o444)
        _fsync_dir(target.parent)
        return True

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()
