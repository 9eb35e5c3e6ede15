"""Settings of the documents service (environment prefix ``DOCUMENTS_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kommune.settings import ServiceSettings

MB = 1024 * 1024


def _given(value: str | SecretStr | None) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value and value.strip())


class DocumentsSettings(ServiceSettings):
    """``DOCUMENTS_DATABASE_URL``, ``DOCUMENTS_STORAGE_PATH``, ``DOCUMENTS_MAX_UPLOAD_BYTES`` …"""

    model_config = SettingsConfigDict(env_prefix="DOCUMENTS_", extra="ignore")

    service_name: str = "documents"
    database_url: str = "postgresql+asyncpg://kommune:kommune@127.0.0.1:15432/documents"
    consumer_group_prefix: str = Field(
        default="documents",
        min_length=1,
        max_length=100,
        description="Prefix of the Kafka consumer groups of this service (one group per handler).",
    )
    storage_path: Path = Field(
        default=Path(".run/documents/content"),
        description="Root of the content-addressed store (one write-once file per SHA-256); the "
        "default, relative to the working directory, is in the local runtime's .run/ folder. With "
        "the S3 backend only its tmp/ folder is used (uploads are staged there while hashed).",
    )
    storage_backend: Literal["filesystem", "s3"] = Field(
        default="filesystem",
        description="Where content is stored: the filesystem under storage_path, or an "
        "S3-compatible object store (then the s3_* settings are required).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=300,
        description="The S3 endpoint (e.g. MinIO or Ceph); unset = AWS for s3_region.",
    )
    s3_bucket: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="The bucket (created beforehand; the service never creates it).",
    )
    s3_region: str = Field(default="eu-central-1", pattern=r"^[a-z0-9-]{1,40}$")
    s3_prefix: str = Field(
        default="content/",
        pattern=r"^([A-Za-z0-9_-][A-Za-z0-9._-]*/)*$",
        max_length=200,
        description="Key prefix: objects are <prefix><aa>/<bb>/<sha256>.",
    )
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="`path` for most self-hosted stores (MinIO)."
    )
    s3_part_bytes: int = Field(
        default=16 * MB,
        ge=5 * MB,
        le=512 * MB,
        description="Content larger than this is uploaded in parts of this size (multipart).",
    )
    max_upload_bytes: int = Field(
        default=512 * MB,
        ge=1024,
        le=16 * 1024 * MB,
        description="Largest document version accepted; a larger upload is 413 and leaves nothing.",
    )
    max_extract_bytes: int = Field(
        default=50 * MB,
        ge=0,
        description="Text is extracted from content up to this size (larger files are stored, "
        "not indexed).",
    )
    egov_application_topic: str = Field(
        default="egov.application.v1",
        pattern=r"^[a-zA-Z0-9._-]{1,249}$",
        description="Where egov announces submitted applications (tests use a topic of their own).",
    )
    egov_plan_code: str = Field(
        default="0.4.1",
        min_length=1,
        max_length=40,
        description="Plan unit (code) under which applications from the citizen portal are filed.",
    )

    invoice_plan_code: str = Field(
        default="9.2.1",
        min_length=1,
        max_length=40,
        description="Plan unit (code) of the yearly invoice file (Eingangsrechnungen).",
    )
    invoice_department: str = Field(
        default="kaemmerei",
        min_length=1,
        max_length=40,
        description="Department owning the invoice files (the treasury).",
    )
    max_invoice_bytes: int = Field(
        default=10 * MB, ge=1024, le=100 * MB, description="Largest e-invoice XML accepted."
    )

    ocr_max_pages: int = Field(
        default=20,
        ge=1,
        le=500,
        description="Pages (TIFF frames) of one scan read by OCR at most; later ones are "
        "not indexed.",
    )
    ocr_page_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="Time Tesseract (and the PDF renderer) may take for one page; over it the "
        "scan's OCR fails for good (ocr_failed, reason timeout).",
    )
    ocr_total_timeout_seconds: float = Field(
        default=240.0,
        gt=0,
        le=280,
        description="Time one scan may take in all (below the Kafka consumer's 300 s poll "
        "interval); later pages stay unindexed.",
    )
    ocr_dpi: int = Field(
        default=300, ge=72, le=600, description="Resolution PDF pages are rendered at for OCR."
    )

    @model_validator(mode="after")
    def _s3_is_complete(self) -> Self:
        """Fails closed: the S3 backend without its bucket or credentials does not start (and
        never falls back to the filesystem)."""
        if self.storage_backend == "s3":
            missing = [
                f"DOCUMENTS_{name.upper()}"
                for name in ("s3_bucket", "s3_access_key_id", "s3_secret_access_key")
                if not _given(getattr(self, name))
            ]
            if missing:
                raise ValueError(
                    "DOCUMENTS_STORAGE_BACKEND=s3 needs " + ", ".join(missing) + " to be set."
                )
        return self

    @property
    def upload_body_limit(self) -> int:
        """The request body limit of upload routes: the content plus room for the form parts."""
        return self.max_upload_bytes + 64 * 1024
