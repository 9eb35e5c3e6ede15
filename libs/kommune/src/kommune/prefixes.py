"""Path prefixes matched by whole segments, longest first: the one matcher for prefix tables.

``/api/v1/ideas`` covers ``/api/v1/ideas`` and ``/api/v1/ideas/...`` but never
``/api/v1/ideasX``. The gateway's routing, the body limits and the OpenAPI merge all ask a
:class:`PrefixTable`, so they cannot disagree about which prefix a path belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def validate_prefix(prefix: str) -> str:
    """``prefix`` if it starts with ``/`` and does not end with one (``"/"`` alone is refused)."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"path prefix must start and not end with '/': {prefix!r}")
    return prefix


def covers(prefix: str, path: str) -> bool:
    """Whether ``path`` is ``prefix`` or lies below it (segment-aware)."""
    return path == prefix or path.startswith(prefix + "/")


class PrefixTable(Generic[T]):
    """``prefix → value``; :meth:`match` returns the value of the longest prefix covering a path.

    A lookup walks the path's own segments from the longest candidate down (one dict lookup per
    segment), so its cost does not grow with the number of prefixes.
    """

    def __init__(self, entries: Iterable[tuple[str, T]] = ()) -> None:
        self._values: dict[str, T] = {}
        for prefix, value in entries:
            validate_prefix(prefix)
            if prefix in self._values:
                raise ValueError(f"path prefix {prefix!r} is declared twice")
            self._values[prefix] = value

    def match_prefix(self, path: str) -> tuple[str, T] | None:
        """The longest prefix covering ``path`` and its value, or None."""
        candidate = path
        while candidate:
            if candidate in self._values:
                return candidate, self._values[candidate]
            candidate = candidate.rpartition("/")[0]
        return None

    def match(self, path: str) -> T | None:
        found = self.match_prefix(path)
        return found[1] if found is not None else None

    def longest_first(self) -> list[tuple[str, T]]:
        """The entries, longest prefix first (the order a first-match router must try them in)."""
        return sorted(self._values.items(), key=lambda item: len(item[0]), reverse=True)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(self._values.items())

    def __len__(self) -> int:
        return len(self._values)
