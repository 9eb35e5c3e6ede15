"""Schoolyards: devices present at night above a level for N intervals, one alert per episode."""
