"""Pytest fixtures for Kommune services: real servers, dev tokens, event contracts, and the
pieces every service suite builds its fixtures from (``kommune.testing.service``)."""
