"""Who may use the gateway's own endpoints (dashboard, overview, activity feed), in one place.

The proxied routes need only a valid token here: each service decides on roles itself. The
aggregating endpoints call the services with the caller's token, so every part is still the
service's decision; the activity feed is the gateway's own data, so its visibility rules live
here and in the feed's SQL (:mod:`kommune_gateway.activity`).
"""

from __future__ import annotations

from enum import StrEnum

from kommune.auth.principal import STAFF_ROLES, Role
from kommune.permissions import AccessPolicy


class Permission(StrEnum):
    VIEW_DASHBOARD = "view_dashboard"
    """The staff dashboard: open cases, ideas, waste, alerts, traffic."""
    VIEW_OVERVIEW = "view_overview"
    """``/api/v1/me``: one's own applications, mailbox and appointments, or ideas and tasks."""
    READ_ACTIVITY = "read_activity"
    """The activity feed (what one sees in it: the ``SEE_*`` permissions)."""
    SEE_OWN_CASES = "see_own_cases"
    """Activity of one's own applications."""
    SEE_STAFF_ACTIVITY = "see_staff_activity"
    """Activity of ideas and sensor alerts."""
    SEE_DEPARTMENT_CASES = "see_department_cases"
    """Activity of the cases of the department in one's token."""
    SEE_ALL_CASES = "see_all_cases"
    """Activity of every case (administrators, like egov's every-department view)."""
    WORK_QUEUE = "work_queue"
    """``/api/v1/me`` lists the department's queue as tasks."""


_STAFF = frozenset(
    {
        Permission.VIEW_DASHBOARD,
        Permission.VIEW_OVERVIEW,
        Permission.READ_ACTIVITY,
        Permission.SEE_STAFF_ACTIVITY,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITIZEN: frozenset(
        {Permission.VIEW_OVERVIEW, Permission.READ_ACTIVITY, Permission.SEE_OWN_CASES}
    ),
    **dict.fromkeys(STAFF_ROLES, _STAFF),
    # Caseworkers see their department's cases, as in egov (kommune_egov.access).
    Role.CASEWORKER: _STAFF | {Permission.SEE_DEPARTMENT_CASES, Permission.WORK_QUEUE},
    Role.ADMIN: frozenset(Permission),
    Role.INVOICE_INBOX: frozenset(),  # the e-invoice inbox's service account: documents only
}

POLICY = AccessPolicy(
    Permission,
    ROLE_PERMISSIONS,
    messages={
        Permission.VIEW_DASHBOARD: "The dashboard is for city staff.",
        Permission.VIEW_OVERVIEW: "Only citizens and city staff have an overview.",
        Permission.READ_ACTIVITY: "Only citizens and city staff have an activity feed.",
    },
)
requires = POLICY.requires
can = POLICY.can
