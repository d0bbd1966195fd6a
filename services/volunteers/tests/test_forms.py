"""The public HTML forms: a member's check-in link and the registration form,
without an account; every value a user typed comes back escaped."""

from __future__ import annotations

from .conftest import member, proof, team_body


async def test_the_checkin_form_works_without_an_account(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    m = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000031"))).json()
    link = m["checkin_url"]
    page = await volunteers.get(link, headers={"Authorization": ""})
    assert page.status_code == 200 and "Li" in page.text
    assert 'src="/static/pow.js"' in page.text and 'name="form_token"' in page.text
    done = await volunteers.post(link, data={"status": "quarantine", **await proof(volunteers, "checkin")},
                                 headers={"Authorization": ""})
    assert done.status_code == 200
    assert (await volunteers.get(f"/v1/members/{m['id']}")).json()["last_checkin"]["status"] == "quarantine"
    assert (await volunteers.get("/checkin/not-a-key")).status_code == 404
    assert (await volunteers.post(link, data={"status": "fine", **await proof(volunteers, "checkin")})).status_code == 422
    # Without a token, or with a spent one, nothing is recorded.
    assert (await volunteers.post(link, data={"status": "ok"})).status_code == 422
    spent = await proof(volunteers, "checkin")
    assert (await volunteers.post(link, data={"status": "ok", **spent})).status_code == 200
    assert (await volunteers.post(link, data={"status": "unwell", **spent})).status_code == 422
    assert (await volunteers.get(f"/v1/members/{m['id']}")).json()["last_checkin"]["status"] == "ok"


async def test_the_public_form(volunteers) -> None:
    public = {"Authorization": ""}
    page = await volunteers.get("/register", params={"community": "c1"}, headers=public)
    assert page.status_code == 200 and 'value="c1"' in page.text and 'value="delivery"' in page.text
    form = {"name": "Rider Qian", "phone": "+8613600000004", "community": "c1", "skills": ["delivery", "elderly_support"]}
    first = await volunteers.post("/register", data={**form, **await proof(volunteers, "registration")},
                                  headers=public)
    assert first.status_code == 201
    # A known phone gets the very same page, and nothing more is written.
    dup = await volunteers.post("/register", data={**form, **await proof(volunteers, "registration")}, headers=public)
    assert (dup.status_code, dup.text) == (first.status_code, first.text)
    bad = await volunteers.post("/register", data={**form, "phone": "nope"}, headers=public)
    assert bad.status_code == 422 and "phone" in bad.text
    listed = (await volunteers.get("/v1/registrations", params={"community": "c1"})).json()
    assert [(r["name"], r["skills"]) for r in listed] == [("Rider Qian", ["delivery", "elderly_support"])]


async def test_what_people_typed_comes_back_escaped(volunteers) -> None:
    public = {"Authorization": ""}
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    m = (await volunteers.post(f"/v1/teams/{team['id']}/members",
                               json=member("<script>alert(1)</script>", "+8613800000032"))).json()
    page = await volunteers.get(m["checkin_url"], headers=public)
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    form = await volunteers.get("/register", params={"community": '"><script>alert(2)</script>'}, headers=public)
    assert "<script>" not in form.text and "&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in form.text
    typed = {"name": "<script>alert(3)</script>", "phone": "nope", "community": "<b>c1</b>",
             "availability": "<i>evenings</i>"}
    again = await volunteers.post("/register", data=typed, headers=public)
    assert again.status_code == 422
    assert "<script>" not in again.text and "<b>" not in again.text and "<i>" not in again.text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in again.text and "&lt;i&gt;evenings&lt;/i&gt;" in again.text


async def test_the_proof_of_work_script_is_served_here(volunteers) -> None:
    script = await volunteers.get("/static/pow.js", headers={"Authorization": ""})
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "crypto.subtle" in script.text
    page = await volunteers.get("/register", params={"community": "c1"}, headers={"Authorization": ""})
    assert "<script>" not in page.text and 'data-pow-bits="4"' in page.text
