"""The idea status workflow: every status, every transition and who may perform it — in one place.

Both ways of changing a status go through :func:`check_transition`: the status endpoint
(``Channel.DIRECT``) and an outcome recorded in an innovation circle's minutes
(``Channel.CIRCLE``). Nothing else writes ``Idea.status``.

::

    idea ──► in_progress ──► implemented
      │           └────────► rejected
      └──► for_decision ──► in_progress
                  └───────► rejected

* A change agent moves **their own** ideas to ``in_progress``, ``implemented`` or
  ``for_decision``. In a circle's minutes the change agents act together, so a change agent
  recording an outcome may do so for any idea.
* Only a project lead decides: every transition out of ``for_decision``, and rejecting an idea
  that is in progress.
* ``admin`` may perform every transition; no role may skip the arrows above.
* Every change needs a note (the official answer shown with the idea); ``rejected`` also needs
  a reason, and only ``rejected`` takes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kommune.auth.principal import Principal, Role
from kommune.errors import Conflict, Forbidden, InvalidInput


class IdeaStatus(StrEnum):
    IDEA = "idea"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    REJECTED = "rejected"
    FOR_DECISION = "for_decision"


GERMAN_LABELS: dict[IdeaStatus, str] = {
    IdeaStatus.IDEA: "Idee",
    IdeaStatus.IN_PROGRESS: "In Bearbeitung",
    IdeaStatus.IMPLEMENTED: "Umgesetzt",
    IdeaStatus.REJECTED: "Verworfen",
    IdeaStatus.FOR_DECISION: "Idee zur Entscheidung",
}
"""The city's own words (Change Agent Forum, Ideenspeicher); staff know them from the intranet."""

INITIAL_STATUS = IdeaStatus.IDEA
EDITABLE_STATUSES: frozenset[IdeaStatus] = frozenset({IdeaStatus.IDEA})
"""The author edits the text of an idea only while nobody has acted on it yet."""
LEADERS_FORUM_OPEN: frozenset[IdeaStatus] = frozenset({IdeaStatus.FOR_DECISION})
"""The leaders discuss an idea (write to their forum) while it waits for their decision."""
OUT_OF_STORE: frozenset[IdeaStatus] = frozenset({IdeaStatus.FOR_DECISION})
"""An "Idee zur Entscheidung" has moved to the leaders' forum: it is not in the Ideenspeicher for
all staff until the leaders decide (only readers with ``Permission.READ_UNDECIDED`` see it)."""


class Channel(StrEnum):
    DIRECT = "direct"
    """``POST /api/v1/ideas/{id}/status``."""
    CIRCLE = "circle"
    """An outcome recorded in the minutes of an innovation circle."""


class Actor(StrEnum):
    AUTHOR = "author"
    """The change agent who posted the idea."""
    CIRCLE = "circle"
    """A change agent recording the outcome of an innovation circle."""
    PROJECT_LEAD = "project_lead"
    ADMIN = "admin"


_AUTHOR_OR_CIRCLE = frozenset({Actor.AUTHOR, Actor.CIRCLE, Actor.ADMIN})
_LEADS = frozenset({Actor.PROJECT_LEAD, Actor.ADMIN})

TRANSITIONS: dict[tuple[IdeaStatus, IdeaStatus], frozenset[Actor]] = {
    (IdeaStatus.IDEA, IdeaStatus.IN_PROGRESS): _AUTHOR_OR_CIRCLE,
    (IdeaStatus.IDEA, IdeaStatus.FOR_DECISION): _AUTHOR_OR_CIRCLE,
    (IdeaStatus.IN_PROGRESS, IdeaStatus.IMPLEMENTED): _AUTHOR_OR_CIRCLE,
    (IdeaStatus.IN_PROGRESS, IdeaStatus.REJECTED): _LEADS,
    (IdeaStatus.FOR_DECISION, IdeaStatus.IN_PROGRESS): _LEADS,
    (IdeaStatus.FOR_DECISION, IdeaStatus.REJECTED): _LEADS,
}
"""(from, to) → who may perform it. A pair that is missing is not a transition (409)."""

