"""Small public HTML forms: the volunteer registration a QR "call-up" opens
(/register?community=…), and a member's daily health check-in (through the
secret link in their member record).  No account needed, no script."""


from collections.abc import Callable
from datetime import datetime
from html import escape

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from shared.http import Problem
from shared.runtime import Runtime

from . import service
from .schemas import CheckinStatus, RegistrationIn
from .settings import VolunteersSettings
from .skills import SKILL_CATEGORIES

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:1em auto;padding:0 1em">{body}</body></html>"""
_LABELS = {"ok": "健康 / OK", "unwell": "身体不适 / Unwell", "quarantine": "隔离中 / In quarantine"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def router(runtime: Runtime, cfg: VolunteersSettings, clock: Callable[[], datetime]) -> APIRouter:
    forms = APIRouter(tags=["forms"], include_in_schema=True)
    db = runtime.db

    @forms.get("/checkin/{key}", response_class=HTMLResponse, summary="Health check-in form")
    async def checkin_form(key: str) -> HTMLResponse:
        async with db.transaction() as session:
            member = await service.member_for_checkin_key(session, key)
        options = "".join(
            f'<p><label><input type="radio" name="status" value="{v}" required> {label}</label></p>'
            for v, label in _LABELS.items()
        )
        return _page("每日健康打卡", f"<h1>每日健康打卡 · Daily check-in</h1><p>{escape(member.name)}</p>"
                     f'<form method="post">{options}<button type="submit">提交 / Submit</button></form>')

    @forms.post("/checkin/{key}", response_class=HTMLResponse, summary="Submit the health check-in form")
    async def checkin_submit(key: str, status: CheckinStatus = Form()) -> HTMLResponse:
        async with db.transaction() as session:
            member = await service.member_for_checkin_key(session, key)
            checkin = await service.check_in(session, member, status, "form", clock(), cfg)
        return _page("已提交", f"<h1>谢谢 · Thank you</h1><p>{escape(checkin.day.isoformat())}: "
                     f"{escape(_LABELS[status])}</p>")

    @forms.get("/register", response_class=HTMLResponse, summary="Volunteer registration form")
    async def registration_form(community: str = "") -> HTMLResponse:
        return _registration_page(community)

    @forms.post("/register", response_class=HTMLResponse, summary="Submit the volunteer registration form")
    async def registration_submit(
        name: str = Form(""), phone: str = Form(""), community: str = Form(""),
        availability: str = Form(""), skills: list[str] = Form(default_factory=list),
    ) -> HTMLResponse:
        try:
            body = RegistrationIn(name=name, phone=phone, community=community,
                                  availability=availability or None, skills=skills)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return _registration_page(community, errors, dict(name=name, phone=phone, availability=availability))
        try:
            async with db.transaction() as session:
                await service.register(session, body, clock())
        except Problem as problem:
            return _registration_page(community, [problem.detail or problem.title],
                                      dict(name=name, phone=phone, availability=availability), problem.status)
        return _page("已登记", "<h1>谢谢报名 · Thank you</h1><p>社区负责人会尽快联系您。"
                     "A coordinator will contact you.</p>", 201)

    return forms


def _registration_page(community: str, errors: list[str] | None = None, values: dict | None = None,
                       status: int | None = None) -> HTMLResponse:
    values = values or {}
    skills = "".join(f'<label><input type="checkbox" name="skills" value="{escape(s)}"> {escape(s)}</label><br>'
                     for s in sorted(SKILL_CATEGORIES))
    shown = "".join(f"<li>{escape(e)}</li>" for e in errors or [])
    body = (
        "<h1>志愿者报名 · Volunteer registration</h1>"
        + (f'<ul style="color:#b00">{shown}</ul>' if shown else "")
        + '<form method="post">'
        f'<input type="hidden" name="community" value="{escape(community)}">'
        f'<p><label>姓名 Name<br><input name="name" required value="{escape(values.get("name", ""))}"></label></p>'
        f'<p><label>手机 Phone (+86…)<br><input name="phone" required value="{escape(values.get("phone", ""))}"></label></p>'
        f"<p>技能 Skills<br>{skills}</p>"
        f'<p><label>可服务时间 Availability<br><input name="availability" value="{escape(values.get("availability", ""))}"></label></p>'
        '<button type="submit">提交 / Submit</button></form>'
    )
    return _page("志愿者报名", body, status or (422 if errors else 200))
