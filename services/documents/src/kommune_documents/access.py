"""Who may do what in the E-Akte: the role matrix and the per-file access rules, in one place.

Two layers:

* **Roles** (:data:`ROLE_PERMISSIONS`): what a role may do at all. Routes declare the permission
  they need (checked before the body is read). Citizens hold nothing: the E-Akte is internal.
* **Files** (:func:`file_access`): which case files a person may read or change. A file is open to

  - ``records_manager`` and ``admin`` (:attr:`Permission.ALL_FILES`): every file;
  - caseworkers of the file's owning department (the token's ``department`` claim), for files
    of confidentiality ``normal``; a ``confidential`` file only to those named on it;
  - named readers (any staff member the file lists): read only.

  Lists and search apply the same rule inside their SQL (``files.repository.readable``).
  A file a caller may not read does not exist for them: 404, never 403, and the attempt is
  recorded in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kommune.auth.principal import Principal, Role
from kommune.permissions import AccessPolicy


class Permission(StrEnum):
    READ_FILEPLAN = "read_fileplan"
    MANAGE_FILEPLAN = "manage_fileplan"
    """Add plan units, change their title, validity, retention and archive decision."""
    READ_FILES = "read_files"
    """Enter the E-Akte at all; which files, decides :func:`file_access`."""
    CREATE_FILES = "create_files"
    EDIT_FILES = "edit_files"
    """Add processes and documents, close them (in files the caller may write)."""
    MANAGE_READERS = "manage_readers"
    """Name and remove readers of a file the caller may write."""
    ALL_FILES = "all_files"
    """Read and write every case file, whatever its department and confidentiality."""
    READ_AUDIT = "read_audit"
    SEARCH = "search"
    SUBMIT_INVOICES = "submit_invoices"
    """Hand in e-invoices (``POST /api/v1/invoices``); the e-invoice inbox's only permission."""
    RECEIVE_INVOICES = "receive_invoices"
    """Read received e-invoices and take them through the approval workflow."""
    MANAGE_RETENTION = "manage_retention"
    """Legal holds, disposal runs, the archive hand-over."""
    HANDLE_MAIL = "handle_mail"
    """The mailroom: take in scanned post, keep the routing rules, see every inbox."""


class Confidentiality(StrEnum):
    NORMAL = "normal"
    """Open to the owning department's caseworkers, named readers, records management."""
    CONFIDENTIAL = "confidential"
    """Personnel, social and tax matters: named people and records management only."""


_STAFF = frozenset({Permission.READ_FILEPLAN, Permission.READ_FILES, Permission.SEARCH})
_CASEWORK = _STAFF | {
    Permission.CREATE_FILES,
    Permission.EDIT_FILES,
    Permission.MANAGE_READERS,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITIZEN: frozenset(),
    Role.STAFF: _STAFF,
    Role.CHANGE_AGENT: _STAFF,
    Role.PROJECT_LEAD: _STAFF,
    Role.OPERATOR: _STAFF,
    Role.CASEWORKER: _CASEWORK,
    Role.RECORDS_MANAGER: _CASEWORK
    | {
        Permission.MANAGE_FILEPLAN,
        Permission.ALL_FILES,
        Permission.READ_AUDIT,
        Permission.MANAGE_RETENTION,
        Permission.SUBMIT_INVOICES,
        Permission.RECEIVE_INVOICES,
        Permission.HANDLE_MAIL,
    },
    Role.ADMIN: frozenset(Permission),
    # The service account of the city's e-invoice inbox: hands invoices in, reads nothing back
    # (not the list, not the files, not search) and takes no approval step.
    Role.INVOICE_INBOX: frozenset({Permission.SUBMIT_INVOICES}),
}

_MESSAGES: dict[Permission, str] = {
    Permission.READ_FILEPLAN: "The file plan is open to city staff only.",
    Permission.MANAGE_FILEPLAN: "Only records managers change the file plan.",
    Permission.READ_FILES: "The E-Akte is open to city staff only.",
    Permission.CREATE_FILES: "Only caseworkers and records managers open case files.",
    Permission.EDIT_FILES: "Only caseworkers and records managers change case files.",
    Permission.MANAGE_READERS: "Only caseworkers and records managers name readers.",
    Permission.READ_AUDIT: "Only records managers read the audit trail.",
    Permission.SEARCH: "Search is open to city staff only.",
    Permission.MANAGE_RETENTION: "Only records managers handle retention and disposal.",
    Permission.SUBMIT_INVOICES: "Only records managers, administrators and the e-invoice inbox "
    "hand in e-invoices.",
    Permission.RECEIVE_INVOICES: "Only records managers and administrators handle e-invoices.",
    Permission.HANDLE_MAIL: "Only the mailroom (records managers) takes in post and sees "
    "every inbox.",
}

POLICY = AccessPolicy(Permission, ROLE_PERMISSIONS, messages=_MESSAGES)
requires = POLICY.requires
"""``Depends(requires(Permission.X))``: the permission a route needs (403 before validation)."""
can = POLICY.can
require = POLICY.require


@dataclass(frozen=True, slots=True)
class FileAccess:
    read: bool
    write: bool


NO_ACCESS = FileAccess(read=False, write=False)


def file_access(
    principal: Principal, *, department: str, confidentiality: str, named: bool
) -> FileAccess:
    """What ``principal`` may do with a case file (``named``: they are one of its readers)."""
    if can(principal, Permission.ALL_FILES):
        return FileAccess(read=True, write=True)
    if not can(principal, Permission.READ_FILES):
        return NO_ACCESS
    own_department = (
        principal.department is not None
        and principal.department == department
        and can(principal, Permission.EDIT_FILES)
    )
    if own_department and (confidentiality == Confidentiality.NORMAL or named):
        return FileAccess(read=True, write=True)
    if named:
        return FileAccess(read=True, write=False)
    return NO_ACCESS
