"""Compose the ``kommune`` realm: the production export plus, for dev/test, its overlay.

Stdlib only, so ``deploy/local/keycloak.sh`` runs it with the system ``python3``::

    python3 deploy/keycloak/compose_realm.py --dev [--realm NAME] > kommune-realm.json

The test fixture imports :func:`compose` to make one isolated copy of the realm per test session.

Merge rule (overlay onto base): objects merge key by key; lists of objects that name themselves
(``clientId``, ``username``, ``name``) merge item by item on that key, new items are appended;
any other value is replaced by the overlay's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASE = HERE / "realm-kommune.json"
DEV_OVERLAY = HERE / "realm-kommune.dev-overlay.json"
IDENTITY_KEYS = ("clientId", "username", "name")


def _identity(item: object) -> tuple[str, str] | None:
    if isinstance(item, dict):
        for key in IDENTITY_KEYS:
            if isinstance(item.get(key), str):
                return key, item[key]
    return None


def merge(base: Any, overlay: Any) -> Any:
    """``overlay`` merged onto ``base`` (neither is modified)."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(overlay, list):
        if not all(_identity(item) for item in [*base, *overlay]):
            return list(overlay)
        result = list(base)
        positions = {_identity(item): index for index, item in enumerate(result)}
        for item in overlay:
            identity = _identity(item)
            if identity in positions:
                result[positions[identity]] = merge(result[positions[identity]], item)
            else:
                positions[identity] = len(result)
                result.append(item)
        return result
    return overlay


def compose(*, dev: bool, realm: str | None = None) -> dict[str, Any]:
    """The realm representation; ``dev`` adds the test client, test users and dev secrets."""
    document: dict[str, Any] = json.loads(BASE.read_text(encoding="utf-8"))
    if dev:
        document = merge(document, json.loads(DEV_OVERLAY.read_text(encoding="utf-8")))
    if realm is not None:
        document["realm"] = realm
        # The default role is named after the realm (default-roles-<realm>).
        for user in document.get("users", []):
            user["realmRoles"] = [
                f"default-roles-{realm}" if role == "default-roles-kommune" else role
                for role in user.get("realmRoles", [])
            ]
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="apply the dev/test overlay")
    parser.add_argument("--realm", help="realm name (default: kommune)")
    args = parser.parse_args()
    json.dump(compose(dev=args.dev, realm=args.realm), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
