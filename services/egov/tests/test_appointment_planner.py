"""Slot planning from opening rules: local wall-clock times across the clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from kommune_egov.appointments.planner import Opening, plan_slots


def starts(openings: list[Opening], minutes: int, first: date, last: date) -> list[datetime]:
    return [slot.starts_at for slot in plan_slots(openings, minutes, first, last)]


def test_slots_keep_the_wall_clock_time_when_the_clocks_change() -> None:
    monday_8 = [Opening(1, time(8), time(8, 20))]
    # 2026-03-29 summer time begins; 2026-10-25 it ends.
    before, after = date(2026, 3, 23), date(2026, 3, 30)
    assert starts(monday_8, 20, before, before) == [datetime(2026, 3, 23, 7, 0, tzinfo=UTC)]
    assert starts(monday_8, 20, after, after) == [datetime(2026, 3, 30, 6, 0, tzinfo=UTC)]
    assert starts(monday_8, 20, date(2026, 10, 26), date(2026, 10, 26)) == [
        datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    ]


def test_no_slot_runs_past_closing_and_openings_are_in_order() -> None:
    openings = [Opening(1, time(14), time(15)), Opening(1, time(8), time(9, 10))]
    planned = list(plan_slots(openings, 20, date(2026, 3, 23), date(2026, 3, 23)))
    local = [(s.starts_at.hour + 1, s.starts_at.minute) for s in planned]  # CET = UTC+1
    assert local == [(8, 0), (8, 20), (8, 40), (14, 0), (14, 20), (14, 40)]
    assert all((s.ends_at - s.starts_at).seconds == 20 * 60 for s in planned)


def test_days_without_opening_hours_have_no_slots() -> None:
    wednesday_only = [Opening(3, time(8), time(12))]
    assert starts(wednesday_only, 30, date(2026, 3, 23), date(2026, 3, 24)) == []
    assert len(starts(wednesday_only, 30, date(2026, 3, 23), date(2026, 3, 29))) == 8
