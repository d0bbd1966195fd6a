"""The residents' form behind a community's QR code: server-rendered,
mobile-friendly, zh-CN and en, errors shown beside the fields."""

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from shared.http import Principal, Problem
from shared.phones import parse_phone
from shared.runtime import Runtime

from . import communities, form_text, submissions
from .ratelimit import TokenBuckets
from .schemas import COMMUNITY_CODE, RequestIn
from .settings import IntakeSettings

CommunityCode = Annotated[str, PathParam(pattern=COMMUNITY_CODE, max_length=64)]
_FIELDS = ("category", "description", "address", "name", "phone", "people", "urgency", "preferred_channel")


def router(runtime: Runtime, settings: IntakeSettings, limiter: TokenBuckets) -> APIRouter:
    pages = APIRouter(prefix="/form", tags=["residents"])
    templates = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def render(name: str, status: int, lang: str, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(lang=lang, t=form_text.TEXT[lang], **context)
        return HTMLResponse(html, status_code=status)

    async def community(code: str):
        async with runtime.db.connect() as session:
            return await communities.find_community(session=session, code=code)

    def blank_values() -> dict[str, Any]:
        return {"category": "daily_necessities", "description": "", "address": "", "name": "",
                "phone": "", "people": "1", "urgency": "normal", "preferred_channel": "sms",
                "vulnerabilities": []}

    @pages.get("/{code}", response_class=HTMLResponse, summary="The request form for one community",
               responses={404: {"description": "No such community"}})
    async def show_form(code: CommunityCode, request: Request, lang: str | None = None) -> HTMLResponse:
        language = form_text.language(lang, request.headers.get("accept-language"))
        place = await community(code)
        if place is None:
            return render("message.html", 404, language, community_name="",
                          message=form_text.TEXT[language]["unknown_community"])
        return render("form.html", 200, language, community_name=place.name, action=f"/form/{code}",
                      categories=form_text.categories(language), values=blank_values(), errors={},
                      form_token=secrets.token_urlsafe(16))

    @pages.post("/{code}", response_class=HTMLResponse, summary="Send the community's request form",
                responses={201: {"description": "The confirmation page with the reference"},
                           404: {"description": "No such community"},
                           422: {"description": "The form again, with errors beside the fields"},
                           429: {"description": "Too many submissions from here"}},
                openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {
                        name: {"type": "string"} for name in (*_FIELDS, "lang", "form_token", "vulnerabilities")}}}}}})
    async def send_form(code: CommunityCode, request: Request) -> HTMLResponse:
        try:
            form = await request.form()
        except Exception:
            form = None
        raw_lang = form.get("lang") if form is not None else None
        language = form_text.language(raw_lang if isinstance(raw_lang, str) else None,
                                      request.headers.get("accept-language"))
        text = form_text.TEXT[language]
        place = await community(code)
        if place is None:
            return render("message.html", 404, language, community_name="", message=text["unknown_community"])
        client = request.client.host if request.client else "unknown"
        if limiter.take(f"form:{client}") > 0:
            return render("message.html", 429, language, community_name=place.name, message=text["too_many"])

        values = blank_values()
        if form is not None:
            for name in _FIELDS:
                value = form.get(name)
                values[name] = value.strip() if isinstance(value, str) else ""
            values["vulnerabilities"] = [v for v in form.getlist("vulnerabilities") if isinstance(v, str)]
        token = form.get("form_token") if form is not None else None
        token = token if isinstance(token, str) and 8 <= len(token) <= 100 else None

        body, errors = _validate(values, code, language)
        if body is None or token is None:
            if token is None:
                errors.setdefault("form", form_text.ERRORS[language]["form"])
            return render("form.html", 422, language, community_name=place.name, action=f"/form/{code}",
                          categories=form_text.categories(language), values=values, errors=errors,
                          form_token=token or secrets.token_urlsafe(16))
        resident = Principal(role="resident", subject=f"qr:{code}")
        try:
            async with runtime.db.autocommit() as session:
                submission = await submissions.submit(
                    session=session, principal=resident, new_request=submissions.NewRequest.from_partner(body),
                    idempotency_key=token, fingerprint_of=body.model_dump(mode="json"), settings=settings)
        except Problem:
            # The same form sent again with other content: start afresh.
            return render("form.html", 422, language, community_name=place.name, action=f"/form/{code}",
                          categories=form_text.categories(language), values=values,
                          errors={"form": form_text.ERRORS[language]["form"]},
                          form_token=secrets.token_urlsafe(16))
        return render("confirmation.html", 201, language, community_name=place.name,
                      reference=submission.request.reference)

    return pages


def _validate(values: dict[str, Any], code: str, language: str) -> tuple[RequestIn | None, dict[str, str]]:
    """The form as a request, or a localised message per bad field."""
    messages = form_text.ERRORS[language]
    errors: dict[str, str] = {}
    phone = values["phone"]
    try:
        phone = parse_phone(phone, national_region="CN")
    except ValueError:
        errors["phone"] = messages["phone"]
    candidate = {
        "category": values["category"],
        "description": values["description"],
        "location": {"address": values["address"], "community": code},
        "requester": {"name": values["name"], "phone": phone, "locale": language,
                      "preferred_channel": values["preferred_channel"] or None},
        "urgency": values["urgency"] or "normal",
        "people": values["people"] or "1",
        "vulnerabilities": values["vulnerabilities"],
        "source": "qr",
    }
    try:
        body = RequestIn.model_validate(candidate)
    except ValidationError as exc:
        for e in exc.errors():
            field = form_text.form_field(tuple(e["loc"]))
            errors.setdefault(field, messages.get(field, messages["form"]))
        return None, errors
    return (None, errors) if errors else (body, {})
