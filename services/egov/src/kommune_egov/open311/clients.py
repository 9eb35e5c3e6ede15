"""Client apps of the Open311 API: registering (the key is shown once), listing, revoking."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import Conflict
from kommune.pagination import Ordering, PageRequest, SortKey
from kommune.repository import Repository
from kommune_egov.access import Permission, require
from kommune_egov.open311.api_keys import register_client
from kommune_egov.open311.models import Open311Client

BY_CREATION = Ordering(
    "created",
    (
        SortKey(Open311Client.created_at, "datetime", descending=False),
        SortKey(Open311Client.id, "uuid", descending=False),
    ),
)


class ClientRepository(Repository[Open311Client]):
    model = Open311Client
    not_found = "No such client app."

    async def page(self, page: PageRequest) -> tuple[list[Open311Client], str | None]:
        return await self.paginate(select(Open311Client), BY_CREATION, page)


class ClientAppService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.clients = ClientRepository(session)

    async def register(self, admin: Principal, name: str) -> tuple[Open311Client, str]:
        """The new app and its key: the key is never stored or shown again (SHA-256 only)."""
        require(admin, Permission.MANAGE_OPEN311_CLIENTS)
        return await register_client(self.session, name, admin.sub)

    async def browse(
        self, admin: Principal, page: PageRequest
    ) -> tuple[list[Open311Client], str | None]:
        require(admin, Permission.MANAGE_OPEN311_CLIENTS)
        return await self.clients.page(page)

    async def revoke(self, admin: Principal, client_id: uuid.UUID) -> Open311Client:
        """From now on the key is refused (403); the app's reports stay."""
        require(admin, Permission.MANAGE_OPEN311_CLIENTS)
        client = await self.clients.get(client_id, for_update=True)
        if client.revoked_at is not None:
            raise Conflict("This key is revoked already.")
        client.revoked_at = utc_now()
        await self.session.flush()
        return client
