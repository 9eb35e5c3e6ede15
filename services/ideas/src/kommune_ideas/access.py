"""Who may do what in the ideas service: the permission matrix, in one place.

Every permission decision outside the status workflow (which lives in
:mod:`kommune_ideas.ideas.workflow`) is made here, with the platform's mechanism
(:mod:`kommune.permissions`). Routes declare the permission they need with
``Depends(requires(Permission.X))`` (checked before the body is read); services call
:func:`require` for finer rules; repositories call :func:`can` and :func:`readable_forums` so
that the visibility rules are part of the SQL and lists, searches, counts and feeds agree.

``admin`` holds every permission. Citizens hold none: the intranet is for city staff only.
"""

from __future__ import annotations

from enum import StrEnum

from kommune.auth.principal import Principal, Role
from kommune.permissions import AccessPolicy


class Permission(StrEnum):
    READ_STORE = "read_store"
    """Read the Ideenspeicher (every idea with its status, answer and history, except ideas
    waiting for the leaders' decision), departments."""
    READ_UNDECIDED = "read_undecided"
    """Also read ideas with status ``for_decision`` ("Idee zur Entscheidung"): they have moved
    to the leaders' forum and are out of the store for all staff until the leaders decide."""
    CREATE_IDEA = "create_idea"
    ENDORSE = "endorse"
    FOLLOW = "follow"
    CHANGE_AGENT_FORUM = "change_agent_forum"
    """Read and write the change agents' discussion of an idea."""
    LEADERS_FORUM = "leaders_forum"
    """Read and write the project leads' discussion of an idea that is up for decision."""
    READ_MEETINGS = "read_meetings"
    MANAGE_MEETINGS = "manage_meetings"
    """Schedule innovation circles, edit them and their agenda."""
    RECORD_OUTCOMES = "record_outcomes"
    """Record an agenda item's outcome (the status change itself is checked by the workflow)."""
    READ_CHRONICLE = "read_chronicle"
    COMMENT_CHRONICLE = "comment_chronicle"
    EDIT_CHRONICLE = "edit_chronicle"
    READ_FAQ = "read_faq"
    EDIT_FAQ = "edit_faq"
    MANAGE_DEPARTMENTS = "manage_departments"
    EDIT_IDEA = "edit_idea"
    """Edit an idea's text (its author, while the status is idea: checked by the workflow)."""
    CHANGE_STATUS = "change_status"
    """Take part in the status workflow (which transition, the workflow decides)."""


_EVERY_STAFF_MEMBER = frozenset(
    {
        Permission.READ_STORE,
        Permission.ENDORSE,
        Permission.FOLLOW,
        Permission.READ_CHRONICLE,
        Permission.COMMENT_CHRONICLE,
        Permission.READ_FAQ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITIZEN: frozenset(),
    Role.STAFF: _EVERY_STAFF_MEMBER,
    Role.CASEWORKER: _EVERY_STAFF_MEMBER,
    Role.RECORDS_MANAGER: _EVERY_STAFF_MEMBER,
    Role.OPERATOR: _EVERY_STAFF_MEMBER,
    Role.CHANGE_AGENT: _EVERY_STAFF_MEMBER
    | {
        Permission.READ_UNDECIDED,
        Permission.CREATE_IDEA,
        Permission.EDIT_IDEA,
        Permission.CHANGE_STATUS,
        Permission.CHANGE_AGENT_FORUM,
        Permission.READ_MEETINGS,
        Permission.MANAGE_MEETINGS,
        Permission.RECORD_OUTCOMES,
    },
    Role.PROJECT_LEAD: _EVERY_STAFF_MEMBER
    | {
        Permission.READ_UNDECIDED,
        Permission.LEADERS_FORUM,
        Permission.CHANGE_STATUS,
        Permission.READ_MEETINGS,
        Permission.RECORD_OUTCOMES,
        Permission.EDIT_CHRONICLE,
        Permission.EDIT_FAQ,
    },
    Role.ADMIN: frozenset(Permission),
    Role.INVOICE_INBOX: frozenset(),  # the e-invoice inbox's service account: documents only
}

_MESSAGES: dict[Permission, str] = {
    Permission.READ_STORE: "The idea store is open to city staff only.",
    Permission.CREATE_IDEA: "Only change agents post ideas.",
    Permission.CHANGE_AGENT_FORUM: "The change agents' forum is open to change agents only.",
    Permission.LEADERS_FORUM: "The leaders' forum is open to project leads only.",
    Permission.READ_MEETINGS: "Innovation circles are open to change agents and project leads.",
    Permission.MANAGE_MEETINGS: "Only change agents organise innovation circles.",
    Permission.RECORD_OUTCOMES: "Only change agents and project leads record outcomes.",
    Permission.EDIT_CHRONICLE: "Only chronicle editors (project leads) write news entries.",
    Permission.EDIT_FAQ: "Only FAQ editors (project leads) edit the FAQ.",
    Permission.MANAGE_DEPARTMENTS: "Only administrators manage departments.",
    Permission.EDIT_IDEA: "Only the author edits an idea.",
    Permission.CHANGE_STATUS: "Only change agents and project leads change the status of an idea.",
}

POLICY = AccessPolicy(Permission, ROLE_PERMISSIONS, messages=_MESSAGES)
requires = POLICY.requires
"""``Depends(requires(Permission.X))``: the permission a route needs (403 before validation)."""
can = POLICY.can
require = POLICY.require
permissions_of = POLICY.permissions_of


class Forum(StrEnum):
    """The two discussions attached to an idea."""

    CHANGE_AGENTS = "change_agents"
    """Change-Agent-Forum: read and write for change agents."""
    LEADERS = "leaders"
    """Teilprojektleiter-Forum: read and write for project leads, while the idea is for decision."""


FORUM_PERMISSION: dict[Forum, Permission] = {
    Forum.CHANGE_AGENTS: Permission.CHANGE_AGENT_FORUM,
    Forum.LEADERS: Permission.LEADERS_FORUM,
}


def readable_forums(principal: Principal) -> frozenset[Forum]:
    """The forums whose comments (and comment counts, and activity) ``principal`` may see."""
    granted = POLICY.permissions_of(principal)
    return frozenset(forum for forum, perm in FORUM_PERMISSION.items() if perm in granted)


def require_forum(principal: Principal, forum: Forum) -> None:
    require(principal, FORUM_PERMISSION[forum])
