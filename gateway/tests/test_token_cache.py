"""The gateway's short memory of verified tokens (through the gateway: every test_gateway test)."""

from __future__ import annotations

import base64
import json
from typing import Any, cast

import pytest

from kommune.auth.principal import Principal
from kommune.auth.verifier import TokenVerifier
from kommune.errors import Unauthorized
from kommune_gateway.token_cache import VerifiedTokens


def token_with(exp: float, sub: str = "u1") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'sub': sub, 'exp': exp})}.signature"


class CountingVerifier:
    """Stands in for the signature check only: accepts tokens whose subject is not 'bad'."""

    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        if claims["sub"] == "bad":
            raise Unauthorized("The token signature is invalid.")
        return Principal(sub=claims["sub"])


async def test_a_verified_token_is_remembered_until_ttl_or_exp() -> None:
    now = [1000.0]
    verifier = CountingVerifier()
    tokens = VerifiedTokens(cast(TokenVerifier, verifier), ttl=30, clock=lambda: now[0])
    long_lived = token_with(exp=5000)
    assert (await tokens.verify(long_lived)).sub == "u1"
    assert (await tokens.verify(long_lived)).sub == "u1"
    assert verifier.calls == 1
    now[0] += 31  # past the ttl: checked again
    await tokens.verify(long_lived)
    assert verifier.calls == 2

    short_lived = token_with(exp=now[0] + 5)
    await tokens.verify(short_lived)
    now[0] += 6  # past its exp, well within the ttl: checked again (and refused by a real one)
    await tokens.verify(short_lived)
    assert verifier.calls == 4


async def test_refused_tokens_are_never_remembered_and_memory_is_bounded() -> None:
    verifier = CountingVerifier()
    tokens = VerifiedTokens(cast(TokenVerifier, verifier), ttl=30, max_entries=3)
    bad = token_with(exp=10**10, sub="bad")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await tokens.verify(bad)
    assert verifier.calls == 2
    assert len(tokens) == 0
    for n in range(10):
        await tokens.verify(token_with(exp=10**10, sub=f"user-{n}"))
    assert len(tokens) == 3
