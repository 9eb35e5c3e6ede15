"""A filled-in dog registration (``dog_registration``) that passes the form's validation.

One copy for everything that submits a plausible application without caring about its content:
the egov tests, the cross-service tests and the submission benchmark. The demo data
(:mod:`kommune_egov.demo`) tells its own story and keeps its own applicants.
"""

from __future__ import annotations

import copy
from typing import Any

_DOG_REGISTRATION: dict[str, Any] = {
    "owner": {"first_name": "Lena", "last_name": "Hofmann", "date_of_birth": "1988-04-12"},
    "address": {
        "street": "Hauptstraße",
        "house_number": "12",
        "postcode": "89522",
        "city": "Heidenheim an der Brenz",
    },
    "dog_name": "Bruno",
    "breed": "Labrador Retriever",
    "kept_since": "2026-10-01",
    "chip_number": "276098106543210",
    "listed_dog": "no",
    "email": "lena.hofmann@example.org",
}


def dog_registration(**overrides: Any) -> dict[str, Any]:
    """A fresh copy (callers may change it), top-level fields replaced by ``overrides``."""
    data = copy.deepcopy(_DOG_REGISTRATION)
    data.update(overrides)
    return data