WORKFLOW_ROLES: frozenset[Role] = frozenset({Role.CHANGE_AGENT, Role.PROJECT_LEAD, Role.ADMIN})
"""Roles that take part in the workflow at all; everybody else gets 403 before anything else."""


@dataclass(frozen=True, slots=True)
class TransitionCheck:
    source: IdeaStatus
    target: IdeaStatus
    actors: frozenset[Actor]

    @property
    def is_decision(self) -> bool:
        """The leaders decided on an idea that was up for decision."""
        return self.source == IdeaStatus.FOR_DECISION


def allowed_targets(source: IdeaStatus) -> list[IdeaStatus]:
    return [target for (src, target) in TRANSITIONS if src == source]


def actors_of(principal: Principal, *, author_id: str, channel: Channel) -> frozenset[Actor]:
    actors: set[Actor] = set()
    if principal.has_any(Role.ADMIN):
        actors.add(Actor.ADMIN)
    if principal.has_any(Role.CHANGE_AGENT):
        if principal.sub == author_id:
            actors.add(Actor.AUTHOR)
        if channel == Channel.CIRCLE:
            actors.add(Actor.CIRCLE)
    if principal.has_any(Role.PROJECT_LEAD):
        actors.add(Actor.PROJECT_LEAD)
    return frozenset(actors)


def permitted_targets(
    principal: Principal, *, author_id: str, source: IdeaStatus, channel: Channel
) -> list[IdeaStatus]:
    """The statuses ``principal`` may move an idea in ``source`` to (shown with the idea)."""
    actors = actors_of(principal, author_id=author_id, channel=channel)
    return [
        target
        for (src, target), permitted in TRANSITIONS.items()
        if src == source and actors & permitted
    ]


def may_edit(principal: Principal, *, author_id: str, status: IdeaStatus) -> bool:
    """The author (a change agent) edits the text while the status is ``idea``; admins too."""
    if status not in EDITABLE_STATUSES:
        return False
    if principal.has_any(Role.ADMIN):
        return True
    return principal.has_any(Role.CHANGE_AGENT) and principal.sub == author_id


def check_edit(principal: Principal, *, author_id: str, status: IdeaStatus) -> None:
    is_author = principal.has_any(Role.CHANGE_AGENT) and principal.sub == author_id
    if not (is_author or principal.has_any(Role.ADMIN)):
        raise Forbidden("Only the author edits an idea.")
    if status not in EDITABLE_STATUSES:
        raise Conflict(
            f"An idea can be edited only in status 'idea'; this one is '{status}'.",
            current_status=str(status),
        )


def check_transition(
    principal: Principal,
    *,
    author_id: str,
    source: IdeaStatus,
    target: IdeaStatus,
    channel: Channel,
    note: str,
    reason: str | None,
) -> TransitionCheck:
    """Raise the problem that stops this change, or return what the change is.

    Order of checks: may the caller take part in the workflow at all (403) → is it a transition
    (409) → may the caller perform it (403) → note and reason (422).
    """
    if not principal.has_any(*WORKFLOW_ROLES):
        raise Forbidden("Only change agents and project leads change the status of an idea.")
    permitted = TRANSITIONS.get((source, target))
    if permitted is None:
        raise Conflict(
            f"An idea in status '{source}' cannot move to '{target}'.",
            current_status=str(source),
            allowed_targets=[str(t) for t in allowed_targets(source)],
        )
    actors = actors_of(principal, author_id=author_id, channel=channel)
    if not actors & permitted:
        if source == IdeaStatus.FOR_DECISION or target == IdeaStatus.REJECTED:
            raise Forbidden("Only a project lead decides on this idea.")
        raise Forbidden("Change agents change the status of their own ideas only.")
    if not note.strip():
        raise InvalidInput("Every status change needs a note.", field="note")
    if target == IdeaStatus.REJECTED and not (reason and reason.strip()):
        raise InvalidInput("Rejecting an idea needs a reason.", field="reason")
    if target != IdeaStatus.REJECTED and reason is not None:
        raise InvalidInput("A reason is given only when an idea is rejected.", field="reason")
    return TransitionCheck(source=source, target=target, actors=actors & permitted)
