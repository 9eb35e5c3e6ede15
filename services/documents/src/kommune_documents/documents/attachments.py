"""The attachments of an e-mail, taken apart (in a worker thread) to be filed as documents."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path

MAX_ATTACHMENTS = 50


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes


def attachments_of(path: Path) -> list[Attachment]:
    """Every attachment of the stored e-mail at ``path`` (at most :data:`MAX_ATTACHMENTS`);
    parts that cannot be decoded are left out (the e-mail itself is stored whole)."""
    with path.open("rb") as stream:
        message = email.message_from_binary_file(stream, policy=email.policy.default)
    found: list[Attachment] = []
    for number, part in enumerate(message.iter_attachments(), start=1):
        if len(found) >= MAX_ATTACHMENTS:
            break
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            continue
        data = content.encode() if isinstance(content, str) else content
        if not isinstance(data, bytes):
            continue  # a nested message: it stays inside the stored e-mail
        found.append(Attachment(part.get_filename() or f"Anhang {number}", data))
    return found
