"""Queries of the service catalogue."""

from __future__ import annotations

from sqlalchemy import select

from kommune.pagination import Ordering, PageRequest, SortKey, fingerprint
from kommune.repository import Repository
from kommune_egov.catalogue.models import EService, ServiceForm

BY_CODE = Ordering("code", (SortKey(EService.code, "str", descending=False),))


class ServiceRepository(Repository[EService]):
    model = EService
    not_found = "No such e-service."

    async def with_current_form(self, code: str) -> tuple[EService, ServiceForm] | None:
        """The service and its current form in one round trip."""
        statement = (
            select(EService, ServiceForm)
            .join(
                ServiceForm,
                (ServiceForm.service_id == EService.id)
                & (ServiceForm.version == EService.form_version),
            )
            .where(EService.code == code)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def by_code(self, code: str) -> EService | None:
        result = await self.session.execute(select(EService).where(EService.code == code))
        return result.scalar_one_or_none()

    async def listed_page(
        self, page: PageRequest, kind: str | None = None
    ) -> tuple[list[EService], str | None]:
        statement = select(EService).where(EService.listed.is_(True))
        if kind is not None:
            statement = statement.where(EService.kind == kind)
        return await self.paginate(statement, BY_CODE, page, filters=fingerprint(kind))

    async def form(self, service: EService, version: int | None = None) -> ServiceForm | None:
        return await self.session.get(
            ServiceForm, (service.id, service.form_version if version is None else version)
        )

    async def add_form(self, form: ServiceForm) -> None:
        self.session.add(form)
        await self.session.flush()
