"""The residents' form behind a community's QR code: server-rendered,
mobile-friendly, zh-CN and en, errors shown beside the fields.

A public door, so it is guarded (shared.public_doors): each page carries a
form token the server signed for this community's form, which expires, is
spent once (`used_form_tokens`), and costs a proof of work that /static/pow.js
does in the resident's browser while they type.  Sending the same form again
with the same content answers the same reference; with other content it is
refused.  Each client address (from X-Forwarded-For only behind our trusted
proxies) has its own small budget, apart from the partners' buckets; and only
phones of the deployment's regions are taken."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import phonenumbers
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from shared.clock import utcnow
from shared.http import Principal, Problem, roles
from shared.phones import parse_phone
from shared.public_doors import ChallengeFailed, client_address, issue_form_token, trusted_networks
from shared.runtime import Runtime

from . import form_text, form_tokens, submissions
from .communities import Catalogue
from .ratelimit import TokenBuckets
from .schemas import COMMUNITY_CODE, RequestIn
from .settings import IntakeSettings

CommunityCode = Annotated[str, PathParam(pattern=COMMUNITY_CODE, max_length=64)]
_FIELDS = ("category", "description", "address", "name", "phone", "people", "urgency", "preferred_channel")
POW_SCRIPT = (Path(__file__).parent / "static" / "pow.js").read_bytes()


def form_secret(runtime: Runtime) -> bytes:
    """What signs form tokens: the token secret, else the admin token."""
    return (runtime.token_secret or runtime.admin_token).encode()


def router(runtime: Runtime, settings: IntakeSettings, catalogue: Catalogue) -> APIRouter:
    pages = APIRouter(tags=["residents"])
    templates = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    secret = form_secret(runtime)
    proxies = trusted_networks(settings.trusted_proxies)
    # The form's own buckets, per client address: partners' traffic never spends them.
    limiter = TokenBuckets(settings.form_rate_limit_per_second, settings.form_rate_limit_burst)

    def render(name: str, status: int, lang: str, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(lang=lang, t=form_text.TEXT[lang], **context)
        return HTMLResponse(html, status_code=status)

    def new_token(code: str) -> str:
        return issue_form_token(secret, form=f"intake:{code}", now=utcnow(),
                                lifetime_seconds=settings.form_token_lifetime_seconds, bits=settings.form_pow_bits)

    def form_page(status: int, language: str, code: str, name: str, values: dict[str, Any],
                  errors: dict[str, str]) -> HTMLResponse:
        return render("form.html", status, language, community_name=name, action=f"/form/{code}",
                      categories=form_text.categories(language), values=values, errors=errors,
                      form_token=new_token(code), pow_bits=settings.form_pow_bits)

    def blank_values() -> dict[str, Any]:
        return {"category": "daily_necessities", "description": "", "address": "", "name": "",
                "phone": "", "people": "1", "urgency": "normal", "preferred_channel": "sms",
                "vulnerabilities": []}

    @pages.get("/static/pow.js", summary="The form's proof-of-work script", include_in_schema=True,
               responses={200: {"content": {"text/javascript": {}}}}, openapi_extra=roles("public"))
    async def pow_script() -> Response:
        return Response(POW_SCRIPT, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})

    @pages.get("/form/{code}", response_class=HTMLResponse, summary="The request form for one community",
               responses={404: {"description": "No such community"}}, openapi_extra=roles("public"))
    async def show_form(code: CommunityCode, request: Request, lang: str | None = None) -> HTMLResponse:
        language = form_text.language(lang, request.headers.get("accept-language"))
        place = (await catalogue.current(runtime.db)).form(code)
        if place is None:
            return render("message.html", 404, language, community_name="",
                          message=form_text.TEXT[language]["unknown_community"])
        return form_page(200, language, code, place.name(language), blank_values(), {})

    @pages.post("/form/{code}", response_class=HTMLResponse, summary="Send the community's request form",
                responses={201: {"description": "The confirmation page with the reference"},
                           404: {"description": "No such community"},
                           422: {"description": "The form again, with errors beside the fields"},
                           429: {"description": "Too many submissions from here"}},
                openapi_extra=roles("public", extra={"requestBody": {"content": {
                    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                        name: {"type": "string"}
                        for name in (*_FIELDS, "lang", "form_token", "pow", "vulnerabilities")}}}}}}))
    async def send_form(code: CommunityCode, request: Request) -> HTMLResponse:
        try:
            form = await request.form()
        except Exception:
            form = None
        raw_lang = form.get("lang") if form is not None else None
        language = form_text.language(raw_lang if isinstance(raw_lang, str) else None,
                                      request.headers.get("accept-language"))
        text = form_text.TEXT[language]
        places = await catalogue.current(runtime.db)
        place = places.form(code)
        if place is None:
            return render("message.html", 404, language, community_name="", message=text["unknown_community"])
        name = place.name(language)
        client = client_address(request.client.host if request.client else None,
                                request.headers.get("x-forwarded-for"), proxies)
        if limiter.take(client) > 0:
            return render("message.html", 429, language, community_name=name, message=text["too_many"])

        values = blank_values()
        if form is not None:
            for field in _FIELDS:
                value = form.get(field)
                values[field] = value.strip() if isinstance(value, str) else ""
            values["vulnerabilities"] = [v for v in form.getlist("vulnerabilities") if isinstance(v, str)]
        token = form.get("form_token") if form is not None else None
        solution = form.get("pow") if form is not None else None

        body, errors = _validate(values, code, language, settings.phone_regions)
        if not isinstance(token, str) or not isinstance(solution, str) or not solution or len(token) > 500:
            errors.setdefault("form", form_text.ERRORS[language]["form"])
            return form_page(422, language, code, name, values, errors)
        if body is None:
            return form_page(422, language, code, name, values, errors)
        resident = Principal(role="resident", subject=f"qr:{code}")
        try:
            async with runtime.db.transaction() as session:
                nonce = await form_tokens.spend(session=session, secret=secret, token=token, solution=solution,
                                                form=f"intake:{code}", owner=resident.subject)
            async with runtime.db.autocommit() as session:
                submission = await submissions.submit(
                    session=session, principal=resident, new_request=submissions.NewRequest.from_partner(body),
                    idempotency_key=nonce, fingerprint_of=body.model_dump(mode="json"), settings=settings,
                    catalogue=places)
        except (ChallengeFailed, Problem):
            # A forged, expired, unsolved or spent token, or the same form sent
            # again with other content: start afresh.
            return form_page(422, language, code, name, values, {"form": form_text.ERRORS[language]["form"]})
        return render("confirmation.html", 201, language, community_name=name,
                      reference=submission.request.reference)

    return pages


def _validate(values: dict[str, Any], code: str, language: str,
              regions: list[str]) -> tuple[RequestIn | None, dict[str, str]]:
    """The form as a request, or a localised message per bad field."""
    messages = form_text.ERRORS[language]
    errors: dict[str, str] = {}
    phone = values["phone"]
    try:
        phone = parse_phone(phone, national_region=regions[0] if regions else "CN")
        if phonenumbers.region_code_for_number(phonenumbers.parse(phone)) not in regions:
            raise ValueError("not a number of this deployment's regions")
    except (ValueError, phonenumbers.NumberParseException):
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
