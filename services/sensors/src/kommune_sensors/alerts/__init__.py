"""Alerts on sensors.alert.v1: a waste container above its threshold, a schoolyard busy at
night; once per episode, resolved when it ends."""
