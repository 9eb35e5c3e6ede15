"""Frequently asked questions about the digitalisation process."""
