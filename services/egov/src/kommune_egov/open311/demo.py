"""Demo client app of the Open311 API (dev and test only): its key is ``kommune-dev-open311``.

The key is public (README), so it is registered only where the environment is ``dev`` or
``test``; a production database never gets it, whoever runs the demo loader there.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kommune.demo import DemoLoader
from kommune.settings import ServiceSettings
from kommune_egov.open311.api_keys import register_client
from kommune_egov.open311.models import Open311Client

DEV_API_KEY = "kommune-dev-open311"
DEMO_CREATOR = "demo-loader"


async def load_open311_demo(loader: DemoLoader, settings: ServiceSettings) -> None:
    if not settings.is_dev_or_test:
        return

    async def create(session: AsyncSession, record_id: uuid.UUID) -> None:
        await register_client(
            session, "Mängelmelder (Demo-App)", DEMO_CREATOR, key=DEV_API_KEY, client_id=record_id
        )

    await loader.ensure(Open311Client, "demo-app", create)
