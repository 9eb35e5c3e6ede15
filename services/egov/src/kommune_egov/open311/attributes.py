"""A damage report's form (JSON Schema) seen as Open311 attributes, and back.

The catalogue's forms are the one source (``kommune_egov.catalogue.forms``): each property is an
attribute, in the form's order. ``oneOf`` of ``const`` + ``title`` is a ``singlevaluelist``
(``key`` = value, ``name`` = German title), an array of those a ``multivaluelist``, integers and
numbers are ``number``, multi-line text is ``text``, a date ``datetime``, other strings ``string``.
The property ``description`` is the request's own ``description`` field, not an attribute.

Going back, ``attribute[CODE]`` values (always text in a form) become the JSON types the form
expects, so the application's data is validated by the catalogue's validator like any other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DESCRIPTION_PROPERTY = "description"
"""The form property that carries the Open311 ``description``."""


@dataclass(frozen=True, slots=True)
class Attribute:
    code: str
    datatype: str
    required: bool
    description: str
    datatype_description: str | None
    order: int
    values: list[tuple[str, str]]

    def as_spec(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": self.order,
            "description": self.description,
        }
        if self.values:
            body["values"] = [{"key": key, "name": name} for key, name in self.values]
        return body


def _options(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(option["const"]), str(option.get("title", option["const"])))
        for option in schema.get("oneOf", ())
        if "const" in option
    ]


def _datatype(schema: Mapping[str, Any]) -> tuple[str, str | None, list[tuple[str, str]]]:
    kind = schema.get("type")
    if kind == "array":
        return "multivaluelist", None, _options(schema.get("items", {}))
    if "oneOf" in schema:
        return "singlevaluelist", None, _options(schema)
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return "number", f"Ganze Zahl von {low} bis {high}", []
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return "number", f"Zahl von {low} bis {high}", []
    if schema.get("format") in ("date", "date-time"):
        return "datetime", "Datum nach ISO 8601, z. B. 2026-03-02", []
    if schema.get("x-multiline"):
        return "text", None, []
    return "string", None, []


def attributes_of(form: Mapping[str, Any]) -> list[Attribute]:
    required = set(form.get("required", ()))
    found: list[Attribute] = []
    for code, schema in form.get("properties", {}).items():
        if code == DESCRIPTION_PROPERTY:
            continue
        datatype, datatype_description, values = _datatype(schema)
        text = str(schema.get("title", code))
        if schema.get("description"):
            text = f"{text}: {schema['description']}"
        found.append(
            Attribute(
                code=code,
                datatype=datatype,
                required=code in required,
                description=text,
                datatype_description=datatype_description,
                order=len(found) + 1,
                values=values,
            )
        )
    return found


class AttributeValueError(ValueError):
    """An attribute value that cannot be what the form expects (named, never echoed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"attribute[{code}]: {message}")


def _number(code: str, raw: str, integer: bool) -> int | float:
    try:
        value = float(raw.replace(",", ".")) if not integer else int(raw)
    except ValueError:
        expected = "a whole number" if integer else "a number"
        raise AttributeValueError(code, f"must be {expected}.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise AttributeValueError(code, "must be a finite number.")
    return value


def form_data(
    form: Mapping[str, Any], sent: Mapping[str, Sequence[str]], description: str | None
) -> dict[str, Any]:
    """The application's ``data`` from ``attribute[CODE]`` values (and the description).

    Unknown codes are an error (the form does not take them); type and range checks beyond the
    conversion are left to the form's validator.
    """
    properties: Mapping[str, Any] = form.get("properties", {})
    data: dict[str, Any] = {}
    for code, values in sent.items():
        schema = properties.get(code)
        if schema is None or code == DESCRIPTION_PROPERTY:
            raise AttributeValueError(code, "this service has no such attribute.")
        if schema.get("type") == "array":
            data[code] = list(values)
            continue
        if len(values) != 1:
            raise AttributeValueError(code, "takes exactly one value.")
        raw = values[0]
        if schema.get("type") in ("integer", "number"):
            data[code] = _number(code, raw, schema["type"] == "integer")
        else:
            data[code] = raw
    if description and DESCRIPTION_PROPERTY in properties:
        data[DESCRIPTION_PROPERTY] = description
    return data
