"""Fixtures of the sensors tests: one migrated database, the real app (producer, writer and
partition maintenance running against Kafka and PostgreSQL) and a token per persona."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from kommune.testing.auth import lifespan_client
from kommune.testing.conditions import wait_until
from kommune.testing.infra import CreateDatabase, unique_group
from kommune.testing.service import (
    Db,
    Personas,
    assert_problem,
    migrated_db,
    service_settings_values,
)
from kommune_sensors.main import create_app
from kommune_sensors.settings import SensorsSettings

__all__ = ["ALEMBIC_INI", "DEADLINE_SECONDS", "Api", "assert_problem"]

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
DEADLINE_SECONDS = 30.0


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(create_database: CreateDatabase) -> AsyncIterator[Db]:
    async with migrated_db(create_database, "sensors", ALEMBIC_INI) as database:
        yield database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def settings(
    db: Db, kafka_bootstrap_servers: str, kafka_topic_prefix: str
) -> SensorsSettings:
    values = service_settings_values(
        db.url,
        kafka_bootstrap_servers,
        kafka_topic_prefix,
        consumer_group_prefix=unique_group("sensors-test"),
        max_batch_rows=5000,
        raw_retention_days=30,
    )
    return SensorsSettings.model_validate(values)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(
    settings: SensorsSettings, issuer_transport: httpx.ASGITransport
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, http_transport=issuer_transport)
    async with lifespan_client(app) as client:
        yield client


class Api:
    """Short-hands: a thing with a datastream and a key, readings."""

    def __init__(self, client: httpx.AsyncClient, people: Personas, db: Db) -> None:
        self.client = client
        self.people = people
        self.db = db

    async def thing(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"Zählstelle Grabenstraße {uuid.uuid4().hex[:6]}",
            "district": "Innenstadt",
            "location": {"name": "Grabenstraße", "lat": 48.6783, "lon": 10.1519},
            **overrides,
        }
        response = await self.client.post(
            "/api/v1/sensors/things", json=body, headers=self.people.operator.headers
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def datastream(self, thing_id: int, kind: str = "count") -> dict[str, Any]:
        body = {
            "name": f"Radfahrer stadteinwärts {uuid.uuid4().hex[:6]}",
            "kind": kind,
            "unit": {
                "name": "count",
                "symbol": "{count}",
                "definition": "http://unitsofmeasure.org/ucum.html#para-50",
            },
            "observed_property": {
                "name": "Bicycles",
                "definition": f"https://kommune.heidenheim.de/def/{kind}",
            },
            "sensor": {"name": "Zählkamera", "encoding_type": "text/plain"},
        }
        response = await self.client.post(
            f"/api/v1/sensors/things/{thing_id}/datastreams",
            json=body,
            headers=self.people.operator.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def key(self, thing_id: int) -> str:
        response = await self.client.post(
            f"/api/v1/sensors/things/{thing_id}/keys", headers=self.people.operator.headers
        )
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    async def stored(self, datastream_id: int) -> int:
        return int(
            await self.db.scalar(
                "SELECT count(*) FROM observations WHERE datastream_id = :id", id=datastream_id
            )
        )

    async def wait_stored(self, datastream_id: int, expected: int) -> None:
        async def arrived() -> bool:
            return await self.stored(datastream_id) >= expected

        await wait_until(
            arrived,
            what=f"{expected} readings of datastream {datastream_id}",
            deadline=DEADLINE_SECONDS,
        )


@pytest.fixture
def api(client: httpx.AsyncClient, people: Personas, db: Db) -> Api:
    return Api(client, people, db)
