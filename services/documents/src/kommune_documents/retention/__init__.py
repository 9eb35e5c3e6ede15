"""Retention and disposal: due dates, legal holds, archive runs (xdomea 0501/0502/0503/0506)."""
