"""Volunteers' HTTP doors."""


from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from shared.clock import utcnow
from shared.http import FieldError, PageParams, Principal, Problem, counted, require_admin, roles
from shared.runtime import Runtime

from . import communities, coordinators, csv_io, ledger, members, registrations, teams
from .access_schemas import (
    CODE,
    CommunityFields,
    CommunityIn,
    CommunityOut,
    CoordinatorIn,
    CoordinatorOut,
    CoordinatorTokenOut,
    RevokedOut,
)
from .doors import Doors
from .schemas import (
    AdjustmentIn,
    ApproveIn,
    CheckinIn,
    CheckinOut,
    DutyOut,
    FormTokenOut,
    LeaderOutRow,
    LedgerEntryOut,
    MemberIn,
    MemberOut,
    MemberPatch,
    MoveIn,
    MoveOut,
    PointsOut,
    RegistrationDoorIn,
    RegistrationIn,
    RegistrationOut,
    RegistrationReceivedOut,
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
STAFF = roles("coordinator", "admin")  # coordinators within their scope, admins everywhere
ADMIN = roles("admin")
PUBLIC = roles("public")
MAX_DUTY_LOOKAHEAD = timedelta(days=366)


def router(runtime: Runtime, settings: VolunteersSettings, clock: Clock, doors: Doors) -> APIRouter:
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]

    async def admin_only(caller: Caller) -> Principal:
        require_admin(caller)  # before the body is read: a coordinator learns nothing from a 422
        return caller

    AdminCaller = Annotated[Principal, Depends(admin_only)]
    db = runtime.db

    @api.get("/skills", response_model=list[SkillOut], tags=["teams"],
             summary="The skills catalogue and the request categories each serves", openapi_extra=PUBLIC)
    async def list_skills() -> list[SkillOut]:
        return [SkillOut(skill=s, categories=sorted(c)) for s, c in sorted(SKILL_CATEGORIES.items())]

    # --- communities
    @api.post("/communities", status_code=201, response_model=CommunityOut, tags=["communities"],
              summary="Add a community, district or city (admin only); published", openapi_extra=ADMIN)
    async def create_community(body: CommunityIn, caller: AdminCaller) -> CommunityOut:
        async with db.transaction() as session:
            return await communities.create_community(session=session, principal=caller, body=body, now=clock())

    @api.put("/communities/{code}", response_model=CommunityOut, tags=["communities"],
             summary="Replace a community's fields (admin only); published with a new version", openapi_extra=ADMIN)
    async def replace_community(code: Annotated[str, Path(pattern=CODE)], body: CommunityFields,
                                caller: AdminCaller) -> CommunityOut:
        async with db.transaction() as session:
            return await communities.replace_community(session=session, principal=caller, code=code, body=body,
                                                       now=clock())

    @api.get("/communities", response_model=list[CommunityOut], tags=["communities"], openapi_extra=STAFF)
    async def list_communities(caller: Caller, page: PageParams, response: Response,
                               level: Literal["city", "district", "community"] | None = None,
                               parent: Annotated[str | None, Query(max_length=64)] = None) -> list[CommunityOut]:
        async with db.transaction() as session:
            found, total = await communities.list_communities(session=session, level=level, parent=parent,
                                                              limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    @api.get("/communities/{code}", response_model=CommunityOut, tags=["communities"], openapi_extra=STAFF)
    async def get_community(code: Annotated[str, Path(max_length=64)], caller: Caller) -> CommunityOut:
        async with db.transaction() as session:
            return await communities.get_community(session=session, code=code)

    @api.post("/import/communities", tags=["bulk"], openapi_extra=roles("admin", extra={"requestBody": {"content": {
                  "application/geo+json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}}}}),
              summary="Import communities from a GeoJSON FeatureCollection or a CSV: every entry or none")
    async def import_communities(caller: AdminCaller, body: bytes = Body(media_type="application/geo+json")) -> dict:
        async with db.transaction() as session:
            return await communities.import_communities(session=session, principal=caller, text=_utf8(body),
                                                        now=clock())

    # --- teams
    @api.post("/teams", status_code=201, response_model=TeamOut, tags=["teams"], openapi_extra=STAFF)
    async def create_team(body: TeamIn, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.create_team(session=session, principal=caller, body=body, settings=settings, now=clock())

    @api.get("/teams", response_model=list[TeamOut], tags=["teams"], openapi_extra=STAFF)
    async def list_teams(
        caller: Caller,
        page: PageParams,
        response: Response,
        community: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[TeamOut]:
        async with db.transaction() as session:
            found, total = await teams.list_teams(session=session, principal=caller, community=community,
                                                  limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    @api.get("/teams/{team_id}", response_model=TeamOut, tags=["teams"], openapi_extra=STAFF)
    async def get_team(team_id: UUID, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.get_team(session=session, principal=caller, team_id=str(team_id))

    @api.patch("/teams/{team_id}", response_model=TeamOut, tags=["teams"], openapi_extra=STAFF)
    async def update_team(team_id: UUID, body: TeamPatch, caller: Caller) -> TeamOut:
        async with db.transaction() as session:
            return await teams.update_team(session=session, principal=caller, team_id=str(team_id), patch=body,
                                           settings=settings, now=clock())

    @api.delete("/teams/{team_id}", status_code=204, tags=["teams"], openapi_extra=STAFF)
    async def delete_team(team_id: UUID, caller: Caller) -> Response:
        async with db.transaction() as session:
            await teams.delete_team(session=session, principal=caller, team_id=str(team_id), settings=settings, now=clock())
        return Response(status_code=204)

    # --- shifts
    @api.put("/teams/{team_id}/schedule", response_model=ScheduleOut, tags=["shifts"],
             summary="Replace the team's weekly shifts, one-off shifts and exceptions", openapi_extra=STAFF)
    async def put_schedule(team_id: UUID, body: ScheduleIn, caller: Caller) -> ScheduleOut:
        async with db.transaction() as session:
            return await teams.put_schedule(session=session, principal=caller, team_id=str(team_id), body=body,
                                            settings=settings, now=clock())

    @api.get("/teams/{team_id}/schedule", response_model=ScheduleOut, tags=["shifts"], openapi_extra=STAFF)
    async def get_schedule(team_id: UUID, caller: Caller) -> ScheduleOut:
        async with db.transaction() as session:
            return await teams.get_schedule(session=session, principal=caller, team_id=str(team_id))

    @api.get("/teams/{team_id}/duty", response_model=DutyOut, tags=["shifts"],
             summary="On duty and effective capacity now, or at a given moment", openapi_extra=STAFF)
    async def get_duty(team_id: UUID, caller: Caller, at: datetime | None = None) -> DutyOut:
        moment = at if at is not None and at.tzinfo is not None else clock()
        if abs(moment - clock()) > MAX_DUTY_LOOKAHEAD:
            raise Problem(422, "Invalid request", "at: within a year of now",
                          [FieldError("at", "must be within a year of now")])
        async with db.transaction() as session:
            return await teams.duty_at(session=session, principal=caller, team_id=str(team_id), at=moment,
                                       settings=settings)

    # --- members
    @api.post("/teams/{team_id}/members", status_code=201, response_model=MemberOut, tags=["members"], openapi_extra=STAFF)
    async def add_member(team_id: UUID, body: MemberIn, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.add_member(session=session, principal=caller, team_id=str(team_id), body=body,
                                            settings=settings, now=clock())

    @api.get("/teams/{team_id}/members", response_model=list[MemberOut], tags=["members"], openapi_extra=STAFF)
    async def list_members(team_id: UUID, caller: Caller) -> list[MemberOut]:
        async with db.transaction() as session:
            return await members.list_members(session=session, principal=caller, team_id=str(team_id),
                                              settings=settings, now=clock())

    @api.get("/members/{member_id}", response_model=MemberOut, tags=["members"], openapi_extra=STAFF)
    async def get_member(member_id: UUID, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.get_member(session=session, principal=caller, member_id=str(member_id),
                                            settings=settings, now=clock())

    @api.patch("/members/{member_id}", response_model=MemberOut, tags=["members"], openapi_extra=STAFF)
    async def update_member(member_id: UUID, body: MemberPatch, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.update_member(session=session, principal=caller, member_id=str(member_id), patch=body,
                                               settings=settings, now=clock())

    @api.post("/members/{member_id}/move", response_model=MemberOut, tags=["members"], openapi_extra=STAFF)
    async def move_member(member_id: UUID, body: MoveIn, caller: Caller) -> MemberOut:
        async with db.transaction() as session:
            return await members.move_member(session=session, principal=caller, member_id=str(member_id),
                                             to_team_id=str(body.team_id), reason=body.reason, settings=settings,
                                             now=clock())

    @api.get("/members/{member_id}/moves", response_model=list[MoveOut], tags=["members"], openapi_extra=STAFF)
    async def member_moves(member_id: UUID, caller: Caller) -> list[MoveOut]:
        async with db.transaction() as session:
            return await members.member_moves(session=session, principal=caller, member_id=str(member_id))

    @api.post("/members/{member_id}/checkins", status_code=201, response_model=CheckinOut, tags=["health"],
              summary="Record the member's health check-in for today (community's local day)", openapi_extra=STAFF)
    async def check_in(member_id: UUID, body: CheckinIn, caller: Caller) -> CheckinOut:
        async with db.transaction() as session:
            return await members.check_in_by_coordinator(session=session, principal=caller, member_id=str(member_id),
                                                         status=body.status, settings=settings, now=clock())

    # --- points
    @api.post("/members/{member_id}/points", status_code=201, response_model=LedgerEntryOut, tags=["points"],
              summary="Adjust a member's points with a reason (coordinators of the member's community)", openapi_extra=STAFF)
    async def adjust_points(member_id: UUID, body: AdjustmentIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await ledger.adjust_points(session=session, principal=caller, member_id=str(member_id),
                                              points=body.points, reason=body.reason, now=clock())

    @api.get("/members/{member_id}/points", response_model=PointsOut, tags=["points"],
             summary="A member's points: the ledger with the reason for every entry", openapi_extra=STAFF)
    async def member_points(member_id: UUID, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await ledger.points_of(session=session, principal=caller, member_id=str(member_id))

    @api.get("/leaderboard", response_model=list[LeaderOutRow], tags=["points"], openapi_extra=STAFF)
    async def leaderboard(caller: Caller, community: Annotated[str, Query(max_length=64)],
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict]:
        async with db.transaction() as session:
            return await ledger.leaderboard(session=session, principal=caller, community=community, limit=limit)

    # --- self-registration
    @api.post("/registrations", status_code=201, response_model=RegistrationReceivedOut, tags=["registrations"],
              summary="Register as a volunteer (public: a form token and its proof of work); pending until a "
              "coordinator decides", openapi_extra=PUBLIC)
    async def register(body: RegistrationDoorIn, request: Request) -> dict:
        doors.admit(request)
        doors.check_region(body.phone)
        async with db.transaction() as session:
            await doors.spend(session, form="registration", token=body.form_token, solution=body.pow)
            return await registrations.register(session=session, body=RegistrationIn(**body.model_dump(
                exclude={"form_token", "pow"})), now=clock())

    @api.get("/form-token", response_model=FormTokenOut, tags=["registrations"], openapi_extra=PUBLIC,
             summary="A single-use token for a public form, and the proof-of-work difficulty it needs")
    async def form_token(form: Literal["registration", "checkin"], request: Request) -> dict:
        doors.admit(request)
        return doors.issue(form)

    @api.get("/registrations", response_model=list[RegistrationOut], tags=["registrations"],
              openapi_extra=STAFF)
    async def list_registrations(
        caller: Caller,
        page: PageParams,
        community: Annotated[str | None, Query(max_length=64)] = None,
        status: Literal["pending", "approved", "rejected"] | None = None,
    ) -> list[dict]:
        async with db.transaction() as session:
            return await registrations.list_registrations(session=session, principal=caller, community=community,
                                                          status=status, limit=page.limit, offset=page.offset)

    @api.post("/registrations/{registration_id}/approve", response_model=RegistrationOut, tags=["registrations"],
              openapi_extra=STAFF)
    async def approve(registration_id: UUID, body: ApproveIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await registrations.approve_registration(session=session, principal=caller,
                                                            registration_id=str(registration_id), body=body,
                                                            settings=settings, now=clock())

    @api.post("/registrations/{registration_id}/reject", response_model=RegistrationOut, tags=["registrations"],
              openapi_extra=STAFF)
    async def reject(registration_id: UUID, body: RejectIn, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await registrations.reject_registration(session=session, principal=caller,
                                                           registration_id=str(registration_id), reason=body.reason,
                                                           now=clock())

    # --- bulk CSV
    @api.post("/import/{kind}", tags=["bulk"],
              summary="Import teams, members or shifts from CSV: every row or none (422 lists each bad row)",
              openapi_extra=roles("coordinator", "admin",
                                  extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}}))
    async def import_csv(kind: Literal["teams", "members", "shifts"], caller: Caller,
                         body: bytes = Body(media_type="text/csv")) -> dict:
        async with db.transaction() as session:
            return await csv_io.import_csv(session=session, principal=caller, kind=kind, text=_utf8(body),
                                           settings=settings, now=clock())

    @api.get("/export/{kind}.csv", tags=["bulk"], response_class=Response,
             summary="Export teams, members or shifts as CSV (the import's columns)", openapi_extra=STAFF)
    async def export_csv(kind: Literal["teams", "members", "shifts"], caller: Caller,
                         community: Annotated[str | None, Query(max_length=64)] = None) -> Response:
        async with db.transaction() as session:
            text = await csv_io.export_csv(session=session, principal=caller, kind=kind, community=community)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})

    # --- coordinators
    @api.post("/coordinators", status_code=201, response_model=CoordinatorTokenOut, tags=["coordinators"],
              summary="Create a coordinator and issue their token (admin only)", openapi_extra=ADMIN)
    async def create_coordinator(body: CoordinatorIn, caller: AdminCaller) -> dict:
        async with db.transaction() as session:
            return await coordinators.create_coordinator(session=session, principal=caller, body=body,
                                                         secret=runtime.token_secret, settings=settings, now=utcnow())

    @api.get("/coordinators", response_model=list[CoordinatorOut], tags=["coordinators"], openapi_extra=ADMIN)
    async def list_coordinators(caller: Caller) -> list[dict]:
        async with db.transaction() as session:
            return await coordinators.list_coordinators(session=session, principal=caller)

    @api.post("/coordinators/{coordinator_id}/token", response_model=CoordinatorTokenOut,
              tags=["coordinators"], summary="Issue a fresh token (admin only)", openapi_extra=ADMIN)
    async def reissue_token(coordinator_id: UUID, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await coordinators.reissue_token(session=session, principal=caller, coordinator_id=str(coordinator_id),
                                                    secret=runtime.token_secret, settings=settings, now=utcnow())

    @api.post("/coordinators/{coordinator_id}/revoke", response_model=RevokedOut, tags=["coordinators"],
              summary="Revoke every unexpired token of a coordinator (admin only)", openapi_extra=ADMIN)
    async def revoke_tokens(coordinator_id: UUID, caller: Caller) -> dict:
        async with db.transaction() as session:
            return await coordinators.revoke_all(session=session, principal=caller, coordinator_id=str(coordinator_id),
                                                 now=utcnow())

    @api.post("/auth/refresh", response_model=CoordinatorTokenOut, tags=["coordinators"],
              summary="Trade a coordinator's valid token for a new one; the old one is revoked",
              openapi_extra=roles("coordinator"))
    async def refresh(caller: Caller) -> dict:
        async with db.transaction() as session:
            return await coordinators.refresh_token(session=session, principal=caller, secret=runtime.token_secret,
                                                    settings=settings, now=utcnow())

    @api.post("/auth/sign-out", status_code=204, tags=["coordinators"], summary="Revoke the caller's own token",
              openapi_extra=roles("coordinator"))
    async def sign_out(caller: Caller) -> Response:
        async with db.transaction() as session:
            await coordinators.sign_out(session=session, principal=caller, now=utcnow())
        return Response(status_code=204)

    return api


def _utf8(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(422, "Invalid file", "the file must be UTF-8", [FieldError("body", "not UTF-8")]) from None
    if "\x00" in text:  # PostgreSQL text cannot hold it
        raise Problem(422, "Invalid file", "the file must not contain NUL characters",
                      [FieldError("body", "contains NUL characters")])
    return text
