"""What operators get: images that hold one service and shared/, manifests
that are hardened, and a migrate command that a Job can run."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.support.infra import ROOT
from tests.support.processes import SERVICES


def test_the_image_holds_only_its_service_and_shared() -> None:
    copies = [line.split()[1] for line in (ROOT / "deploy/Dockerfile").read_text().splitlines()
              if line.startswith("COPY")]
    assert copies == ["requirements.lock", "shared/", "services/__init__.py", "services/${SERVICE}/"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_deployment_is_hardened_and_probed(service: str) -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / f"deploy/k8s/{service}.yaml").read_text())}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HEARTLINE_RUN_MIGRATIONS"]["value"] == "false", "the migrate Job runs migrations"
    assert docs["Job"]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "migrate"


def test_compose_waits_for_healthy_dependencies() -> None:
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    for service in SERVICES:
        spec = compose["services"][service]
        assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert spec["depends_on"]["nats"]["condition"] == "service_healthy"
        assert spec["build"]["args"]["SERVICE"] == service


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_command_creates_the_schema(service: str, tmp_path) -> None:
    database = tmp_path / f"{service}.db"
    env = {"PATH": "/usr/bin:/bin", f"{service.upper()}_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
           "HEARTLINE_ADMIN_TOKEN": "x" * 20}
    result = subprocess.run([sys.executable, "-m", f"services.{service}", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    listing = (f"import sqlite3; print(sorted(r[0] for r in sqlite3.connect({str(database)!r})"
               ".execute(\"select name from sqlite_master where type='table'\")))")
    tables = subprocess.run([sys.executable, "-c", listing],
                            capture_output=True, text=True).stdout
    assert "outbox" in tables and "processed_events" in tables and "alembic_version" in tables
