"""Demo data: every case created once through the service layer, idempotent, contract-valid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from kommune.db import create_engine
from kommune.demo import demo_id, load_demo_data
from kommune.migrations import upgrade
from kommune.testing.contracts import check_outbox
from kommune.testing.infra import CreateDatabase
from kommune.testing.service import Db
from kommune_egov import demo
from kommune_egov.settings import EgovSettings

from .conftest import ALEMBIC_INI

DEMO_IDS = [demo_id("egov", "applications", case.key) for case in demo.CASES]


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(create_database: CreateDatabase) -> AsyncIterator[tuple[EgovSettings, Db]]:
    url = await create_database("egov_demo")
    await upgrade(ALEMBIC_INI, url)
    settings = EgovSettings.model_validate({"KOMMUNE_ENVIRONMENT": "test", "database_url": url})
    engine = create_engine(url, pool_size=2, application_name="egov-demo-tests")
    try:
        yield settings, Db(url, engine)
    finally:
        await engine.dispose()
    await check_outbox(url)  # what the demo emitted keeps its contracts


async def test_loading_twice_and_concurrently_creates_each_case_once(
    fresh: tuple[EgovSettings, Db],
) -> None:
    settings, db = fresh
    first, second = await asyncio.gather(
        load_demo_data(settings, demo.load), load_demo_data(settings, demo.load)
    )
    assert first.created["applications"] + second.created["applications"] == len(demo.CASES)
    again = await load_demo_data(settings, demo.load)
    assert again.created["applications"] == 0
    assert again.kept["applications"] == len(demo.CASES)
    rows = await db.rows(
        "SELECT id, status, service_code FROM applications WHERE id = ANY(:ids)", ids=DEMO_IDS
    )
    statuses = {row["service_code"]: row["status"] for row in rows}
    assert statuses == {
        "dog_registration": "completed",
        "resident_parking_permit": "acknowledged",
        "pothole": "acknowledged",
        "illegal_dumping": "needs_info",
        "kindergarten_place": "submitted",
    }
    # The tax notice reached Max's mailbox with the approval.
    assert (
        await db.scalar(
            "SELECT count(*) FROM mailbox_messages WHERE recipient_sub = 'cit-max.mustermann'"
            " AND attachment_id IS NOT NULL"
        )
        == 1
    )
    assert await db.scalar("SELECT count(*) FROM services") > 10
