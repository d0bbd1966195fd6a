"""Dispatch's HTTP doors (the coordinators' API)."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response

from shared.contracts import Category, RequestStatus, Urgency
from shared.http import PageParams, Principal, counted, roles
from shared.runtime import Runtime

from . import assignments, console_reads
from .communities import CommunityDirectory
from .loops import QueueSweeper
from .schemas import (
    ActionIn,
    AssignIn,
    AssignmentOut,
    CancelIn,
    CandidatesOut,
    HistoryOut,
    NoteIn,
    NoteOut,
    RequestOut,
    Text,
)
from .settings import DispatchSettings

# How far back the queue's age filters reach (ten years, in minutes): past
# that a date is not a request's age but an error (and an overflow).
MAX_AGE_MINUTES = 10 * 366 * 24 * 60
Age = Annotated[float | None, Query(ge=0, le=MAX_AGE_MINUTES, allow_inf_nan=False,
                                    description=f"Minutes since the request was received, at most {MAX_AGE_MINUTES}.")]
COORDINATORS = roles("coordinator", "admin")


def router(runtime: Runtime, settings: DispatchSettings, sweeper: QueueSweeper,
           directory: CommunityDirectory) -> APIRouter:
    """Every door is for coordinators (inside their scope: `directory.tree`) and admins."""
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]

    @api.get("/requests", response_model=list[RequestOut], tags=["queue"],
             summary="The queue, most urgent and most vulnerable first; X-Total-Count has the total",
             openapi_extra=COORDINATORS)
    async def list_requests(
        caller: Caller,
        page: PageParams,
        response: Response,
        status: RequestStatus | None = None,
        community: Annotated[Text | None, Query(max_length=64)] = None,
        category: Category | None = None,
        urgency: Urgency | None = None,
        min_age_minutes: Age = None,
        max_age_minutes: Age = None,
    ) -> list[RequestOut]:
        filters = dict(status=status, community=community, category=category, urgency=urgency,
                       min_age_minutes=min_age_minutes, max_age_minutes=max_age_minutes)
        async with runtime.db.transaction() as session:
            rows, total = await console_reads.list_requests(session=session, principal=caller, filters=filters,
                                                            limit=page.limit, offset=page.offset, tree=directory.tree)
        return counted(response, rows, total)

    @api.get("/requests/{request_id}", response_model=RequestOut, tags=["queue"], openapi_extra=COORDINATORS)
    async def get_request(request_id: UUID, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await console_reads.get_request(session=session, principal=caller, request_id=str(request_id),
                                                   tree=directory.tree)

    @api.get("/requests/{request_id}/history", response_model=HistoryOut, tags=["queue"],
             summary="Every status change (who, when, why), offer and note", openapi_extra=COORDINATORS)
    async def history(request_id: UUID, caller: Caller) -> HistoryOut:
        async with runtime.db.transaction() as session:
            return await console_reads.history(session=session, principal=caller, request_id=str(request_id),
                                               tree=directory.tree)

    @api.get("/requests/{request_id}/candidates", response_model=CandidatesOut, tags=["queue"],
             summary="Teams that could take it, ranked, and why every other team was left out",
             openapi_extra=COORDINATORS)
    async def candidates(request_id: UUID, caller: Caller) -> CandidatesOut:
        async with runtime.db.transaction() as session:
            return await console_reads.candidates(session=session, principal=caller, request_id=str(request_id),
                                                  settings=settings, tree=directory.tree)

    @api.post("/requests/{request_id}/assign", response_model=RequestOut, tags=["queue"],
              summary="Offer to a chosen team of the request's community (or of its district, for a district "
                      "coordinator), or move it from its current team, with a reason", openapi_extra=COORDINATORS)
    async def assign(request_id: UUID, caller: Caller, body: AssignIn) -> RequestOut:
        async with runtime.db.transaction() as session:
            result = await assignments.assign_manually(session=session, principal=caller, request_id=str(request_id),
                                                       body=body, settings=settings, tree=directory.tree)
        sweeper.wake()  # a previous team's unit came free
        return result

    @api.post("/requests/{request_id}/cancel", response_model=RequestOut, tags=["queue"], openapi_extra=COORDINATORS)
    async def cancel(request_id: UUID, caller: Caller, body: CancelIn) -> RequestOut:
        async with runtime.db.transaction() as session:
            result = await assignments.cancel_request(session=session, principal=caller, request_id=str(request_id),
                                                      actor=caller.subject, reason=body.reason, tree=directory.tree)
        sweeper.wake()
        return result

    @api.post("/requests/{request_id}/notes", response_model=NoteOut, status_code=201, tags=["queue"],
              openapi_extra=COORDINATORS)
    async def add_note(request_id: UUID, caller: Caller, body: NoteIn) -> NoteOut:
        async with runtime.db.transaction() as session:
            return await assignments.add_note(session=session, principal=caller, request_id=str(request_id), text=body.text,
                                          tree=directory.tree)

    @api.get("/stats", tags=["stats"],
             summary="Open requests, demand against on-duty capacity, time percentiles, SLA breaches",
             openapi_extra=COORDINATORS)
    async def stats(caller: Caller) -> dict[str, Any]:
        async with runtime.db.transaction() as session:
            return await console_reads.stats(session=session, principal=caller, tree=directory.tree)

    @api.post("/assignments/{assignment_id}/{action}", response_model=AssignmentOut,
              tags=["assignments"], summary="Accept, decline, start or complete on a team's behalf",
              openapi_extra=COORDINATORS)
    async def act(
        assignment_id: UUID,
        action: Literal["accept", "decline", "start", "complete"],
        caller: Caller,
        body: Annotated[ActionIn | None, Body()] = None,
    ) -> AssignmentOut:
        async with runtime.db.transaction() as session:
            result = await assignments.act_on_assignment(
                session=session, principal=caller, assignment_id=str(assignment_id), action=action,
                actor=caller.subject, reason=body.reason if body else None, tree=directory.tree,
            )
        if action in ("decline", "complete"):
            sweeper.wake()  # capacity came free
        return result

    return api
