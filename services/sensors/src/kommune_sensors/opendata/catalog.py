"""The DCAT-AP.de catalogue of the city's open sensor data, as JSON-LD.

Classes and properties from DCAT (``dcat:Catalog``, ``dcat:Dataset``, ``dcat:Distribution``),
DCMI terms, FOAF and the DCAT-AP.de namespace; controlled vocabularies as the application
profile asks (EU data themes, file types, frequencies; the licence from dcat-ap.de). Each
dataset has a CSV and a JSON distribution under the licence dl-de/by-2-0.
"""

from __future__ import annotations

from typing import Any

from kommune_sensors.opendata.datasets import DATASETS, Dataset

LICENSE = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
PUBLISHER = "Stadt Heidenheim an der Brenz"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
EU = "http://publications.europa.eu/resource/authority"
MEDIA_TYPES = {"CSV": "text/csv", "JSON": "application/json"}


def _text(value: str) -> dict[str, str]:
    return {"@language": "de", "@value": value}


def _publisher() -> dict[str, Any]:
    return {"@type": "foaf:Organization", "foaf:name": _text(PUBLISHER)}


def _distribution(base: str, dataset: Dataset, file_type: str) -> dict[str, Any]:
    url = f"{base}/datasets/{dataset.identifier}.{file_type.lower()}"
    return {
        "@id": url,
        "@type": "dcat:Distribution",
        "dct:title": _text(f"{dataset.title} ({file_type})"),
        "dcat:accessURL": {"@id": url},
        "dcat:downloadURL": {"@id": url},
        "dct:format": {"@id": f"{EU}/file-type/{file_type}"},
        "dcat:mediaType": {
            "@id": f"https://www.iana.org/assignments/media-types/{MEDIA_TYPES[file_type]}"
        },
        "dct:license": {"@id": LICENSE},
        "dcatde:licenseAttributionByText": _text(PUBLISHER),
    }


def _dataset(base: str, dataset: Dataset) -> dict[str, Any]:
    return {
        "@id": f"{base}/datasets/{dataset.identifier}",
        "@type": "dcat:Dataset",
        "dct:identifier": dataset.identifier,
        "dct:title": _text(dataset.title),
        "dct:description": _text(dataset.description),
        "dcat:keyword": [_text(word) for word in dataset.keywords],
        "dcat:theme": {"@id": f"{EU}/data-theme/{dataset.theme}"},
        "dct:accrualPeriodicity": {"@id": f"{EU}/frequency/{dataset.periodicity}"},
        "dct:publisher": _publisher(),
        "dct:language": {"@id": f"{EU}/language/DEU"},
        "dcatde:politicalGeocodingLevelURI": {
            "@id": "http://dcat-ap.de/def/politicalGeocoding/Level/municipality"
        },
        "dcat:distribution": [_distribution(base, dataset, kind) for kind in ("CSV", "JSON")],
    }


def catalog(base: str) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": _text("Offene Daten der Stadt Heidenheim an der Brenz: Smart City"),
        "dct:description": _text(
            "Anonyme Messwerte der Smart-City-Piloten (Verkehr, Abfall) und Zahlen des Programms "
            '"Ich für uns", aggregiert; kleine Zahlen (unter 3) sind unterdrückt.'
        ),
        "dct:publisher": _publisher(),
        "dct:language": {"@id": f"{EU}/language/DEU"},
        "dct:license": {"@id": LICENSE},
        "dcat:dataset": [_dataset(base, dataset) for dataset in DATASETS.values()],
    }
