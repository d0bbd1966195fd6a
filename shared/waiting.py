"""Waiting for a wake-up with a time limit, safely.

`asyncio.wait_for` on Python 3.11 can swallow a cancellation that arrives as
the awaited thing finishes, leaving a background loop that never stops;
`asyncio.timeout` does not, so every loop here waits through this."""

from __future__ import annotations

import asyncio


async def wake_or_timeout(event: asyncio.Event, seconds: float) -> bool:
    """Waits until `event` is set or `seconds` pass; True if it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
        return True
    except TimeoutError:
        return False
