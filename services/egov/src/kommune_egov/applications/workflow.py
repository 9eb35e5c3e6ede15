"""The application workflow: every status, every transition and who may make it, in one place.

::

    submitted -> acknowledged -> approved -> completed
    submitted | acknowledged | info_provided -> needs_info -> info_provided
    every open status -> rejected (caseworker) | withdrawn (applicant)

Caseworkers (of the responsible department) acknowledge, ask for information, approve, reject
and complete; the applicant provides the information asked for and may withdraw while the case
is open. ``rejected``, ``completed`` and ``withdrawn`` are final. An illegal move is a 409 that
names the moves the caller may make from the current status.
"""

from __future__ import annotations

from enum import StrEnum

from kommune.errors import Conflict


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    NEEDS_INFO = "needs_info"
    INFO_PROVIDED = "info_provided"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class Actor(StrEnum):
    APPLICANT = "applicant"
    CASEWORKER = "caseworker"
    SYSTEM = "system"
    """The service itself (the submission of a work order by a sensor alert)."""


S = ApplicationStatus

FINAL: frozenset[ApplicationStatus] = frozenset({S.REJECTED, S.COMPLETED, S.WITHDRAWN})
OPEN: frozenset[ApplicationStatus] = frozenset(ApplicationStatus) - FINAL

TRANSITIONS: dict[Actor, dict[ApplicationStatus, frozenset[ApplicationStatus]]] = {
    Actor.CASEWORKER: {
        S.SUBMITTED: frozenset({S.ACKNOWLEDGED, S.NEEDS_INFO, S.REJECTED}),
        S.ACKNOWLEDGED: frozenset({S.NEEDS_INFO, S.APPROVED, S.REJECTED}),
        S.NEEDS_INFO: frozenset({S.REJECTED}),
        S.INFO_PROVIDED: frozenset({S.NEEDS_INFO, S.APPROVED, S.REJECTED}),
        S.APPROVED: frozenset({S.COMPLETED}),
    },
    Actor.APPLICANT: {
        S.SUBMITTED: frozenset({S.WITHDRAWN}),
        S.ACKNOWLEDGED: frozenset({S.WITHDRAWN}),
        S.NEEDS_INFO: frozenset({S.INFO_PROVIDED, S.WITHDRAWN}),
        S.INFO_PROVIDED: frozenset({S.WITHDRAWN}),
    },
    Actor.SYSTEM: {},
}

NOTE_REQUIRED: frozenset[ApplicationStatus] = frozenset({S.NEEDS_INFO, S.INFO_PROVIDED, S.REJECTED})
"""Asking for information, providing it and rejecting need a note (the question, the answer,
the reason)."""

GERMAN_LABELS: dict[ApplicationStatus, str] = {
    S.SUBMITTED: "Eingegangen",
    S.ACKNOWLEDGED: "In Bearbeitung",
    S.NEEDS_INFO: "Rückfrage",
    S.INFO_PROVIDED: "Angaben nachgereicht",
    S.APPROVED: "Bewilligt",
    S.REJECTED: "Abgelehnt",
    S.COMPLETED: "Abgeschlossen",
    S.WITHDRAWN: "Zurückgezogen",
}


def allowed_moves(actor: Actor, current: ApplicationStatus) -> list[ApplicationStatus]:
    """The statuses ``actor`` may move an application in ``current`` to (sorted)."""
    return sorted(TRANSITIONS[actor].get(current, frozenset()))


def check_move(actor: Actor, current: ApplicationStatus, target: ApplicationStatus) -> None:
    """409 unless ``actor`` may move from ``current`` to ``target``."""
    allowed = allowed_moves(actor, current)
    if target not in allowed:
        names = ", ".join(allowed) if allowed else "none"
        raise Conflict(
            f"A {actor} cannot move an application from {current} to {target}; "
            f"allowed from {current}: {names}.",
            current_status=str(current),
            allowed=[str(s) for s in allowed],
        )
