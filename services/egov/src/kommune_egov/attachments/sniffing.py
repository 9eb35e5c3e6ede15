"""What a file is, from its bytes (``puremagic``), never from the name or the client's header."""

from __future__ import annotations

import puremagic

ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
}


def sniff(content: bytes) -> str | None:
    """The allowed media type ``content`` is, or ``None`` (unknown or not allowed)."""
    if not content:
        return None
    try:
        matches = puremagic.magic_string(content[:8192])
    except (puremagic.PureError, ValueError):
        return None
    if not matches:
        return None
    # Only the most confident reading counts: a file that is mostly something else does not
    # pass because a weaker signature also matches.
    mime = (matches[0].mime_type or "").lower()
    return mime if mime in ALLOWED_TYPES else None
