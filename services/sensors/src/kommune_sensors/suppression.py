"""Small counts are not published: the one rule, used by the social map and the open data.

A published count of 1 or 2 could point at a person (the one neighbour who asked for help in
Oggenhausen this month); so a cell counting fewer than :data:`MINIMUM` contributors is shown as
suppressed (``null``). Zero stays zero: it describes nobody. Cells are only ever published for
fixed periods (whole hours, days, months), never for ranges a caller chooses, so two overlapping
answers cannot be subtracted to reveal a suppressed cell.
"""

from __future__ import annotations

MINIMUM = 3


def suppressed(count: float) -> bool:
    return 0 < count < MINIMUM


def publishable(count: float) -> float | None:
    """``count``, or ``None`` when it is too small to publish."""
    return None if suppressed(count) else count
