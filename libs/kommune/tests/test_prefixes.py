"""The one prefix matcher: whole segments, longest prefix first."""

from __future__ import annotations

import pytest

from kommune.prefixes import PrefixTable


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/ideas", "ideas"),
        ("/api/v1/ideas/", "ideas"),
        ("/api/v1/ideas/42/comments", "ideas"),
        ("/api/v1/ideas/exports", "exports"),
        ("/api/v1/ideas/exports/42", "exports"),
        ("/api/v1/ideas/exportsX", "ideas"),
        ("/api/v1/ideasX", None),
        ("/api/v1", None),
        ("/", None),
        ("", None),
    ],
)
def test_longest_whole_segment_prefix_wins(path: str, expected: str | None) -> None:
    table = PrefixTable([("/api/v1/ideas", "ideas"), ("/api/v1/ideas/exports", "exports")])
    assert table.match(path) == expected


@pytest.mark.parametrize("prefix", ["api", "/api/", "/", ""])
def test_malformed_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        PrefixTable([(prefix, 1)])


def test_falsy_values_still_match() -> None:
    assert PrefixTable([("/a", 0)]).match_prefix("/a/b") == ("/a", 0)
