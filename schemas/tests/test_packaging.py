"""A built wheel (what a service image installs) carries the contracts and finds them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kommune_schemas import SchemaRegistry

SCHEMAS_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_schemas_asyncapi_and_models(
    tmp_path: Path, shipped_registry: SchemaRegistry
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    build = subprocess.run(  # noqa: S603 - fixed command
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(SCHEMAS_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("kommune_schemas-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    expected = {
        "kommune_schemas/asyncapi.yaml",
        "kommune_schemas/registry.py",
        "kommune_schemas/py.typed",
        "kommune_schemas/generated/__init__.py",
        *(f"kommune_schemas/events/{e.service}/{e.type}.json" for e in shipped_registry),
        *(f"kommune_schemas/generated/{s}.py" for s in shipped_registry.services()),
    }
    assert expected <= names, sorted(expected - names)

    # Import the unpacked wheel ahead of the editable workspace install.
    probe = (
        "import json, kommune_schemas as k\n"
        "print(json.dumps({'file': k.__file__, 'dir': str(k.default_schema_dir()),"
        " 'asyncapi': str(k.asyncapi_path()), 'types': list(k.known_types())}))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    site = str(tmp_path / "site")
    assert found["file"].startswith(site)
    assert found["dir"] == str(tmp_path / "site" / "kommune_schemas" / "events")
    assert found["asyncapi"].startswith(site)
    assert found["types"] == list(shipped_registry.known_types())
