"""The service's clock is the platform's (:mod:`kommune.clock`); re-exported for the models."""

from kommune.clock import utc_now

__all__ = ["utc_now"]
