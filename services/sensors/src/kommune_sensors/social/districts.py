"""Heidenheim an der Brenz's districts, as the social map counts by them.

The names are the city's own (Stadtteile). ``Mitte`` is accepted for ``Innenstadt`` and plain
``ss`` for ``ß``: staff type what they know, the map keys one canonical name.
"""

from __future__ import annotations

DISTRICTS: tuple[str, ...] = (
    "Innenstadt",
    "Schnaitheim",
    "Mergelstetten",
    "Oggenhausen",
    "Großkuchen",
    "Aufhausen",
    "Reutenen",
    "Voithsiedlung",
    "Zanger Berg",
    "Osterholz",
)

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
