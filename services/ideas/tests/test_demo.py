"""Demo data survives real use (issue 13): fixed ids, idempotent, concurrent loads create once.

Runs the loader against a database of its own (the other tests' data stays out of it). The
end-to-end version — ``make up``, use through the gateway, restart, ``make down && make up`` — is
``tests/test_local_runtime.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text

from kommune.auth.principal import Principal
from kommune.db import create_engine, create_sessionmaker, transaction
from kommune.demo import DemoLoader, demo_id, load_demo_data
from kommune.migrations import upgrade
from kommune.testing.contracts import check_outbox
from kommune.testing.infra import CreateDatabase
from kommune.testing.service import Db
from kommune_ideas import demo
from kommune_ideas.ideas.schemas import IdeaCreate, IdeaUpdate
from kommune_ideas.ideas.service import IdeaService
from kommune_ideas.settings import IdeasSettings

from .conftest import ALEMBIC_INI

DEMO_IDEA_IDS = {demo_id("ideas", "ideas", idea.key) for idea in demo.IDEAS}
DEMO_FAQ_IDS = {demo_id("ideas", "faq_entries", key) for key, *_ in demo.FAQ}


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(create_database: CreateDatabase) -> AsyncIterator[tuple[IdeasSettings, Db]]:
    url = await create_database("ideas_demo")
    await upgrade(ALEMBIC_INI, url)
    settings = IdeasSettings.model_validate({"KOMMUNE_ENVIRONMENT": "test", "database_url": url})
    engine = create_engine(url, pool_size=2, application_name="ideas-demo-tests")
    try:
        yield settings, Db(url, engine)
    finally:
        await engine.dispose()
    await check_outbox(url)  # what the demo emitted keeps its contracts


async def _load(settings: IdeasSettings) -> DemoLoader:
    return await load_demo_data(settings, demo.load)


async def _demo_ideas(db: Db) -> list[uuid.UUID]:
    rows = await db.rows("SELECT id FROM ideas WHERE id = ANY(:ids)", ids=list(DEMO_IDEA_IDS))
    return [row["id"] for row in rows]


async def test_loading_twice_creates_everything_once(fresh: tuple[IdeasSettings, Db]) -> None:
    settings, db = fresh
    first = await _load(settings)
    assert first.created["ideas"] == len(demo.IDEAS)
    before = await db.counts("ideas", "comments", "meetings", "chronicle_entries", "faq_entries")
    second = await _load(settings)
    assert sum(second.created.values()) == 0
    assert second.kept["ideas"] == len(demo.IDEAS)
    assert await db.counts(*before) == before
    assert sorted(await _demo_ideas(db)) == sorted(DEMO_IDEA_IDS)


async def test_loading_after_people_used_the_platform(fresh: tuple[IdeasSettings, Db]) -> None:
    """Users post ideas with every demo title, edit a demo idea, delete a demo FAQ entry."""
    settings, db = fresh
    await _load(settings)
    author = Principal(sub="ca-someone", roles=frozenset({"change_agent"}), name="Some One")
    department = await db.scalar("SELECT id FROM departments LIMIT 1")
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            ideas = IdeaService(session)
            for item in demo.IDEAS:
                await ideas.create(
                    author,
                    IdeaCreate(
                        title=item.title,
                        problem_statement="Gleicher Titel, andere Idee.",
                        proposed_solution="Eine andere Lösung.",
                        added_value="Ein anderer Nutzen.",
                        description="Von jemand anderem gepostet.",
                        department_id=department,
                    ),
                )
            gremien = demo_id("ideas", "ideas", "gremien")
            await ideas.update(
                Principal(sub="admin", roles=frozenset({"admin"}), name="Admin"),
                gremien,
                IdeaUpdate(title="Ratsinformationssystem einführen"),
            )
    finally:
        await engine.dispose()
    deleted_faq = demo_id("ideas", "faq_entries", "netiquette")
    async with db.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM faq_entries WHERE id = :id"), {"id": deleted_faq}
        )
    ideas_before = await db.scalar("SELECT count(*) FROM ideas")

    loader = await _load(settings)

    assert loader.created == {"faq_entries": 1}, loader.summary()  # the deleted one came back
    assert await db.scalar("SELECT count(*) FROM ideas") == ideas_before
    assert sorted(await _demo_ideas(db)) == sorted(DEMO_IDEA_IDS)
    title = await db.scalar("SELECT title FROM ideas WHERE id = :id", id=gremien)
    assert title == "Ratsinformationssystem einführen"  # the user's edit is kept
    for item in demo.IDEAS:  # each demo title: the demo idea and the user's
        assert await db.scalar("SELECT count(*) FROM ideas WHERE title = :t", t=item.title) == (
            1 if item.key == "gremien" else 2
        )
    faq = await db.rows("SELECT id FROM faq_entries WHERE id = ANY(:ids)", ids=list(DEMO_FAQ_IDS))
    assert len(faq) == len(demo.FAQ)


async def test_concurrent_loads_create_each_record_once(
    create_database: CreateDatabase,
) -> None:
    url = await create_database("ideas_demo_race")
    await upgrade(ALEMBIC_INI, url)
    settings = IdeasSettings.model_validate({"KOMMUNE_ENVIRONMENT": "test", "database_url": url})
    one, two = await asyncio.gather(_load(settings), _load(settings))
    assert one.created["ideas"] + two.created["ideas"] == len(demo.IDEAS)
    engine = create_engine(url, pool_size=1)
    try:
        db = Db(url, engine)
        assert await db.scalar("SELECT count(*) FROM ideas") == len(demo.IDEAS)
        assert await db.scalar("SELECT count(*) FROM meetings") == 2
    finally:
        await engine.dispose()
    await check_outbox(url)
