"""Heidenheim an der Brenz's districts: one list for the social map and the demo simulator.

The names are the city's own (Stadtteile). ``Mitte`` is accepted for ``Innenstadt`` and plain
``ss`` for ``ß``: staff type what they know, the map keys one canonical name.
"""

from __future__ import annotations

CENTRES: dict[str, tuple[float, float]] = {
    "Innenstadt": (48.6766, 10.1536),
    "Schnaitheim": (48.7016, 10.1713),
    "Mergelstetten": (48.6555, 10.1675),
    "Oggenhausen": (48.6476, 10.2477),
    "Großkuchen": (48.7363, 10.2312),
    "Aufhausen": (48.7198, 10.1506),
    "Reutenen": (48.6668, 10.1372),
    "Voithsiedlung": (48.6927, 10.1457),
    "Zanger Berg": (48.6724, 10.1791),
    "Osterholz": (48.6612, 10.1822),
}
"""Each district's approximate centre (latitude, longitude): where the simulator puts things."""

DISTRICTS: tuple[str, ...] = tuple(CENTRES)

_ALIASES = {
    "mitte": "Innenstadt",
    "innenstadt/mitte": "Innenstadt",
    "mitte/innenstadt": "Innenstadt",
}
_BY_KEY = {name.casefold().replace("ß", "ss"): name for name in DISTRICTS}


def canonical(name: str) -> str | None:
    """The district's canonical name, or ``None`` if it is not one of Heidenheim's."""
    key = " ".join(name.split()).casefold()
    return _ALIASES.get(key) or _BY_KEY.get(key.replace("ß", "ss"))
