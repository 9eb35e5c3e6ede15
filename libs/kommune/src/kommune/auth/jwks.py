"""The issuer's signing keys: discovered, refreshed in the background, bounded in size and age.

Rules (ADR 0005), each a test in ``tests/test_auth_jwks.py``:

* **Known keys never wait.** A token whose ``kid`` is cached is verified without touching the
  network; a background task refreshes the key set every ``refresh_interval`` seconds (after a
  failure sooner, with exponential backoff), so no request queues behind a slow identity provider.
* **An unknown kid triggers at most one refresh.** It joins the refresh in flight, or starts one
  if no unknown kid started one in the last ``unknown_kid_interval`` seconds, and waits for it at
  most ``wait_timeout`` seconds; otherwise it is refused at once. A flood of forged ``kid``\\ s
  costs the identity provider one request per interval, and a key rotation is followed without a
  restart. The background schedule does not count: a prefetch that failed at start-up (the
  gateway is its own dev issuer and not listening yet) does not refuse the first tokens.
* **Vanished keys expire.** A key missing from a successful refresh stays usable for ``grace``
  seconds (identity provider replicas may briefly serve the old set; tokens already in flight
  finish), then it is refused: withdrawing a key at the issuer takes effect everywhere.
* **Cached keys have a maximum age.** If no refresh succeeded for ``max_stale`` seconds, no key is
  used (503): whoever stole a key and can cut a service off from the issuer must not keep it
  valid for ever. Refresh failures before that keep the cached keys (an identity provider outage
  must not log everybody out).
* **Bounded.** At most :data:`MAX_KEYS` keys and :data:`MAX_DOCUMENT_BYTES` per document.

``clock`` (monotonic seconds) is injectable, so tests advance time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import structlog
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from kommune.errors import ServiceUnavailable, Unauthorized

log = structlog.get_logger(__name__)

ALGORITHM = "RS256"
MAX_KEYS = 16
"""Keys kept at most (Keycloak publishes 1-4); a longer key set is cut with a warning."""
MAX_DOCUMENT_BYTES = 256 * 1024
"""Discovery and JWKS documents larger than this are refused (a real one is a few kB)."""
FETCH_TIMEOUT = 10.0
"""Seconds one refresh (discovery + JWKS) may take in total."""
MIN_RETRY = 1.0
MAX_RETRY = 60.0

Clock = Callable[[], float]
RefreshOutcome = Literal["ok", "failed", "rate_limited"]


class FetchError(Exception):
    """A discovery or JWKS request failed; the message is safe to log."""


@dataclass(slots=True)
class CachedKey:
    key: RSAKey
    vanished_at: float | None = None  # clock time of the refresh that no longer listed it


class JwksCache:
    """The signing keys of one issuer, for :class:`kommune.auth.verifier.TokenVerifier`."""

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        *,
        refresh_interval: float = 300,
        unknown_kid_interval: float = 10,
        grace: float = 300,
        max_stale: float = 3600,
        wait_timeout: float = 3.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_stale <= refresh_interval:
            raise ValueError("max_stale must be longer than refresh_interval")
        self.issuer = issuer.rstrip("/")
        self._http = http
        self._refresh_interval = refresh_interval
        self._unknown_kid_interval = unknown_kid_interval
        self._grace = grace
        self._max_stale = max_stale
        self._wait_timeout = wait_timeout
        self._clock = clock
        self._keys: dict[str, CachedKey] = {}
        self._jwks_uri: str | None = None
        self._last_attempt: float | None = None  # clock time the last refresh started
        self._last_on_demand: float | None = None  # ... the last one an unknown kid started
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._refreshes = 0  # refreshes started (for tests and the readiness detail)
        self._inflight: asyncio.Task[bool] | None = None
        self._background: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background refresh (the first fetch begins at once; nothing waits for it)."""
        if self._background is None:
            self._background = asyncio.create_task(
                self._refresh_periodically(), name=f"jwks-refresh {self.issuer}"
            )

    async def aclose(self) -> None:
        """Stop the background task and any refresh in flight; never raises."""
        tasks = [task for task in (self._background, self._inflight) if task is not None]
        self._background = self._inflight = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _refresh_periodically(self) -> None:
        retry = MIN_RETRY
        while True:
            if await self.refresh():
                delay, retry = self._refresh_interval, MIN_RETRY
            else:
                delay, retry = min(retry, self._refresh_interval), min(retry * 2, MAX_RETRY)
            await asyncio.sleep(delay)

    # -- lookup ----------------------------------------------------------------------------------

    async def key_for(self, kid: str | None) -> RSAKey:
        """The usable key ``kid`` names; :class:`Unauthorized` or :class:`ServiceUnavailable`."""
        key = self._usable(kid)
        if key is not None:
            return key
        if kid is not None and kid in self._keys and self._fresh():
            # Known, but withdrawn at the issuer longer than the grace period ago.
            raise Unauthorized("The token was signed with a key the issuer has withdrawn.")
        outcome = await self._refresh_for_unknown_kid()
        key = self._usable(kid)
        if key is not None:
            return key
        if not self.usable_kids():
            # The token may well be valid: we cannot tell, so 503 rather than 401.
            raise ServiceUnavailable("The identity provider's keys are not available.")
        if outcome == "failed":
            raise ServiceUnavailable("The identity provider did not answer; try again.")
        if kid is None:
            raise Unauthorized("The token names no key (kid) and the issuer has several.")
        raise Unauthorized("The token was signed with an unknown key.")

    def usable_kids(self) -> list[str]:
        if not self._fresh():
            return []
        now = self._clock()
        return sorted(kid for kid, cached in self._keys.items() if self._live(cached, now))

    def _usable(self, kid: str | None) -> RSAKey | None:
        if not self._fresh():
            return None
        now = self._clock()
        if kid is None:
            # A token without "kid" is acceptable only while the issuer publishes a single key.
            live = [cached.key for cached in self._keys.values() if self._live(cached, now)]
            return live[0] if len(live) == 1 else None
        cached = self._keys.get(kid)
        return cached.key if cached is not None and self._live(cached, now) else None

    def _live(self, cached: CachedKey, now: float) -> bool:
        return cached.vanished_at is None or now - cached.vanished_at < self._grace

    def _fresh(self) -> bool:
        """Whether a refresh succeeded within ``max_stale`` (else no cached key counts)."""
        return (
            self._last_success is not None and self._clock() - self._last_success < self._max_stale
        )

    # -- refresh ---------------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Refresh now, or join the refresh in flight; whether it succeeded. Never raises."""
        task = self._inflight or self._start_refresh()
        return await asyncio.shield(task)

    async def _refresh_for_unknown_kid(self) -> RefreshOutcome:
        task = self._inflight
        if task is None:
            last = self._last_on_demand
            if last is not None and self._clock() - last < self._unknown_kid_interval:
                return "rate_limited"
            self._last_on_demand = self._clock()
            task = self._start_refresh()
        try:
            async with asyncio.timeout(self._wait_timeout):
                ok = await asyncio.shield(task)
        except TimeoutError:
            return "failed"  # the refresh goes on in the background
        return "ok" if ok else "failed"

    def _start_refresh(self) -> asyncio.Task[bool]:
        self._last_attempt = self._clock()
        self._refreshes += 1
        task = asyncio.create_task(self._refresh_once(), name=f"jwks-fetch {self.issuer}")
        self._inflight = task
        return task

    async def _refresh_once(self) -> bool:
        try:
            async with asyncio.timeout(FETCH_TIMEOUT):
                keys = await self._fetch_keys()
        except (FetchError, TimeoutError) as exc:
            self._jwks_uri = None  # rediscover next time
            self._last_error = str(exc) or "timed out"
            log.warning(
                "jwks_refresh_failed",
                issuer=self.issuer,
                error=self._last_error,
                cached_keys=self.usable_kids(),
            )
            return False
        else:
            self._merge(keys)
            self._last_error = None
            return True
        finally:
            self._inflight = None

    def _merge(self, fetched: dict[str, RSAKey]) -> None:
        now = self._clock()
        for kid, cached in self._keys.items():
            if kid not in fetched and cached.vanished_at is None:
                cached.vanished_at = now
                log.warning("jwks_key_vanished", issuer=self.issuer, kid=kid, grace_s=self._grace)
        added = sorted(set(fetched) - set(self._keys))
        for kid, key in fetched.items():
            self._keys[kid] = CachedKey(key)
        for kid in [k for k, c in self._keys.items() if not self._live(c, now)]:
            del self._keys[kid]
            log.info("jwks_key_expired", issuer=self.issuer, kid=kid)
        # Bounded: drop the longest-vanished keys first (fetched ones are at most MAX_KEYS).
        vanished = sorted(
            (c.vanished_at, k) for k, c in self._keys.items() if c.vanished_at is not None
        )
        for _, kid in vanished[: max(0, len(self._keys) - MAX_KEYS)]:
            del self._keys[kid]
        self._last_success = now
        if added:
            log.info("jwks_keys_added", issuer=self.issuer, kids=added)

    async def _fetch_keys(self) -> dict[str, RSAKey]:
        if self._jwks_uri is None:
            discovery = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            # OIDC Discovery: the document's issuer must be the URL it was fetched for.
            if str(discovery.get("issuer", "")).rstrip("/") != self.issuer:
                raise FetchError("discovery names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise FetchError("discovery has no jwks_uri")
            self._jwks_uri = jwks_uri
        document = await self._get_json(self._jwks_uri)
        raw_keys = document.get("keys")
        keys: dict[str, RSAKey] = {}
        for data in raw_keys if isinstance(raw_keys, list) else []:
            if not isinstance(data, dict) or data.get("kty") != "RSA":
                continue
            if data.get("use", "sig") != "sig" or data.get("alg", ALGORITHM) != ALGORITHM:
                continue  # encryption keys and other algorithms are never signing keys here
            try:
                key = RSAKey.import_key(data)
            except (JoseError, ValueError, TypeError):
                log.warning("jwks_key_skipped", issuer=self.issuer, kid=str(data.get("kid")))
                continue
            if key.is_private:
                continue
            if len(keys) == MAX_KEYS:
                log.warning("jwks_too_many_keys", issuer=self.issuer, kept=MAX_KEYS)
                break
            keys[key.kid or key.thumbprint()] = key
        if not keys:
            raise FetchError("the JWKS has no usable RS256 signing key")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http.stream(
                "GET", url, headers={"Accept": "application/json"}
            ) as response:
                response.raise_for_status()
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FetchError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
            data = json.loads(body)
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}") from None
        except ValueError:
            raise FetchError(f"{url}: not JSON") from None
        if not isinstance(data, dict):
            raise FetchError(f"{url}: not a JSON object")
        return data

    # -- reporting -------------------------------------------------------------------------------

    @property
    def refreshes(self) -> int:
        """How many refreshes were started (each is one discovery/JWKS round trip or two)."""
        return self._refreshes

    def status(self) -> dict[str, Any]:
        """For ``/readyz``: ``fail`` only once a refresh has failed and no key is usable."""
        now = self._clock()
        kids = self.usable_kids()
        report: dict[str, Any] = {
            "issuer": self.issuer,
            "keys": len(kids),
            "last_refresh_age_s": (
                None if self._last_success is None else round(now - self._last_success, 1)
            ),
        }
        if self._last_error is not None:
            report["last_error"] = self._last_error
        if kids or (self._last_success is None and self._last_error is None):
            report["status"] = "ok"  # serving, or still loading for the first time
        else:
            report["status"] = "fail"
        return report


__all__ = ["ALGORITHM", "MAX_DOCUMENT_BYTES", "MAX_KEYS", "JwksCache"]
