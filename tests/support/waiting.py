"""The one way a test waits for something to happen: poll until it is true, or fail saying what."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def eventually(probe: Callable[[], Any], *, what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Polls `probe` (plain or async) until it returns something truthy, and
    returns that; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {result!r}")
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], Any], *, what: str, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """`eventually` for tests outside an event loop (processes, browsers)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {result!r}")
        time.sleep(interval)
