"""Alerts: a waste container above its threshold, once per episode, on sensors.alert.v1."""
