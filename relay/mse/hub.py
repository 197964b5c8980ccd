"""All MSE viewers of a relay, and one MseRung per rendition while it has MSE viewers."""

from __future__ import annotations

import logging
import secrets

from relay.fanout.rendition import Rendition
from relay.mse.rung import MseRung
from relay.mse.viewer import MseViewer

log = logging.getLogger(__name__)


class MseHub:
    """Creates MSE viewers; the rung's fMP4 state lives while it has at least one."""

    def __init__(self) -> None:
        self.rungs: dict[tuple[str, str], MseRung] = {}
        self.viewers: dict[str, tuple[str, MseViewer]] = {}  # id -> (stream, viewer)

    def count(self, stream: str | None = None, who: str | None = None) -> int:
        return sum(
            1
            for s, v in self.viewers.values()
            if (stream is None or s == stream) and (who is None or v.who == who)
        )

    def join(self, stream: str, rendition: Rendition, who: str, remote: str) -> MseViewer:
        key = (stream, rendition.name)
        rung = self.rungs.get(key)
        if rung is None or rung.rendition is not rendition:  # a reload replaced the rung
            rung = self.rungs[key] = MseRung(rendition)
        viewer_id = secrets.token_hex(3)
        viewer = MseViewer(rung, viewer_id, who, remote)
        self.viewers[viewer_id] = (stream, viewer)
        log.info("[mse %s] %s/%s for %s from %s", viewer_id, stream, rendition.name, who, remote)
        return viewer

    def leave(self, viewer: MseViewer) -> None:
        viewer.close()
        entry = self.viewers.pop(viewer.name, None)
        if entry is None:
            return
        rung = viewer.rung
        if rung.viewers <= 0:
            key = (entry[0], rung.rendition.name)
            if self.rungs.get(key) is rung:
                del self.rungs[key]
