"""Demo data for ``make up``: ``python -m kommune_egov.demo`` (uses ``EGOV_DATABASE_URL``).

Appointment locations with four weeks of slots, and (dev and test only) the Open311 demo client
app whose key is ``kommune-dev-open311``. Every demo record has a fixed id
(:class:`kommune.demo.DemoLoader`): loading is idempotent whatever users did meanwhile.
``--no-migrate`` skips ``alembic upgrade head``.
"""

from __future__ import annotations

from kommune.demo import DemoLoader, run_demo
from kommune_egov.appointments.demo import load_appointments_demo
from kommune_egov.open311.demo import load_open311_demo
from kommune_egov.settings import EgovSettings


async def load(loader: DemoLoader, settings: EgovSettings | None = None) -> None:
    """``settings`` default to the environment's (what ``run_demo`` loads from)."""
    await load_appointments_demo(loader)
    await load_open311_demo(loader, settings or EgovSettings())


if __name__ == "__main__":
    run_demo(EgovSettings, load, __file__)
