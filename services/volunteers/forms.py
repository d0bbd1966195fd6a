"""Volunteers' HTML doors: the registration form a QR "call-up" opens
(/register?community=…), and a member's daily health check-in (through the
secret link in their member record).  No account needed; pages are Jinja
templates (templates/) with every value escaped, each carrying a single-use
form token whose proof of work /static/pow.js (served here: the CSP allows
only our own scripts) computes before the form is sent."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from shared.http import Problem, roles
from shared.runtime import Runtime

from . import members, registrations
from .doors import POW_JS, Doors
from .schemas import CheckinStatus, RegistrationIn
from .settings import VolunteersSettings
from .skills import SKILL_CATEGORIES

CHECKIN_LABELS = {"ok": "健康 / OK", "unwell": "身体不适 / Unwell", "quarantine": "隔离中 / In quarantine"}


PUBLIC = roles("public")


def router(runtime: Runtime, settings: VolunteersSettings, clock: Callable[[], datetime], doors: Doors) -> APIRouter:
    forms = APIRouter(tags=["forms"], include_in_schema=True)
    db = runtime.db
    templates = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(template).render(**context), status_code=status)

    def registration_page(community: str, errors: list[str] | None = None, values: dict[str, str] | None = None,
                          status: int | None = None) -> HTMLResponse:
        return render("registration.html", status or (422 if errors else 200), community=community,
                      errors=errors or [], values=values or {}, skills=sorted(SKILL_CATEGORIES),
                      proof=doors.issue("registration"))

    @forms.get("/static/pow.js", response_class=Response, summary="The forms' proof-of-work script",
               openapi_extra=PUBLIC)
    async def pow_js() -> Response:
        return Response(POW_JS, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})

    @forms.get("/checkin/{key}", response_class=HTMLResponse, summary="Health check-in form", openapi_extra=PUBLIC)
    async def checkin_form(key: Annotated[str, PathParam(max_length=64)]) -> HTMLResponse:
        async with db.transaction() as session:
            member = await members.member_for_checkin_key(session=session, key=key)
        return render("checkin.html", name=member.name, labels=CHECKIN_LABELS, proof=doors.issue("checkin"))

    @forms.post("/checkin/{key}", response_class=HTMLResponse, summary="Submit the health check-in form",
                openapi_extra=PUBLIC)
    async def checkin_submit(request: Request, key: Annotated[str, PathParam(max_length=64)],
                             status: CheckinStatus = Form(), form_token: str = Form("", max_length=512),
                             pow: str = Form("", max_length=32)) -> HTMLResponse:
        doors.admit(request)
        async with db.transaction() as session:
            member = await members.member_for_checkin_key(session=session, key=key)
            await doors.spend(session, form="checkin", token=form_token, solution=pow)
            checkin = await members.check_in(session=session, member=member, status=status, channel="form",
                                             settings=settings, now=clock())
        return render("checkin_done.html", day=checkin.day.isoformat(), label=CHECKIN_LABELS[status])

    @forms.get("/register", response_class=HTMLResponse, summary="Volunteer registration form", openapi_extra=PUBLIC)
    async def registration_form(community: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
        return registration_page(community)

    @forms.post("/register", response_class=HTMLResponse, summary="Submit the volunteer registration form",
                openapi_extra=PUBLIC)
    async def registration_submit(
        request: Request,
        name: str = Form("", max_length=100), phone: str = Form("", max_length=30),
        community: str = Form("", max_length=64), availability: str = Form("", max_length=500),
        skills: list[str] = Form(default_factory=list), form_token: str = Form("", max_length=512),
        pow: str = Form("", max_length=32),
    ) -> HTMLResponse:
        doors.admit(request)
        values = dict(name=name, phone=phone, availability=availability)
        try:
            body = RegistrationIn(name=name, phone=phone, community=community,
                                  availability=availability or None, skills=skills)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return registration_page(community, errors, values)
        try:
            doors.check_region(body.phone)
            async with db.transaction() as session:
                await doors.spend(session, form="registration", token=form_token, solution=pow)
                await registrations.register(session=session, body=body, now=clock())
        except Problem as problem:
            return registration_page(community, [problem.detail or problem.title], values, problem.status)
        return render("registered.html", 201)

    return forms
