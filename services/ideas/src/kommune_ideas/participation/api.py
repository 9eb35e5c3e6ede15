"""Endorsement and follow endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Response, status

from kommune.auth.principal import Principal
from kommune.db import DbSession
from kommune.routing import service_router
from kommune_ideas.access import Permission, requires
from kommune_ideas.participation.schemas import EndorsementOut
from kommune_ideas.participation.service import ParticipationService

MayEndorse = Annotated[Principal, Depends(requires(Permission.ENDORSE))]
MayFollow = Annotated[Principal, Depends(requires(Permission.FOLLOW))]

router = service_router("/api/v1/ideas/{idea_id}", tags=["participation"])


@router.post(
    "/endorsement",
    status_code=status.HTTP_201_CREATED,
    summary="MayEndorse an idea (once per person; 409 the second time)",
)
async def endorse(idea_id: uuid.UUID, session: DbSession, principal: MayEndorse) -> EndorsementOut:
    return await ParticipationService(session).endorse(principal, idea_id)


@router.delete(
    "/endorsement",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw your endorsement (404 if you have none)",
)
async def withdraw_endorsement(
    idea_id: uuid.UUID, session: DbSession, principal: MayEndorse
) -> Response:
    await ParticipationService(session).withdraw(principal, idea_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/follow", status_code=status.HTTP_204_NO_CONTENT, summary="MayFollow an idea")
async def follow(idea_id: uuid.UUID, session: DbSession, principal: MayFollow) -> Response:
    await ParticipationService(session).follow(principal, idea_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/follow", status_code=status.HTTP_204_NO_CONTENT, summary="Stop following")
async def unfollow(idea_id: uuid.UUID, session: DbSession, principal: MayFollow) -> Response:
    await ParticipationService(session).unfollow(principal, idea_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
