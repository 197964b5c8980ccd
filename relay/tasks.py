"""Ending an asyncio task that its owner started: cancel it and wait until it has ended."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancels `task` (None: nothing to end) and waits for it; its cancellation is expected."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
