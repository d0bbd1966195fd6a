"""Volunteers' HTTP doors."""


from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response

from shared.http import FieldError, PageParams, Principal, Problem
from shared.runtime import Runtime

from . import coordinators, csv_io, ledger, members, registrations, teams
from .schemas import (
    AdjustmentIn,
    ApproveIn,
    CheckinIn,
    CheckinOut,
    CoordinatorIn,
    CoordinatorOut,
    CoordinatorTokenOut,
    DutyOut,
    LeaderOutRow,
    LedgerEntryOut,
    MemberIn,
    MemberOut,
    MemberPatch,
    MoveIn,
    MoveOut,
    PointsOut,
    RegistrationIn,
    RegistrationOut,
    RejectIn,
    ScheduleIn,
    ScheduleOut,
    SkillOut,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from .settings import VolunteersSettings
from .skills import SKILL_CATEGORIES

Clock = Callable[[], datetime]


def router(runtime: Runtime, settings: VolunteersSettings, clock: Clock) -> APIRouter:
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]
    db = runtime.db

    @api.get("/skills", response_model=list[SkillOut], tags=["teams"],
             summary="The skills catalogue and the request categories each serves")
    async def list_skills() -> list[SkillOut]:
        return [SkillOut(skill=s, categories=sorted(c)) for s, c in sorted(SKILL_CATEGORIES.items())]

    # --- teams
    @api.post("/teams", status_code=201, response_model=TeamOut, tags=["teams"])
    async def create_team(body: TeamIn, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.create_team(session=session, principal=caller, body=body, settings=settings, now=clock())

    @api.get("/teams", response_model=list[TeamOut], tags=["teams"])
    async def list_teams(
        caller: Caller,
        page: PageParams,
        community: str | None = None,
    ) -> list[TeamOut]:
        async with db.transaction() as session:
            return await teams.list_teams(session=session, community=community, limit=page.limit, offset=page.offset)

    @api.get("/teams/{team_id}", response_model=TeamOut, tags=["teams"])
    async def get_team(team_id: UUID, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.get_team(session=session, team_id=str(team_id))

    @api.patch("/teams/{team_id}", response_model=TeamOut, tags=["teams"])
    async def update_team(team_id: UUID, body: TeamPatch, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.update_team(session=session, principal=caller, team_id=str(team_id), patch=body,
                                           settings=settings, now=clock())

    @api.delete("/teams/{team_id}", status_code=204, tags=["teams"])
    async def delete_team(team_id: UUID, caller: Caller) -> Response:
        async with db.transaction() as session:
            await teams.delete_team(session=session, principal=caller, team_id=str(team_id), settings=settings, now=clock())
        return Response(status_code=204)

    # --- shifts
    @api.put("/teams/{team_id}/schedule", response_model=ScheduleOut, tags=["shifts"],
             summary="Replace the team's weekly shifts, one-off shifts and exceptions")
    async def put_schedule(team_id: UUID, body: ScheduleIn, caller: Caller) -> ScheduleOut:
        async with db.transaction() as session:
            return await teams.put_schedule(session=session, principal=caller, team_id=str(team_id), body=body,
                                            settings=settings, now=clock())

    @api.get("/teams/{team_id}/schedule", response_model=ScheduleOut, tags=["shifts"])
    async def get_schedule(team_id: UUID, caller: Caller) -> ScheduleOut:
        async with db.transaction() as session:
            return await teams.get_schedule(session=session, team_id=str(team_id))

    @api.get("/teams/{team_id}/duty", response_model=DutyOut, tags=["shifts"],
             summary="On duty and effective capacity now, or at a given moment")
    async def get_duty(team_id: UUID, caller: Caller, at: datetime | None = None) -> DutyOut:
        moment = at if at is not None and at.tzinfo is not None else clock()
        async with db.transaction() as session:
            return await teams.duty_at(session=session, team_id=str(team_id), at=moment, settings=settings)

    # --- members
    @api.post("/teams/{team_id}/members", status_code=201, response_model=MemberOut, tags=["members"])
    async def add_member(team_id: UUID, body: MemberIn, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.add_member(session=session, principal=caller, team_id=str(team_id), body=body,
                                            settings=settings, now=clock())

    @api.get("/teams/{team_id}/members", response_model=list[MemberOut], tags=["members"])
    async def list_members(team_id: UUID, caller: Caller) -> list[MemberOut]:
        async with db.transaction() as session:
            return await members.list_members(session=session, principal=caller, team_id=str(team_id),
                                              settings=settings, now=clock())

    @api.get("/members/{member_id}", response_model=MemberOut, tags=["members"])
    async def get_member(member_id: UUID, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.get_member(session=session, principal=caller, member_id=str(member_id),
                                            settings=settings, now=clock())

    @api.patch("/members/{member_id}", response_model=MemberOut, tags=["members"])
    async def update_member(member_id: UUID, body: MemberPatch, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.update_member(session=session, principal=caller, member_id=str(member_id), patch=body,
                                               settings=settings, now=clock())

    @api.post("/members/{member_id}/move", response_model=MemberOut, tags=["members"])
    async def move_member(member_id: UUID, body: MoveIn, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.move_member(session=session, principal=caller, member_id=str(member_id),
                                             to_team_id=str(body.team_id), reason=body.reason, settings=settings,
                                             now=clock())

    @api.get("/members/{member_id}/moves", response_model=list[MoveOut], tags=["members"])
    async def member_moves(member_id: UUID, caller: Caller) -> list[MoveOut]:
        async with db.transaction() as session:
            return await members.member_moves(session=session, member_id=str(member_id))

    @api.post("/members/{member_id}/checkins", status_code=201, response_model=CheckinOut, tags=["health"],
              summary="Record the member's health check-in for today (community's local day)")
    async def check_in(member_id: UUID, body: CheckinIn, caller: Caller) -> CheckinOut:
        async with db.transaction() as session:
            return await members.check_in_by_coordinator(session=session, principal=caller, member_id=str(member_id),
                                                         status=body.status, settings=settings, now=clock())

    # --- points
    @api.post("/members/{member_id}/points", status_code=201, response_model=LedgerEntryOut, tags=["points"],
              summary="Adjust a member's points with a reason (coordinators of the member's community)")
    async def adjust_points(member_id: UUID, body: AdjustmentIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await ledger.adjust_points(session=session, principal=caller, member_id=str(member_id),
                                              points=body.points, reason=body.reason, now=clock())

    @api.get("/members/{member_id}/points", response_model=PointsOut, tags=["points"],
             summary="A member's points: the ledger with the reason for every entry")
    async def member_points(member_id: UUID, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await ledger.points_of(session=session, member_id=str(member_id))

    @api.get("/leaderboard", response_model=list[LeaderOutRow], tags=["points"])
    async def leaderboard(caller: Caller, community: str,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict]:
        async with db.transaction() as session:
            return await ledger.leaderboard(session=session, community=community, limit=limit)

    # --- self-registration
    @api.post("/registrations", status_code=201, response_model=RegistrationOut, tags=["registrations"],
              summary="Register as a volunteer (public: no token); pending until a coordinator decides")
    async def register(body: RegistrationIn) -> dict:
        async with db.transaction() as session:
            return await registrations.register(session=session, body=body, now=clock())

    @api.get("/registrations", response_model=list[RegistrationOut], tags=["registrations"])
    async def list_registrations(
        caller: Caller,
        page: PageParams,
        community: str | None = None,
        status: Literal["pending", "approved", "rejected"] | None = None,
    ) -> list[dict]:
        async with db.transaction() as session:
            return await registrations.list_registrations(session=session, principal=caller, community=community,
                                                          status=status, limit=page.limit, offset=page.offset)

    @api.post("/registrations/{registration_id}/approve", response_model=RegistrationOut, tags=["registrations"])
    async def approve(registration_id: UUID, body: ApproveIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await registrations.approve_registration(session=session, principal=caller,
                                                            registration_id=str(registration_id), body=body,
                                                            settings=settings, now=clock())

    @api.post("/registrations/{registration_id}/reject", response_model=RegistrationOut, tags=["registrations"])
    async def reject(registration_id: UUID, body: RejectIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await registrations.reject_registration(session=session, principal=caller,
                                                           registration_id=str(registration_id), reason=body.reason,
                                                           now=clock())

    # --- bulk CSV
    @api.post("/import/{kind}", tags=["bulk"],
              summary="Import teams, members or shifts from CSV: every row or none (422 lists each bad row)",
              openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def import_csv(kind: Literal["teams", "members", "shifts"], caller: Caller,
                         body: bytes = Body(media_type="text/csv")) -> dict:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(422, "Invalid CSV", "the file must be UTF-8", [FieldError("body", "not UTF-8")]) from None
        async with db.transaction() as session:
            return await csv_io.import_csv(session=session, principal=caller, kind=kind, text=text,
                                           settings=settings, now=clock())

    @api.get("/export/{kind}.csv", tags=["bulk"], response_class=Response,
             summary="Export teams, members or shifts as CSV (the import's columns)")
    async def export_csv(kind: Literal["teams", "members", "shifts"], caller: Caller,
                         community: str | None = None) -> Response:
        async with db.transaction() as session:
            text = await csv_io.export_csv(session=session, principal=caller, kind=kind, community=community)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})

    # --- coordinators
    @api.post("/coordinators", status_code=201, response_model=CoordinatorTokenOut, tags=["coordinators"],
              summary="Create a coordinator and issue their token (admin only)")
    async def create_coordinator(body: CoordinatorIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await coordinators.create_coordinator(session=session, principal=caller, body=body,
                                                         secret=runtime.token_secret, settings=settings, now=clock())

    @api.get("/coordinators", response_model=list[CoordinatorOut], tags=["coordinators"])
    async def list_coordinators(caller: Caller) -> list[dict]:
        async with db.transaction() as session:
            return await coordinators.list_coordinators(session=session, principal=caller)

    @api.post("/coordinators/{coordinator_id}/token", response_model=CoordinatorTokenOut,
              tags=["coordinators"], summary="Issue a fresh token (admin only)")
    async def reissue_token(coordinator_id: UUID, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await coordinators.reissue_token(session=session, principal=caller, coordinator_id=str(coordinator_id),
                                                    secret=runtime.token_secret, settings=settings)

    return api
