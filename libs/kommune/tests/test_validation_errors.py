"""What a handler validates itself (form fields, a SensorThings entity) reads like what FastAPI
validated: the same ``errors[]`` items, and no input echoed."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from kommune.errors import validation_errors


class Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str


def test_a_handlers_own_validation_has_the_shared_shape() -> None:
    with pytest.raises(ValidationError) as caught:
        Fields.model_validate({"sender": "secret value"})
    errors = validation_errors(caught.value)
    assert sorted(e["type"] for e in errors) == ["extra_forbidden", "missing"]
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)
    extra = next(e for e in errors if e["type"] == "extra_forbidden")
    assert extra["loc"] == ["sender"]
    encoded = json.dumps(errors, ensure_ascii=False).encode("utf-8")
    assert b"secret value" not in encoded
