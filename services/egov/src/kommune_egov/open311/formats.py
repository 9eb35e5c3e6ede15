"""The two formats of GeoReport v2: XML (required by the spec) and JSON (its Spark mapping).

Every response is built once as plain data (dicts, lists, scalars) and rendered here: JSON as
is, XML with a container element per list and an item element per entry (``services`` →
``service``, ``service_requests`` → ``request`` ...), ``true``/``false`` for booleans and an
empty element for ``None``, always behind ``<?xml version="1.0" encoding="utf-8"?>``. Output only:
this module never parses XML.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import Response


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


MEDIA_TYPES = {
    Format.JSON: "application/json; charset=utf-8",
    Format.XML: "text/xml; charset=utf-8",
}

ITEM_TAGS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}
"""The element of one entry of each list the spec names."""

XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(SubElement(element, key), item)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS[element.tag]
        for item in value:
            _fill(SubElement(element, item_tag), item)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = Element(root)
    _fill(element, value)
    return XML_DECLARATION + tostring(element, encoding="unicode").encode("utf-8")


def render(value: Any, root: str, fmt: Format, status_code: int = 200) -> Response:
    """``value`` as the response body; ``root`` names the XML root element (e.g. ``services``)."""
    if fmt is Format.JSON:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = to_xml(root, value)
    return Response(content=body, status_code=status_code, media_type=MEDIA_TYPES[fmt])


def format_of_path(path: str) -> Format:
    """The format a path asks for; XML (the spec's required format) unless it ends in .json."""
    return Format.JSON if path.endswith(".json") else Format.XML
