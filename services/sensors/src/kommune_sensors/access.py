"""Who may do what in the sensors service: the permission matrix, in one place.

Operators and administrators run the device registry and may import readings with their token;
every staff member reads measurements; citizens hold nothing here (published datastreams are
read anonymously through the SensorThings API). Devices authenticate with their own API key
(:mod:`kommune_sensors.device_auth`), which is scoped to the device's datastreams.
"""

from __future__ import annotations

from enum import StrEnum

from kommune.auth.principal import Role
from kommune.permissions import AccessPolicy


class Permission(StrEnum):
    READ_DATA = "read_data"
    """Read things, datastreams and observations (published or not)."""
    MANAGE_DEVICES = "manage_devices"
    """Register things and datastreams, issue, rotate and revoke device keys."""
    INGEST = "ingest"
    """Post observations with a token (imports, backfills) for any datastream."""
    RECORD_SOCIAL = "record_social"
    """Record anonymous counts of "Ich für uns" help offers and requests per district."""


_READER = frozenset({Permission.READ_DATA})
_SOCIAL_DESK = _READER | {Permission.RECORD_SOCIAL}
_OPERATOR = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITIZEN: frozenset(),
    Role.STAFF: _SOCIAL_DESK,
    Role.CHANGE_AGENT: _READER,
    Role.PROJECT_LEAD: _READER,
    Role.CASEWORKER: _SOCIAL_DESK,
    Role.RECORDS_MANAGER: _READER,
    Role.OPERATOR: _OPERATOR,
    Role.ADMIN: frozenset(Permission),
    Role.INVOICE_INBOX: frozenset(),  # the e-invoice inbox's service account: documents only
}

_MESSAGES: dict[Permission, str] = {
    Permission.READ_DATA: "Sensor data is open to city staff (published datastreams: to all).",
    Permission.MANAGE_DEVICES: "Only operators and administrators manage devices.",
    Permission.INGEST: "Only devices (with their key), operators and administrators post readings.",
    Permission.RECORD_SOCIAL: "Staff, caseworkers, operators and admins record help counts.",
}

POLICY = AccessPolicy(Permission, ROLE_PERMISSIONS, messages=_MESSAGES)
requires = POLICY.requires
can = POLICY.can
require = POLICY.require
