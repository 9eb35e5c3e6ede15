"""xdomea-shaped messages of the disposal (Aussonderung): 0501 offer, 0503 hand-over.

The element names follow xdomea 3.0 (namespace ``urn:xoev-de:xdomea:schema:3.0.0``, message
header ``Kopf`` with ``ProzessID``, ``Nachrichtentyp``, ``Erstellungszeitpunkt``, sender and
recipient; one ``Schriftgutobjekt``/``Akte`` per file with its identification, file number,
title, plan unit, period and archive decision). It is the shape, not a schema-validated
implementation of the standard: an archive's import would be checked against it first.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

NS = "urn:xoev-de:xdomea:schema:3.0.0"
SENDER = "Stadtverwaltung Heidenheim an der Brenz, Registratur"
RECIPIENT = "Stadtarchiv Heidenheim an der Brenz"


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    file_number: str
    title: str
    plan_code: str
    plan_title: str
    opened_at: datetime
    closed_at: datetime
    decision: str
    documents: Sequence[tuple[str, str, str]] = ()
    """(document id, title, path inside the package) — 0503 only."""


def _el(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def _message(kind: str, code: str, process_id: str, now: datetime) -> ET.Element:
    ET.register_namespace("xdomea", NS)
    root = ET.Element(f"{{{NS}}}{kind}")
    head = _el(root, "Kopf")
    _el(head, "ProzessID", process_id)
    _el(_el(head, "Nachrichtentyp"), "code", code)
    _el(head, "Erstellungszeitpunkt", now.isoformat())
    _el(_el(_el(head, "Absender"), "Behoerdenkennung"), "Kennung", SENDER)
    _el(_el(_el(head, "Empfaenger"), "Behoerdenkennung"), "Kennung", RECIPIENT)
    return root


def _file(parent: ET.Element, record: FileRecord) -> ET.Element:
    akte = _el(_el(parent, "Schriftgutobjekt"), "Akte")
    _el(_el(akte, "Identifikation"), "ID", record.file_id)
    metadata = _el(akte, "AllgemeineMetadaten")
    _el(metadata, "Betreff", record.title)
    _el(metadata, "Kennzeichen", record.file_number)
    plan = _el(metadata, "Aktenplaneinheit")
    _el(plan, "Kennzeichen", record.plan_code)
    _el(plan, "Inhalt", record.plan_title)
    period = _el(metadata, "Laufzeit")
    _el(period, "Beginn", record.opened_at.date().isoformat())
    _el(period, "Ende", record.closed_at.date().isoformat())
    _el(_el(akte, "Aussonderungsart"), "code", record.decision)
    for document_id, title, path in record.documents:
        document = _el(akte, "Dokument")
        _el(_el(document, "Identifikation"), "ID", document_id)
        _el(_el(document, "AllgemeineMetadaten"), "Betreff", title)
        _el(_el(_el(document, "Version"), "Format"), "Dateiname", path)
    return akte


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()


def offer_0501(process_id: str, now: datetime, files: Sequence[FileRecord]) -> bytes:
    """Aussonderung.Anbieteverzeichnis.0501: the files offered to the archive."""
    root = _message("Aussonderung.Anbieteverzeichnis.0501", "0501", process_id, now)
    for record in files:
        _file(root, record)
    return _serialise(root)


def handover_0503(process_id: str, now: datetime, files: Sequence[FileRecord]) -> bytes:
    """Aussonderung.Aussonderung.0503: metadata of the files handed over with their content."""
    root = _message("Aussonderung.Aussonderung.0503", "0503", process_id, now)
    for record in files:
        _file(root, record)
    return _serialise(root)
