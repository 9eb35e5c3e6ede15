"""REST contracts of the service catalogue."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kommune.schemas import InputModel, OutputModel
from kommune_egov.catalogue.definitions import ServiceKind
from kommune_egov.catalogue.models import EService


class DepartmentOut(OutputModel):
    code: str
    name: str


class FeeOut(OutputModel):
    amount_cents: int | None = Field(description="Fixed fee in euro cents; null when it varies.")
    currency: str = "EUR"
    note: str | None = Field(description="How the fee is computed, in German.")


class AttachmentOut(OutputModel):
    code: str
    name: str = Field(description="German name of the document.")
    name_en: str
    required: bool


class ServiceOut(OutputModel):
    """An e-service as the catalogue lists it (German ``name``/``description``, plus English)."""

    id: str
    code: str = Field(description="Stable key (also the Open311 service_code of damage reports).")
    kind: ServiceKind
    name: str
    name_en: str
    description: str
    description_en: str
    leika_key: str | None = Field(description="Key in the federal Leistungskatalog (LeiKa).")
    department: DepartmentOut
    fee: FeeOut | None = Field(description="null: free of charge.")
    processing_days: int = Field(description="Expected processing time in working days.")
    required_attachments: list[AttachmentOut]
    needs_location: bool = Field(description="The application is about a place (damage reports).")
    keywords: list[str]
    form_version: int

    @classmethod
    def of(cls, service: EService) -> ServiceOut:
        fee = (
            None
            if service.fee_cents is None and service.fee_note is None
            else FeeOut(amount_cents=service.fee_cents, note=service.fee_note)
        )
        return cls(
            id=str(service.id),
            code=service.code,
            kind=ServiceKind(service.kind),
            name=service.name_de,
            name_en=service.name_en,
            description=service.description_de,
            description_en=service.description_en,
            leika_key=service.leika_key,
            department=DepartmentOut(code=service.department, name=service.department_name),
            fee=fee,
            processing_days=service.processing_days,
            required_attachments=[
                AttachmentOut(
                    code=a["code"], name=a["name_de"], name_en=a["name_en"], required=a["required"]
                )
                for a in service.required_attachments
            ],
            needs_location=service.needs_location,
            keywords=list(service.keywords),
            form_version=service.form_version,
        )


class ServiceDetailOut(ServiceOut):
    form: dict[str, Any] = Field(
        description=(
            "JSON Schema (draft 2020-12) of the application's `data`, version `form_version` "
            "(its `$id` ends in `/v<version>.json`)."
        )
    )


class FormPublish(InputModel):
    form: dict[str, Any] = Field(
        description=(
            "The new form: a JSON Schema (draft 2020-12) of type object with properties; its "
            "`$schema` and `$id` are set by the service."
        ),
        json_schema_extra={"maxProperties": 20},
    )
