"""Every list pages the same way, and a page out of range is a 422 naming the
parameter, never the database's error."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Response

from shared.http import MAX_OFFSET, PageParams, counted, install_problem_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things")
    async def things(page: PageParams, response: Response) -> list[int]:
        everything = list(range(1000))
        return counted(response, everything[page.offset:page.offset + page.limit], len(everything))

    return app


async def test_pages_and_their_bounds() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
        page = await client.get("/things", params={"limit": 3, "offset": 10})
        assert page.json() == [10, 11, 12] and page.headers["X-Total-Count"] == "1000"
        for params, field in (({"offset": 10**18}, "offset"), ({"offset": MAX_OFFSET + 1}, "offset"),
                              ({"offset": -1}, "offset"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit")):
            refused = await client.get("/things", params=params)
            assert refused.status_code == 422, params
            assert [e["field"] for e in refused.json()["errors"]] == [f"query.{field}"], refused.json()
