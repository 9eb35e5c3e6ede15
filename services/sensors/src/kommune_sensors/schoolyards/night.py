"""The night window and the episode rule, free of I/O (so they are tested exhaustively).

An interval (one reading of a schoolyard's device count) is *active* if it lies in the night
window (local time, ``Europe/Berlin`` by default: each instant is converted on its own, so the
nights around the clock changes are as long as the wall clock says) and its count is above the
level. ``intervals`` consecutive active readings start an episode: one alert. The episode ends
with the first reading that is not active, or after a gap longer than ``max_gap`` (the sensor was
silent: nobody can say it went on); then the alert is resolved, and the next run is a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class NightRule:
    start: time
    end: time
    zone: ZoneInfo
    level: float
    intervals: int
    max_gap: timedelta

    def is_night(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.start > self.end:  # across midnight, 22:00-06:00
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def is_active(self, moment: datetime, count: float) -> bool:
        return count > self.level and self.is_night(moment)


@dataclass(slots=True)
class Episodes:
    """The state machine over one datastream's readings in time order."""

    rule: NightRule
    last_at: datetime | None
    run_length: int
    open: bool

    def step(self, moment: datetime, count: float) -> list[str]:
        """What the next reading does: ``[]``, ``["raise"]``, ``["resolve"]`` or both (a gap
        ends one episode and, with ``intervals`` = 1, the reading starts the next)."""
        gap = self.last_at is not None and moment - self.last_at > self.rule.max_gap
        self.last_at = moment
        active = self.rule.is_active(moment, count)
        if gap:
            self.run_length = 0
        self.run_length = self.run_length + 1 if active else 0
        actions: list[str] = []
        if self.open and (gap or not active):
            self.open = False
            actions.append("resolve")
        if not self.open and self.run_length >= self.rule.intervals:
            self.open = True
            actions.append("raise")
        return actions
