"""Volunteers' HTML doors: the registration form a QR "call-up" opens
(/register?community=…), and a member's daily health check-in (through the
secret link in their member record).  No account needed, no script; pages are
Jinja templates (templates/) with every value escaped."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from shared.http import Problem
from shared.runtime import Runtime

from . import members, registrations
from .schemas import CheckinStatus, RegistrationIn
from .settings import VolunteersSettings
from .skills import SKILL_CATEGORIES

CHECKIN_LABELS = {"ok": "健康 / OK", "unwell": "身体不适 / Unwell", "quarantine": "隔离中 / In quarantine"}


def router(runtime: Runtime, settings: VolunteersSettings, clock: Callable[[], datetime]) -> APIRouter:
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
                      errors=errors or [], values=values or {}, skills=sorted(SKILL_CATEGORIES))

    @forms.get("/checkin/{key}", response_class=HTMLResponse, summary="Health check-in form")
    async def checkin_form(key: str) -> HTMLResponse:
        async with db.transaction() as session:
            member = await members.member_for_checkin_key(session=session, key=key)
        return render("checkin.html", name=member.name, labels=CHECKIN_LABELS)

    @forms.post("/checkin/{key}", response_class=HTMLResponse, summary="Submit the health check-in form")
    async def checkin_submit(key: str, status: CheckinStatus = Form()) -> HTMLResponse:
        async with db.transaction() as session:
            member = await members.member_for_checkin_key(session=session, key=key)
            checkin = await members.check_in(session=session, member=member, status=status, channel="form",
                                             settings=settings, now=clock())
        return render("checkin_done.html", day=checkin.day.isoformat(), label=CHECKIN_LABELS[status])

    @forms.get("/register", response_class=HTMLResponse, summary="Volunteer registration form")
    async def registration_form(community: str = "") -> HTMLResponse:
        return registration_page(community)

    @forms.post("/register", response_class=HTMLResponse, summary="Submit the volunteer registration form")
    async def registration_submit(
        name: str = Form(""), phone: str = Form(""), community: str = Form(""),
        availability: str = Form(""), skills: list[str] = Form(default_factory=list),
    ) -> HTMLResponse:
        values = dict(name=name, phone=phone, availability=availability)
        try:
            body = RegistrationIn(name=name, phone=phone, community=community,
                                  availability=availability or None, skills=skills)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return registration_page(community, errors, values)
        try:
            async with db.transaction() as session:
                await registrations.register(session=session, body=body, now=clock())
        except Problem as problem:
            return registration_page(community, [problem.detail or problem.title], values, problem.status)
        return render("registered.html", 201)

    return forms
