"""Pytest fixtures for Kommune services: real servers, dev tokens, event contracts."""
