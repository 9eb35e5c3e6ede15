"""Waste containers: fill level, fill rate since the last emptying, prediction, collection plan."""
