"""The issuer's key set: rotation without restart, withdrawn keys refused after the grace period,
unknown kids rate-limited, a slow issuer never blocking known keys, the background refresh.

The in-process dev issuer rotates and withdraws its keys as an operator does in Keycloak; time
moves by an injected clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response

from kommune.auth.dev_issuer import DevIssuer
from kommune.auth.jwks import MAX_DOCUMENT_BYTES, MAX_KEYS
from kommune.auth.verifier import TokenVerifier
from kommune.errors import ServiceUnavailable, Unauthorized
from kommune.settings import service_audience
from kommune.testing.auth import TEST_ISSUER_URL, ControlledIssuer, FakeClock

ISSUER = TEST_ISSUER_URL
AUDIENCE = service_audience("ideas")
GRACE = 300.0
UNKNOWN_KID_INTERVAL = 10.0
MAX_STALE = 3600.0


@pytest.fixture
def issuer() -> ControlledIssuer:
    return ControlledIssuer(DevIssuer.generate(ISSUER))


@pytest.fixture
async def http(issuer: ControlledIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with issuer.client() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def verifier(http: httpx.AsyncClient, clock: FakeClock, **kwargs: Any) -> TokenVerifier:
    options: dict[str, Any] = {
        "key_grace": GRACE,
        "unknown_kid_interval": UNKNOWN_KID_INTERVAL,
        "max_stale": MAX_STALE,
        "clock": clock,
        **kwargs,
    }
    return TokenVerifier(ISSUER, AUDIENCE, http, **options)


async def test_key_rotation_is_followed_without_restart(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock)
    assert (await v.verify(issuer.issuer.issue("before", []))).sub == "before"
    old_kid = issuer.issuer.kid
    clock.advance(UNKNOWN_KID_INTERVAL)
    new_kid = issuer.issuer.rotate_key()
    assert new_kid != old_kid

    # The first token with the new kid fetches the key set once, then it is known.
    assert (await v.verify(issuer.issuer.issue("after", []))).sub == "after"
    assert (await v.verify(issuer.issuer.issue("after", []))).sub == "after"
    assert issuer.jwks_requests == 2
    assert v.keys is not None
    assert v.keys.usable_kids() == sorted([old_kid, new_kid])


async def test_withdrawn_key_is_refused_after_the_grace_period(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock)
    old_kid = issuer.issuer.kid
    old_token = issuer.issuer.issue("old", [])
    await v.verify(old_token)
    issuer.issuer.rotate_key()
    new_token = issuer.issuer.issue("new", [])
    issuer.issuer.withdraw_key(old_kid)
    assert v.keys is not None
    assert await v.keys.refresh()  # the background refresh, run now

    # Within the grace period the withdrawn key still verifies (tokens in flight finish).
    clock.advance(GRACE - 1)
    assert (await v.verify(old_token)).sub == "old"
    clock.advance(1)
    requests = issuer.jwks_requests
    with pytest.raises(Unauthorized, match="withdrawn"):
        await v.verify(old_token)
    assert issuer.jwks_requests == requests  # refused from the cache, no fetch
    assert (await v.verify(new_token)).sub == "new"

    # The next refresh forgets the key altogether: an unknown key from then on.
    clock.advance(UNKNOWN_KID_INTERVAL)
    assert await v.keys.refresh()
    assert v.keys.usable_kids() == [issuer.issuer.kid]
    with pytest.raises(Unauthorized, match="unknown key"):
        await v.verify(old_token)


async def test_a_key_published_again_within_the_grace_period_stays(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    # One identity provider replica briefly serving an old key set must not revoke keys.
    v = verifier(http, clock)
    token = issuer.issuer.issue("u1", [])
    await v.verify(token)
    assert v.keys is not None
    kid = issuer.issuer.kid
    issuer.issuer.rotate_key()
    withdrawn = issuer.issuer._published.pop(kid)
    assert await v.keys.refresh()
    issuer.issuer._published[kid] = withdrawn
    clock.advance(GRACE / 2)
    assert await v.keys.refresh()
    clock.advance(GRACE)
    assert (await v.verify(token)).sub == "u1"


async def test_unknown_kids_trigger_at_most_one_refresh_per_interval(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock)
    await v.verify(issuer.issuer.issue("u1", []))
    assert issuer.jwks_requests == 1
    stranger = DevIssuer.generate(ISSUER)  # kids nobody publishes
    clock.advance(UNKNOWN_KID_INTERVAL)

    async def forged() -> BaseException | None:
        try:
            await v.verify(stranger.issue("u1", ["admin"]))
        except Unauthorized as exc:
            return exc
        return None

    # 50 concurrent forged tokens: one refresh, joined by all, then all refused.
    results = await asyncio.gather(*(forged() for _ in range(50)))
    assert all(isinstance(r, Unauthorized) and "unknown key" in r.detail for r in results)
    assert issuer.jwks_requests == 2
    # Within the interval: refused at once, no request to the issuer.
    clock.advance(UNKNOWN_KID_INTERVAL - 1)
    await asyncio.gather(*(forged() for _ in range(50)))
    assert issuer.jwks_requests == 2
    # After it: one more.
    clock.advance(1)
    await asyncio.gather(*(forged() for _ in range(50)))
    assert issuer.jwks_requests == 3


async def test_a_slow_issuer_does_not_block_tokens_with_known_keys(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock, wait_timeout=0.2)
    known = issuer.issuer.issue("u1", [])
    await v.verify(known)
    assert v.keys is not None
    issuer.hold()  # from now on, JWKS requests hang until released
    clock.advance(UNKNOWN_KID_INTERVAL)
    refresh = asyncio.create_task(v.keys.refresh())
    async with asyncio.timeout(10):
        await issuer.jwks_held.wait()

    # While the refresh hangs, tokens with known keys verify (the deadline only guards a hang).
    async with asyncio.timeout(10):
        for _ in range(20):
            assert (await v.verify(known)).sub == "u1"
    assert not refresh.done()
    # An unknown kid waits for the hanging refresh only wait_timeout, then 503, not a queue.
    rotated = DevIssuer.generate(ISSUER)
    with pytest.raises(ServiceUnavailable, match="did not answer"):
        await v.verify(rotated.issue("u1", []))
    assert not refresh.done()
    assert issuer.jwks_requests == 2  # joined the refresh in flight, did not start another

    issuer.release()
    assert await refresh
    assert (await v.verify(known)).sub == "u1"


async def test_cached_keys_survive_an_outage_but_not_beyond_max_stale(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock)
    token = issuer.issuer.issue("u1", [], expires_in=7200)
    await v.verify(token)
    assert v.keys is not None
    issuer.up = False
    clock.advance(MAX_STALE - 1)
    assert not await v.keys.refresh()
    assert (await v.verify(token)).sub == "u1"  # an outage does not log everybody out
    readiness = await v.readiness()
    assert readiness["status"] == "ok"
    assert readiness["last_error"]

    clock.advance(1)  # no successful refresh for max_stale: the cached keys are not trusted
    with pytest.raises(ServiceUnavailable):
        await v.verify(token)
    assert (await v.readiness())["status"] == "fail"

    issuer.up = True
    clock.advance(UNKNOWN_KID_INTERVAL)
    assert (await v.verify(token)).sub == "u1"  # recovers by itself on the next request
    assert (await v.readiness())["status"] == "ok"


async def test_background_refresh_follows_rotation_without_any_request(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    old_kid = issuer.issuer.kid
    # Apps of other tests in this session run their own refresh tasks: look at ours only.
    earlier = asyncio.all_tasks()
    async with verifier(http, clock, refresh_interval=0.01) as v:
        assert v.keys is not None
        await issuer.wait_for_jwks_requests(1)
        new_kid = issuer.issuer.rotate_key()
        issuer.issuer.withdraw_key(old_kid)
        # The refresh after the next one started after the rotation and finished before it.
        await issuer.wait_for_jwks_requests(issuer.jwks_requests + 2)
        assert new_kid in v.keys.usable_kids()
        assert v.keys.refreshes >= 3
    # Leaving the context stops the background task and any fetch in flight.
    assert not [t for t in asyncio.all_tasks() - earlier if t.get_name().startswith("jwks")]


async def test_background_refresh_retries_soon_after_a_failure(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issuer.up = False
    async with verifier(http, clock, refresh_interval=600) as v:
        # Two failed discoveries: the retry came after seconds, not after refresh_interval.
        await issuer.wait_until(lambda: issuer.discovery_requests >= 2)
        assert (await v.readiness())["status"] == "fail"
        issuer.up = True
        await issuer.wait_for_jwks_requests(1)
        # The refresh that made that request is in flight or done: the token's key is known
        # (joined, never a new fetch: the clock did not move past the rate limit).
        assert (await v.verify(issuer.issuer.issue("u1", []))).sub == "u1"
        assert (await v.readiness())["status"] == "ok"
        assert issuer.jwks_requests == 1


async def test_a_failed_prefetch_does_not_refuse_the_first_tokens(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    # The gateway is its own dev issuer: its start-up prefetch fails, it is not listening yet.
    issuer.up = False
    async with verifier(http, clock, refresh_interval=600) as v:
        assert v.keys is not None
        assert not await v.keys.refresh()  # joins (or repeats) the failed prefetch
        issuer.up = True
        # The clock has not moved: only unknown kids count for their rate limit.
        assert (await v.verify(issuer.issuer.issue("u1", []))).sub == "u1"


async def test_readiness_reports_loading_then_keys(
    issuer: ControlledIssuer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    v = verifier(http, clock)
    assert (await v.readiness())["status"] == "ok"  # loading: nothing has failed yet
    assert (await v.readiness())["keys"] == 0
    await v.verify(issuer.issuer.issue("u1", []))
    report = await v.readiness()
    assert report["status"] == "ok"
    assert report["keys"] == 1
    assert report["audience"] == AUDIENCE


# -- bounds ------------------------------------------------------------------------------------


def _jwks_app(document: dict[str, Any] | bytes, discovery: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/auth/dev/.well-known/openid-configuration")
    async def disco() -> dict[str, Any]:
        return discovery

    @app.get("/auth/dev/jwks.json")
    async def jwks() -> Any:
        if isinstance(document, bytes):
            return Response(document, media_type="application/json")
        return document

    return app


async def test_key_set_is_bounded(clock: FakeClock) -> None:
    dev = DevIssuer.generate(ISSUER)
    public = dev.jwks()["keys"][0]
    kids = [f"k{i}" for i in range(MAX_KEYS + 4)]
    document = {"keys": [{**public, "kid": kid} for kid in kids]}  # one key under many names
    app = _jwks_app(document, dev.discovery())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        v = verifier(http, clock)
        assert v.keys is not None
        assert await v.keys.refresh()
        assert v.keys.usable_kids() == sorted(kids[:MAX_KEYS])
        assert await v.verify(dev.issue("u1", [], header={"kid": kids[0]}))
        with pytest.raises(Unauthorized, match="unknown key"):
            await v.verify(dev.issue("u1", [], header={"kid": kids[-1]}))


async def test_oversized_key_set_is_refused(clock: FakeClock) -> None:
    dev = DevIssuer.generate(ISSUER)
    padding = b" " * (MAX_DOCUMENT_BYTES + 1)
    document = padding + json.dumps(dev.jwks()).encode()
    app = _jwks_app(document, dev.discovery())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        v = verifier(http, clock)
        with pytest.raises(ServiceUnavailable):
            await v.verify(dev.issue("u1", []))
        assert "larger than" in (await v.readiness())["last_error"]
