"""One MSE viewer: a subscriber of its rung whose fragments go out over a WebSocket.

The viewer is a consumer like a WHEP viewer (its Subscriber starts a lazy rung, counts in
the rung's viewers, asks for an IDR on join and is cut back to the next keyframe when it
falls behind, the drops counted in the rung's). Per viewer there is nothing but the send:
the fragments are the rung's (relay.mse.rung). A WebSocket that does not drain holds its
sender, the subscriber's bounded queue fills, and the viewer skips to the next keyframe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from relay.fanout.rendition import Subscriber
from relay.mse.rung import MseRung

log = logging.getLogger(__name__)

# A head of queue older than this is skipped to the newest keyframe (or a fresh one asked
# for): a picture that late is worth less than the live one (rule 4).
LIVE_LAG_S = 1.0

SendBytes = Callable[[bytes], Awaitable[None]]
SendJson = Callable[[dict[str, Any]], Awaitable[None]]


class MseViewer:
    """Sends one rung's init segment and then its fragments, from a keyframe on."""

    def __init__(self, rung: MseRung, name: str, who: str, remote: str) -> None:
        self.rung, self.name, self.who, self.remote = rung, name, who, remote
        self.created = time.monotonic()
        self.skipped = 0  # frames skipped to stay live (a late backlog)
        self.sent_bytes = 0
        self._wakeup: asyncio.Future[None] | None = None
        rung.attach()
        self.subscriber: Subscriber = rung.rendition.subscribe(name, self._wake)

    @property
    def dropped(self) -> int:
        return self.subscriber.dropped + self.skipped

    @property
    def delivered(self) -> int:
        return self.subscriber.delivered

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def run(self, send_bytes: SendBytes, send_json: SendJson) -> None:
        """Sends until the subscriber is closed or a send fails (the caller closes)."""
        subscriber, rung = self.subscriber, self.rung
        sent_init: bytes | None = None
        while not subscriber.closed:
            self.skipped += subscriber.skip_to_live(int(LIVE_LAG_S * 1e9))
            item = subscriber.pop()
            if item is None:
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
                continue
            fragment = rung.fragment(item)
            if item.keyframe and rung.init is not None and rung.init is not sent_init:
                # First keyframe, or the SPS changed: the browser reconfigures its buffer.
                await send_json(
                    {
                        "type": "init",
                        "codec": rung.codec,
                        "width": rung.size[0],
                        "height": rung.size[1],
                        "rendition": rung.rendition.name,
                    }
                )
                await send_bytes(rung.init)
                sent_init = rung.init
            if sent_init is None:
                continue  # no parameter sets seen yet: wait for an IDR that has them
            await send_bytes(fragment)
            self.sent_bytes += len(fragment)

    def close(self) -> None:
        """Unsubscribes (the rung may go idle); safe to call twice."""
        if not self.subscriber.closed:
            self.subscriber.close()
            self.rung.detach()
        self._wake()

    def status(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "transport": "mse",
            "rendition": self.rung.rendition.name,
            "packets": self.delivered,
            "dropped": self.dropped,
            "bytes": self.sent_bytes,
        }
