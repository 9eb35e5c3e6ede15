"""What an Open311 client sends: the form of ``POST requests`` and the filters of ``GET requests``.

Both are parsed here into typed values; every refusal names its field and becomes one entry of
the spec's error list (400). Text goes through the platform's rules (no control characters,
NFC), so what reaches the database is storable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from kommune.schemas import Text
from kommune_egov.open311.errors import Open311Error

MAX_DESCRIPTION = 4000
"""The spec's limit for ``description``."""
MAX_SEARCH_DAYS = 90
DEFAULT_PAGE_SIZE = 1000
"""The spec's default query limit (at most 1000 requests)."""
MAX_IDS = 100

JURISDICTION_ID = "heidenheim.de"
"""The one jurisdiction this endpoint serves (the city's web domain, as the spec suggests)."""


def _http_url(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")) or " " in value:
        raise ValueError("must be an http(s) URL.")
    return value


Name = Annotated[str, Text(1, 100)]
MediaUrl = Annotated[str, Text(10, 2000), AfterValidator(_http_url)]
Email = Annotated[
    str,
    Text(3, 254),
    Field(pattern=r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"),
]
Phone = Annotated[str, Text(3, 50), Field(pattern=r"^\+?[0-9 ()/.-]{3,50}$")]
Identifier = Annotated[str, Text(1, 200)]
Description = Annotated[str, Text(1, MAX_DESCRIPTION, multi_line=True)]
AddressText = Annotated[str, Text(3, 500)]
AddressId = Annotated[str, Text(1, 100)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
ServiceCode = Annotated[str, Text(1, 60), Field(pattern=r"^[a-z0-9_]+$")]


class ReportForm(BaseModel):
    """The standard fields of ``POST requests`` (attributes and ``media`` are parsed apart)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: ServiceCode
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: AddressText | None = None
    address_id: AddressId | None = None
    email: Email | None = None
    device_id: Identifier | None = None
    account_id: Identifier | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    description: Description | None = None
    media_url: MediaUrl | None = None

    @model_validator(mode="after")
    def _a_full_location(self) -> ReportForm:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long must be sent together.")
        if self.lat is None and self.address_string is None and self.address_id is None:
            raise ValueError("A location is required: lat and long, address_string or address_id.")
        return self


def describe(error: ValidationError) -> list[str]:
    """One line per refused field, without echoing the value."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{loc}: {message}" if loc else message)
    return lines


def parse_report(fields: Mapping[str, str]) -> ReportForm:
    """The form's standard fields (empty values count as absent, as the spec says)."""
    given = {key: value for key, value in fields.items() if value != ""}
    try:
        return ReportForm.model_validate(given)
    except ValidationError as error:
        raise Open311Error(400, *describe(error)) from None


# ---- GET requests ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestFilters:
    ids: list[int] | None
    service_codes: list[str] | None
    start: datetime
    end: datetime
    statuses: list[str] | None
    page: int
    page_size: int


def _listed(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [part.strip() for part in value.split(",") if part.strip()]
    return items or None


def _w3_datetime(name: str, value: str | None) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name}: use the w3 format, e.g. 2010-01-01T00:00:00Z.") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name}: a timezone (Z or +HH:MM) is required.")
    if not 2000 <= parsed.year <= 2100:
        raise Open311Error(400, f"{name}: must lie in the years 2000 to 2100.")
    return parsed.astimezone(UTC)


def _positive(name: str, value: str | None, default: int, maximum: int) -> int:
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit() or not 1 <= int(value) <= maximum:
        raise Open311Error(400, f"{name}: a whole number from 1 to {maximum}.")
    return int(value)


def parse_filters(query: Mapping[str, str], now: datetime) -> RequestFilters:
    errors: list[str] = []
    raw_ids = _listed(query.get("service_request_id"))
    ids: list[int] | None = None
    if raw_ids is not None:
        if len(raw_ids) > MAX_IDS or not all(i.isdigit() and len(i) <= 18 for i in raw_ids):
            errors.append(f"service_request_id: up to {MAX_IDS} numeric ids, comma-separated.")
        else:
            ids = [int(i) for i in raw_ids]
    codes = _listed(query.get("service_code"))
    if codes is not None and (
        len(codes) > MAX_IDS or not all(len(c) <= 60 and c.isascii() for c in codes)
    ):
        errors.append("service_code: unknown service codes.")
    statuses = _listed(query.get("status"))
    if statuses is not None and not set(statuses) <= {"open", "closed"}:
        errors.append("status: open, closed or both (comma-separated).")
    start = _w3_datetime("start_date", query.get("start_date"))
    end = _w3_datetime("end_date", query.get("end_date"))
    window = timedelta(days=MAX_SEARCH_DAYS)
    if start is None and end is None:
        start, end = now - window, now
    elif start is None:
        assert end is not None
        start = end - window
    elif end is None:
        end = start + window
    if end < start:
        errors.append("end_date: must not be before start_date.")
    elif end - start > window:
        errors.append(f"start_date, end_date: may not span more than {MAX_SEARCH_DAYS} days.")
    page = _positive("page", query.get("page"), 1, 10_000)
    page_size = _positive("page_size", query.get("page_size"), DEFAULT_PAGE_SIZE, 1000)
    if errors:
        raise Open311Error(400, *errors)
    return RequestFilters(ids, codes, start, end, statuses, page, page_size)


def check_jurisdiction(value: str | None) -> None:
    """Optional (one jurisdiction); a different one is 404, as the spec says."""
    if value is not None and value.strip() and value.strip().lower() != JURISDICTION_ID:
        raise Open311Error(404, "jurisdiction_id not found: this endpoint serves heidenheim.de.")


def form_fields(form: Sequence[tuple[str, Any]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Split a form into its single-valued standard fields and its ``attribute[CODE]`` values
    (``attribute[CODE][]`` repeated for a multivaluelist). Files are left to the caller."""
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    duplicates: set[str] = set()
    for key, value in form:
        if not isinstance(value, str):
            continue
        if key.startswith("attribute[") and "]" in key:
            code = key[len("attribute[") : key.index("]")]
            attributes.setdefault(code, []).append(value)
            continue
        if key in fields:
            duplicates.add(key)
        fields[key] = value
    if duplicates:
        raise Open311Error(400, *(f"{key}: sent more than once." for key in sorted(duplicates)))
    return fields, attributes
