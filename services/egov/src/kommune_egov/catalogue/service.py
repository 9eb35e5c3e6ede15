"""Catalogue rules: the public reads, and validation of application data against a form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import SchemaError
from sqlalchemy.ext.asyncio import AsyncSession

from kommune.auth.principal import Principal
from kommune.clock import utc_now
from kommune.errors import InvalidInput, NotFound
from kommune.pagination import PageRequest
from kommune_egov.access import Permission, require
from kommune_egov.catalogue.forms import DRAFT, FORM_ID_BASE
from kommune_egov.catalogue.models import EService, ServiceForm
from kommune_egov.catalogue.repository import ServiceRepository
from kommune_egov.catalogue.validation import check_form_data, check_schema


@dataclass(frozen=True, slots=True)
class CurrentForm:
    service: EService
    form: ServiceForm


class CatalogueService:
    def __init__(self, session: AsyncSession) -> None:
        self.services = ServiceRepository(session)

    async def browse(
        self, page: PageRequest, kind: str | None = None
    ) -> tuple[list[EService], str | None]:
        return await self.services.listed_page(page, kind)

    async def current(self, code: str, *, include_unlisted: bool = False) -> CurrentForm:
        """The service with its current form; 404 for an unknown (or, to the public, unlisted)
        code."""
        found = await self.services.with_current_form(code)
        if found is None or not (found[0].listed or include_unlisted):
            raise NotFound("No such e-service.")
        return CurrentForm(*found)

    def check(self, current: CurrentForm, data: dict[str, Any]) -> None:
        """422 naming every field of ``data`` the current form refuses."""
        check_form_data(current.form.schema, data, (current.form.service_id, current.form.version))

    async def publish_form(
        self, editor: Principal, code: str, schema: dict[str, Any]
    ) -> CurrentForm:
        """Store ``schema`` as the service's next form version and make it current.

        The schema must be a draft 2020-12 object schema with ``properties``; ``$schema`` and
        the versioned ``$id`` are set here. Applications already submitted keep the version they
        were validated against.
        """
        require(editor, Permission.MANAGE_CATALOGUE)
        current = await self.current(code, include_unlisted=True)
        service = await self.services.get(current.service.id, for_update=True)
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            raise InvalidInput(
                "A form is an object schema with properties.",
                field="form",
                errors=[
                    {
                        "loc": ["body", "form"],
                        "msg": "Needs type object and properties.",
                        "type": "value_error",
                    }
                ],
            )
        version = service.form_version + 1
        stored = {
            **schema,
            "$schema": DRAFT,
            "$id": f"{FORM_ID_BASE}/{service.code}/v{version}.json",
        }
        try:
            check_schema(stored)
        except SchemaError as error:
            raise InvalidInput(
                "The form is not a valid JSON Schema (draft 2020-12).",
                errors=[
                    {
                        "loc": ["body", "form", *map(str, error.absolute_path)][:20],
                        "msg": "Invalid schema keyword.",
                        "type": "schema_error",
                    }
                ],
            ) from None
        now = utc_now()
        form = ServiceForm(service_id=service.id, version=version, schema=stored, created_at=now)
        await self.services.add_form(form)
        service.form_version = version
        service.updated_at = now
        return CurrentForm(service, form)
