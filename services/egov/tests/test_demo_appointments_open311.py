"""Demo data of appointments and Open311: idempotent, and the public dev key only in dev/test."""

from __future__ import annotations

from functools import partial

import httpx

from kommune.demo import demo_loader, load_demo_data
from kommune.settings import Environment
from kommune_egov.demo import load
from kommune_egov.open311.demo import DEV_API_KEY, load_open311_demo
from kommune_egov.settings import EgovSettings

from .conftest import Db


async def test_demo_loads_once_and_the_dev_key_works(
    client: httpx.AsyncClient, settings: EgovSettings, db: Db
) -> None:
    await load_demo_data(settings, partial(load, settings=settings))
    counts = await db.counts("appointment_locations", "appointment_slots", "open311_clients")
    again = await load_demo_data(settings, partial(load, settings=settings))
    assert await db.counts("appointment_locations", "appointment_slots", "open311_clients") == (
        counts
    )
    assert sum(again.created.values()) == 0
    demo_locations = await db.scalar(
        "SELECT count(*) FROM appointment_locations WHERE code LIKE 'buergerbuero-%'"
    )
    assert demo_locations == 2
    slots = await client.get(
        "/api/v1/appointments/slots", params={"location": "buergerbuero-rathaus", "limit": 5}
    )
    assert slots.status_code == 200
    assert slots.json()["items"], "the demo plans slots for the next four weeks"
    response = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": DEV_API_KEY,
            "service_code": "overflowing_bin",
            "address_string": "Eugen-Jaekle-Platz, 89522 Heidenheim",
            "attribute[bin_type]": "litter_bin",
        },
    )
    assert response.status_code == 201, response.text


async def test_the_public_dev_key_is_never_registered_in_production(settings: EgovSettings) -> None:
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    assert not production.is_dev_or_test
    async with demo_loader(production) as loader:
        await load_open311_demo(loader, production)
    assert sum(loader.created.values()) + sum(loader.kept.values()) == 0
