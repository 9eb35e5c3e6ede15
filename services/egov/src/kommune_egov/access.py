"""Who may do what in the egov service: the permission matrix, in one place.

Routes declare the permission they need with ``Depends(requires(Permission.X))`` (checked before
the body is read); services call :func:`require` for finer rules. Which status transition a role
may make is decided by the application workflow (:mod:`kommune_egov.applications.workflow`), and
"only your own application" / "only your department's queue" are part of the repositories' SQL.

The catalogue, appointment slots and Open311 reads are public routes (no permission). Citizens
apply, read their own cases and their mailbox; caseworkers work the queue of the department in
their token's ``department`` claim; ``admin`` holds every permission and sees every department.
"""

from __future__ import annotations

from enum import StrEnum

from kommune.auth.principal import Principal, Role
from kommune.permissions import AccessPolicy


class Permission(StrEnum):
    SUBMIT_APPLICATION = "submit_application"
    """Apply for an e-service (and, as its applicant, withdraw it and provide information)."""
    READ_APPLICATIONS = "read_applications"
    """Read applications with their history: one's own; caseworkers their department's."""
    CHANGE_STATUS = "change_status"
    """Take part in the application workflow (which move, the workflow decides per role)."""
    UPLOAD_ATTACHMENTS = "upload_attachments"
    """Upload a file to attach it to an application or a status change."""
    READ_MAILBOX = "read_mailbox"
    """Read one's own mailbox and mark messages read."""
    PROCESS_APPLICATIONS = "process_applications"
    """Work the department's queue: read its cases, move them through the workflow, ask for
    information, attach documents (the permit as PDF)."""
    MANAGE_CATALOGUE = "manage_catalogue"
    """Publish e-services and new versions of their forms."""
    MANAGE_WEBHOOKS = "manage_webhooks"
    """Register integrators' webhooks for status changes and read their deliveries."""
    MANAGE_OPEN311_CLIENTS = "manage_open311_clients"
    """Issue and revoke Open311 API keys of client apps."""
    MANAGE_APPOINTMENTS = "manage_appointments"
    """Locations, opening rules, slots; read the bookings."""
    BOOK_APPOINTMENT = "book_appointment"
    """Book a slot, read and cancel one's own appointments (see kommune_egov.appointments)."""


_CITIZEN = frozenset(
    {
        Permission.SUBMIT_APPLICATION,
        Permission.READ_APPLICATIONS,
        Permission.CHANGE_STATUS,
        Permission.UPLOAD_ATTACHMENTS,
        Permission.READ_MAILBOX,
        Permission.BOOK_APPOINTMENT,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITIZEN: _CITIZEN,
    Role.STAFF: frozenset(),
    Role.CHANGE_AGENT: frozenset(),
    Role.PROJECT_LEAD: frozenset(),
    Role.CASEWORKER: frozenset(
        {
            Permission.READ_APPLICATIONS,
            Permission.PROCESS_APPLICATIONS,
            Permission.CHANGE_STATUS,
            Permission.UPLOAD_ATTACHMENTS,
            Permission.MANAGE_APPOINTMENTS,
            Permission.BOOK_APPOINTMENT,  # at the counter, for callers
        }
    ),
    Role.RECORDS_MANAGER: frozenset(),
    Role.OPERATOR: frozenset({Permission.MANAGE_WEBHOOKS}),
    Role.ADMIN: frozenset(Permission),
    Role.INVOICE_INBOX: frozenset(),  # the e-invoice inbox's service account: documents only
}

_MESSAGES: dict[Permission, str] = {
    Permission.SUBMIT_APPLICATION: "Only citizens apply for e-services.",
    Permission.READ_APPLICATIONS: "Only citizens (their own) and caseworkers read applications.",
    Permission.CHANGE_STATUS: "Only applicants and caseworkers move applications.",
    Permission.UPLOAD_ATTACHMENTS: "Only citizens and caseworkers upload attachments.",
    Permission.READ_MAILBOX: "The mailbox belongs to citizens.",
    Permission.PROCESS_APPLICATIONS: "Only caseworkers process applications.",
    Permission.MANAGE_CATALOGUE: "Only administrators publish e-services.",
    Permission.MANAGE_WEBHOOKS: "Only operators and administrators manage webhooks.",
    Permission.MANAGE_OPEN311_CLIENTS: "Only administrators issue Open311 API keys.",
    Permission.MANAGE_APPOINTMENTS: "Only caseworkers and administrators manage appointments.",
    Permission.BOOK_APPOINTMENT: "Only citizens book appointments.",
}

POLICY = AccessPolicy(Permission, ROLE_PERMISSIONS, messages=_MESSAGES)
requires = POLICY.requires
"""``Depends(requires(Permission.X))``: the permission a route needs (403 before validation)."""
can = POLICY.can
require = POLICY.require


def sees_every_department(principal: Principal) -> bool:
    """Administrators see every department's queue; caseworkers only their own."""
    return principal.is_admin
