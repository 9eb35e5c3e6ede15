"""Application data against a form: the ``jsonschema`` library (draft 2020-12, formats checked).

Every error names its field as a JSON pointer-like ``loc`` (``["data", "owner", "first_name"]``)
so a form can show it next to the field; nothing of the data is echoed back.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from kommune.errors import InvalidInput

FORMATS = FormatChecker(formats=("date", "email"))
"""The formats the forms use; both are checked without optional dependencies."""
MAX_ERRORS = 50


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FORMATS)


@lru_cache(maxsize=256)
def _cached(schema_json: str) -> Draft202012Validator:
    return _validator(json.loads(schema_json))


_BY_VERSION: dict[tuple[object, int], Draft202012Validator] = {}
"""Validators of stored form versions (a version never changes), by (service id, version)."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raise if ``schema`` is not a valid draft 2020-12 schema (forms are checked at sync)."""
    Draft202012Validator.check_schema(schema)


def _message(error: ValidationError) -> str:
    """A message that does not repeat the caller's value (which may be long or personal)."""
    validator = error.validator
    if validator == "required":
        return "This field is required."
    if validator == "additionalProperties":
        return "Unknown field."
    if validator in ("oneOf", "enum", "const"):
        return "Not one of the allowed values."
    if validator == "format":
        return f"Not a valid {error.validator_value}."
    if validator == "type":
        return f"Must be of type {error.validator_value}."
    if validator == "pattern":
        return "Does not have the required format."
    if validator in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        return f"Violates {validator} {error.validator_value}."
    if validator == "uniqueItems":
        return "Values must not repeat."
    return "Invalid value."


def _location(error: ValidationError) -> list[str | int]:
    path: list[str | int] = ["data", *error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path.append(missing[0])
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        if extra:
            path.append(extra[0][:100])
    return path


def form_errors(
    schema: dict[str, Any], data: Any, version: tuple[object, int] | None = None
) -> list[dict[str, Any]]:
    """Every error of ``data`` against ``schema``; ``version`` (service id, form version) keys
    the compiled validator of a stored form."""
    validator = _BY_VERSION.get(version) if version is not None else None
    if validator is None:
        validator = _cached(json.dumps(schema, sort_keys=True))
        if version is not None and len(_BY_VERSION) < 1024:
            _BY_VERSION[version] = validator
    errors: list[dict[str, Any]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    loc = ["data", *error.absolute_path, name]
                    errors.append({"loc": loc, "msg": "This field is required.", "type": "missing"})
            continue
        errors.append(
            {"loc": _location(error), "msg": _message(error), "type": str(error.validator)}
        )
        if len(errors) >= MAX_ERRORS:
            break
    return errors


def check_form_data(
    schema: dict[str, Any], data: Any, version: tuple[object, int] | None = None
) -> None:
    """422 with ``errors[]`` (``loc``, ``msg``, ``type``) naming each wrong field."""
    errors = form_errors(schema, data, version)
    if errors:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "data" for e in errors[:10])
        raise InvalidInput(f"The form data is not valid: {fields}.", errors=errors)
