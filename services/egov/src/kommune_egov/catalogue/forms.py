"""Building blocks of the application forms (JSON Schema draft 2020-12).

Every form is an object schema with German titles; enums are ``oneOf`` of ``const`` + ``title``
(the value is English snake_case, the title is what citizens read), so a form renderer shows
German labels and the Open311 adapter can list them as ``values`` (``key`` + ``name``).
The order of ``properties`` is the order of the form (stored as JSON text, not JSONB, which would
sort the keys).
"""

from __future__ import annotations

from typing import Any

JsonSchema = dict[str, Any]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORM_ID_BASE = "https://kommune.heidenheim.de/schemas/forms"


def text(title: str, *, max_length: int = 200, min_length: int = 1, **extra: Any) -> JsonSchema:
    return {
        "type": "string",
        "title": title,
        "minLength": min_length,
        "maxLength": max_length,
        **extra,
    }


def long_text(title: str, *, max_length: int = 2000, **extra: Any) -> JsonSchema:
    return text(title, max_length=max_length, **extra) | {"x-multiline": True}


def choice(title: str, options: dict[str, str], **extra: Any) -> JsonSchema:
    return {
        "type": "string",
        "title": title,
        "oneOf": [{"const": value, "title": label} for value, label in options.items()],
        **extra,
    }


def choices(title: str, options: dict[str, str], **extra: Any) -> JsonSchema:
    return {
        "type": "array",
        "title": title,
        "minItems": 1,
        "uniqueItems": True,
        "items": choice(title, options),
        **extra,
    }


def yes_no(title: str, **extra: Any) -> JsonSchema:
    return choice(title, {"yes": "Ja", "no": "Nein"}, **extra)


def date(title: str, **extra: Any) -> JsonSchema:
    return {"type": "string", "format": "date", "title": title, **extra}


def integer(title: str, minimum: int, maximum: int, **extra: Any) -> JsonSchema:
    return {"type": "integer", "title": title, "minimum": minimum, "maximum": maximum, **extra}


def number(title: str, minimum: float, maximum: float, **extra: Any) -> JsonSchema:
    return {"type": "number", "title": title, "minimum": minimum, "maximum": maximum, **extra}


def email(title: str = "E-Mail-Adresse") -> JsonSchema:
    return {"type": "string", "format": "email", "title": title, "maxLength": 254}


def phone(title: str = "Telefon") -> JsonSchema:
    return {"type": "string", "title": title, "pattern": r"^\+?[0-9 ()/-]{6,30}$", "maxLength": 30}


POSTCODE = {"type": "string", "title": "Postleitzahl", "pattern": r"^[0-9]{5}$"}
LICENCE_PLATE = {
    "type": "string",
    "title": "Amtliches Kennzeichen",
    "description": "Wie auf dem Fahrzeugschein, z. B. HDH-AB 123.",
    "pattern": r"^[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} ?[1-9][0-9]{0,3}[EH]?$",
    "maxLength": 12,
}


def address(title: str) -> JsonSchema:
    return {
        "type": "object",
        "title": title,
        "additionalProperties": False,
        "required": ["street", "house_number", "postcode", "city"],
        "properties": {
            "street": text("Straße", max_length=100),
            "house_number": text("Hausnummer", max_length=10, pattern=r"^[0-9]{1,4}[a-zA-Z]?$"),
            "postcode": POSTCODE,
            "city": text("Ort", max_length=100),
        },
    }


def person(title: str) -> JsonSchema:
    return {
        "type": "object",
        "title": title,
        "additionalProperties": False,
        "required": ["first_name", "last_name", "date_of_birth"],
        "properties": {
            "first_name": text("Vorname", max_length=100),
            "last_name": text("Familienname", max_length=100),
            "date_of_birth": date("Geburtsdatum"),
        },
    }


def form(
    code: str, version: int, title: str, properties: dict[str, JsonSchema], required: list[str]
) -> JsonSchema:
    """A complete form schema with its versioned ``$id``."""
    missing = [name for name in required if name not in properties]
    if missing:
        raise ValueError(f"form {code}: required fields without a property: {missing}")
    return {
        "$schema": DRAFT,
        "$id": f"{FORM_ID_BASE}/{code}/v{version}.json",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }
