"""Hatch build hook: ship the contracts inside the wheel (not in editable installs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {"events": "kommune_schemas/events", "asyncapi.yaml": "kommune_schemas/asyncapi.yaml"}


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        for source, target in SHIPPED.items():
            path = Path(self.root) / source
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run `make schemas` first")
            build_data["force_include"][str(path)] = target
