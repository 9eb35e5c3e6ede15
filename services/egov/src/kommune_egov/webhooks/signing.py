"""Webhook signatures: HMAC-SHA256 over the timestamp and the body (Stripe's scheme).

Header ``Kommune-Signature: t=<unix seconds>,v1=<hex>`` where ``v1 = HMAC-SHA256(secret,
f"{t}.".encode() + body)``. A receiver recomputes it over the raw body, compares in constant time
and refuses timestamps older than a few minutes (replays). :func:`verify` is that check.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Kommune-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` is a valid, fresh signature of ``body`` with ``secret``."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
