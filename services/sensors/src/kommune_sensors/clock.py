"""Now" for the sensors service (one place, so tests and jobs agree)."""

from kommune.clock import utc_now

__all__ = ["utc_now"]
