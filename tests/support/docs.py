"""Parts of the README that are generated from the code, so they cannot drift:
who publishes and consumes which subject (from each service's AsyncAPI
document), every service's settings (from its settings class) and every
route with who may call it (from the roles each route declares).

`python -m tests.support.docs` rewrites them; `tests/test_docs.py` fails while
the README is out of date."""

from __future__ import annotations

import importlib
import re
from collections import defaultdict

from fastapi.routing import APIRoute, iter_route_contexts
from faststream.specification import AsyncAPI
from pydantic_settings import BaseSettings
from starlette.routing import Route

from shared.settings import ServiceSettings

from .infra import ROOT
from .processes import SERVICES

README = ROOT / "README.md"


def _apps():
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.app")
        settings_module = importlib.import_module(f"services.{name}.settings")
        settings_class = next(v for k, v in vars(settings_module).items()
                              if isinstance(v, type) and issubclass(v, ServiceSettings)
                              and v is not ServiceSettings)
        settings = settings_class(database_url="sqlite+aiosqlite:///:memory:", admin_token="docs" * 5)
        yield name, module.create_app(settings), settings_class


def subjects_table() -> str:
    publishers: dict[str, set[str]] = defaultdict(set)
    consumers: dict[str, set[str]] = defaultdict(set)
    for name, app, _ in _apps():
        spec = AsyncAPI(app.state.runtime.bus.broker).to_specification().to_jsonable()
        for operation in spec["operations"].values():
            channel_id = operation["channel"]["$ref"].split("/")[-1]
            subject = spec["channels"][channel_id]["address"]
            if operation["action"] == "send":
                publishers[subject].add(name)
            else:
                consumers[subject].add(f"{name} (`{channel_id}`)")
    rows = ["| subject | published by | consumed by (durable consumer) |", "| --- | --- | --- |"]
    for subject in sorted(set(publishers) | set(consumers)):
        rows.append(f"| `{subject}` | {', '.join(sorted(publishers[subject])) or '—'} | "
                    f"{'<br>'.join(sorted(consumers[subject])) or '—'} |")
    return "\n".join(rows)


def _env_name(settings_class: type[BaseSettings], field: str, info) -> str:
    alias = info.validation_alias
    if alias is not None:
        choices = getattr(alias, "choices", [alias])
        return " / ".join(c for c in choices if isinstance(c, str) and c.upper() == c) or field
    return (settings_class.model_config.get("env_prefix", "") + field).upper()


def _default(info) -> str:
    if info.default_factory is not None:
        return "(generated)"
    value = info.default
    if value is None or value == "":
        return "—"
    return f"`{getattr(value, 'value', value)}`"


_USUAL = {
    "host": "Address to listen on (0.0.0.0 in a container).",
    "port": "HTTP port.",
    "database_url": "SQLAlchemy URL of this service's own database "
    "(postgresql+asyncpg://… in production, sqlite+aiosqlite:///… embedded).",
}


def settings_tables() -> str:
    shared_fields = set(ServiceSettings.model_fields) - {"host", "port"}
    parts = ["Shared by every service:", "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for field, info in ServiceSettings.model_fields.items():
        if field in shared_fields:
            parts.append(f"| `{_env_name(ServiceSettings, field, info)}` | {_default(info)} | {info.description or ''} |")
    for name, _, settings_class in _apps():
        parts += ["", f"**{name}**:", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        for field, info in settings_class.model_fields.items():
            if field in shared_fields:
                continue
            meaning = (info.description or _USUAL.get(field, "")).replace("|", "/")
            parts.append(f"| `{_env_name(settings_class, field, info)}` | {_default(info)} | {meaning} |")
    return "\n".join(parts)


UNDECLARED = "**undeclared**"


def declared_routes() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(service, method, path, roles) of every route of every app; roles are
    what the route declares with shared.http.roles (empty when it does not)."""
    found = []
    for name, app, _ in _apps():
        for route in iter_route_contexts(app.routes):
            if isinstance(route.original_route, APIRoute):
                who = tuple((route.openapi_extra or {}).get("x-heartline-roles", ()))
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    found.append((name, method, route.path, who))
            elif isinstance(route.original_route, Route) and route.path == "/metrics":
                found.append((name, "GET", "/metrics", ("public",) if app.docs_url else ("admin",)))
    return found


def routes_table() -> str:
    rows = ["| service | method | path | who may call it |", "| --- | --- | --- | --- |"]
    for service, method, path, who in declared_routes():
        rows.append(f"| {service} | {method} | `{path}` | {', '.join(who) or UNDECLARED} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    for marker, content in (("subjects", subjects_table()), ("settings", settings_tables()),
                            ("routes", routes_table())):
        readme = re.sub(
            rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->",
            lambda _m, c=content, k=marker: f"<!-- {k}:start -->\n{c}\n<!-- {k}:end -->",
            readme, flags=re.S,
        )
    return readme


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    print("README.md regenerated")
