"""Dispatch's HTTP doors (the coordinators' API)."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response

from shared.contracts import Category, RequestStatus, Urgency
from shared.http import PageParams, Principal, counted
from shared.runtime import Runtime

from . import assignments, console_reads
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
)
from .settings import DispatchSettings


def router(runtime: Runtime, settings: DispatchSettings, sweeper: QueueSweeper) -> APIRouter:
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]

    @api.get("/requests", response_model=list[RequestOut], tags=["queue"],
             summary="The queue, most urgent and most vulnerable first; X-Total-Count has the total")
    async def list_requests(
        caller: Caller,
        page: PageParams,
        response: Response,
        status: RequestStatus | None = None,
        community: Annotated[str | None, Query(max_length=64)] = None,
        category: Category | None = None,
        urgency: Urgency | None = None,
        min_age_minutes: Annotated[float | None, Query(ge=0)] = None,
        max_age_minutes: Annotated[float | None, Query(ge=0)] = None,
    ) -> list[RequestOut]:
        filters = dict(status=status, community=community, category=category, urgency=urgency,
                       min_age_minutes=min_age_minutes, max_age_minutes=max_age_minutes)
        async with runtime.db.transaction() as session:
            rows, total = await console_reads.list_requests(session=session, principal=caller, filters=filters,
                                                            limit=page.limit, offset=page.offset)
        return counted(response, rows, total)

    @api.get("/requests/{request_id}", response_model=RequestOut, tags=["queue"])
    async def get_request(request_id: UUID, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await console_reads.get_request(session=session, principal=caller, request_id=str(request_id))

    @api.get("/requests/{request_id}/history", response_model=HistoryOut, tags=["queue"],
             summary="Every status change (who, when, why), offer and note")
    async def history(request_id: UUID, caller: Caller) -> HistoryOut:
        async with runtime.db.transaction() as session:
            return await console_reads.history(session=session, principal=caller, request_id=str(request_id))

    @api.get("/requests/{request_id}/candidates", response_model=CandidatesOut, tags=["queue"],
             summary="Teams that could take it, ranked, and why every other team was left out")
    async def candidates(request_id: UUID, caller: Caller) -> CandidatesOut:
        async with runtime.db.transaction() as session:
            return await console_reads.candidates(session=session, principal=caller, request_id=str(request_id),
                                                  settings=settings)

    @api.post("/requests/{request_id}/assign", response_model=RequestOut, tags=["queue"],
              summary="Offer to a chosen team, or move it from its current team, with a reason")
    async def assign(request_id: UUID, caller: Caller, body: AssignIn) -> RequestOut:
        async with runtime.db.transaction() as session:
            result = await assignments.assign_manually(session=session, principal=caller, request_id=str(request_id),
                                                       body=body, settings=settings)
        sweeper.wake()  # a previous team's unit came free
        return result

    @api.post("/requests/{request_id}/cancel", response_model=RequestOut, tags=["queue"])
    async def cancel(request_id: UUID, caller: Caller, body: CancelIn) -> RequestOut:
        async with runtime.db.transaction() as session:
            result = await assignments.cancel_request(session=session, principal=caller, request_id=str(request_id),
                                                      actor=caller.subject, reason=body.reason)
        sweeper.wake()
        return result

    @api.post("/requests/{request_id}/notes", response_model=NoteOut, status_code=201, tags=["queue"])
    async def add_note(request_id: UUID, caller: Caller, body: NoteIn) -> NoteOut:
        async with runtime.db.transaction() as session:
            return await assignments.add_note(session=session, principal=caller, request_id=str(request_id), text=body.text)

    @api.get("/stats", tags=["stats"],
             summary="Open requests, demand against on-duty capacity, time percentiles, SLA breaches")
    async def stats(caller: Caller) -> dict[str, Any]:
        async with runtime.db.transaction() as session:
            return await console_reads.stats(session=session, principal=caller)

    @api.post("/assignments/{assignment_id}/{action}", response_model=AssignmentOut,
              tags=["assignments"], summary="Accept, decline, start or complete on a team's behalf")
    async def act(
        assignment_id: UUID,
        action: Literal["accept", "decline", "start", "complete"],
        caller: Caller,
        body: Annotated[ActionIn | None, Body()] = None,
    ) -> AssignmentOut:
        async with runtime.db.transaction() as session:
            result = await assignments.act_on_assignment(
                session=session, principal=caller, assignment_id=str(assignment_id), action=action,
                actor=caller.subject, reason=body.reason if body else None,
            )
        if action in ("decline", "complete"):
            sweeper.wake()  # capacity came free
        return result

    return api
