"""Privacy masks drawn by operators (docs/privacy.md): who may draw, the limits of a mask,
persistence across a restart, the audit trail, and the next encoded frame of the privacy
rung masked."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from relay.config.privacy import MAX_MASKS, MAX_POINTS
from relay.privacy_store import FILE
from tests.api.test_access import ADMIN, OPERATOR, SMALL, VIEWER_A, auth_config, call
from tests.api.test_public_rendition import share_session
from tests.conftest import SHAREABLE, RelayFactory, RunningRelay, wait_for

TRIANGLE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]
SQUARE = [[0.55, 0.55], [0.9, 0.55], [0.9, 0.9], [0.55, 0.9]]
MASKS = "/api/streams/a/privacy/masks"
STREAMS = [
    {
        "name": "a",
        "source": SMALL,
        "renditions": ["240p", {"name": "360p", "privacy": {"masks": [TRIANGLE]}}],
        "public_rendition": "360p",
    },
    {"name": "b", "source": SMALL, "renditions": ["360p"], **SHAREABLE},
]


async def start(start_relay: RelayFactory, folder: Path | None = None) -> RunningRelay:
    server = {"server": {"data_dir": str(folder)}} if folder else {}
    return await start_relay(STREAMS, auth=auth_config(), **server)


async def draw(relay: RunningRelay, body: dict[str, Any], token: str = OPERATOR) -> Any:
    status, answer = await call(relay, "POST", MASKS, token, json=body)
    assert status == 201, answer
    return answer


def drawn(relay: RunningRelay, stream: str = "a", rung: str = "360p") -> int:
    """How many drawn polygons the rung's privacy stage was handed."""
    encoder = next(e for e in relay.relay.streams[stream].encoders if e.rung.name == rung)
    assert encoder.privacy is not None
    return int(encoder.privacy.status()["drawn_masks"])


async def test_operators_draw_list_and_delete_viewers_may_not(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    created = await draw(relay, {"points": SQUARE})
    assert created["author"] == "elw-operator" and created["rung"] is None
    assert created["points"] == SQUARE and created["created"].endswith("+00:00")
    assert drawn(relay) == 1
    status, body = await call(relay, "GET", MASKS, OPERATOR)
    assert status == 200 and [m["id"] for m in body["masks"]] == [created["id"]]
    assert body["rungs"] == {"360p": [created["id"]]}  # 240p has no privacy stage
    assert body["max_masks"] == MAX_MASKS and body["max_points"] == MAX_POINTS
    named = await draw(relay, {"points": TRIANGLE, "rung": "360p"}, ADMIN)
    assert named["rung"] == "360p" and named["author"] == "chef" and drawn(relay) == 2
    # Viewers and share links: 403 for every method.
    path = f"{MASKS}/{created['id']}"
    for method, where in (("GET", MASKS), ("POST", MASKS), ("DELETE", path)):
        status, body = await call(relay, method, where, VIEWER_A, json={"points": SQUARE})
        assert status == 403 and "operator" in body["reason"], (method, body)
    share = await share_session(relay, "a")
    for method, where in (("GET", MASKS), ("POST", MASKS), ("DELETE", path)):
        status, _ = await call(relay, method, where, headers=share, json={"points": SQUARE})
        assert status == 403, method
    assert (await call(relay, "DELETE", path, OPERATOR))[0] == 204
    assert drawn(relay) == 1
    status, body = await call(relay, "DELETE", path, OPERATOR)
    assert status == 404 and body["error"] == "unknown_mask"
    status, body = await call(relay, "GET", "/api/streams/nope/privacy/masks", ADMIN)
    assert status == 404 and body["error"] == "unknown_stream"
    status, body = await call(relay, "POST", "/api/streams/nope/privacy/masks", ADMIN, json={})
    assert status == 404 and body["error"] == "unknown_stream"


async def test_a_rung_without_privacy_is_409(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    for stream, rung in (("a", "240p"), ("a", "1080p"), ("b", None), ("b", "360p")):
        body = {"points": SQUARE, **({"rung": rung} if rung else {})}
        path = f"/api/streams/{stream}/privacy/masks"
        status, answer = await call(relay, "POST", path, OPERATOR, json=body)
        assert status == 409 and answer["error"] == "no_privacy_rung", (stream, rung, answer)
        assert "privacy" in answer["reason"]
    assert drawn(relay) == 0


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"points": TRIANGLE[:2]}, "bad_points", "at least 3"),
        ({"points": [[0.5, 0.5]] * (MAX_POINTS + 1)}, "bad_points", f"at most {MAX_POINTS}"),
        ({"points": [[0.1, 0.1], [1.5, 0.1], [0.4, 0.5]]}, "bad_points", "at most 1"),
        ({"points": [[0.1, 0.1], [0.2, -0.1], [0.4, 0.5]]}, "bad_points", "at least 0"),
        ({"points": [[0.1, 0.1], [0.2], [0.4, 0.5]]}, "bad_points", "points[1]"),
        ({"points": "0.1,0.1"}, "bad_points", "points"),
        ({}, "bad_points", "points"),
        ({"points": SQUARE, "rung": 360}, "bad_rung", "rung"),
        ({"points": SQUARE, "rung": "x" * 33}, "bad_rung", "at most 32"),
    ],
)
async def test_bad_masks_are_400_with_a_reason(
    start_relay: RelayFactory, body: dict[str, Any], code: str, words: str
) -> None:
    relay = await start(start_relay)
    status, answer = await call(relay, "POST", MASKS, OPERATOR, json=body)
    assert status == 400 and answer["error"] == code, answer
    assert words in answer["reason"], answer
    assert drawn(relay) == 0


async def test_non_finite_and_oversized_bodies_are_refused(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    for number in ("NaN", "Infinity", "-Infinity", "1e999"):
        text = '{"points": [[0.1, 0.1], [NUMBER, 0.2], [0.4, 0.5]]}'.replace("NUMBER", number)
        status, answer = await call(
            relay, "POST", MASKS, OPERATOR, data=text, headers={"Content-Type": "application/json"}
        )
        assert status == 400 and answer["error"] == "bad_points", (number, answer)
    padded = {"points": SQUARE, "note": "x" * 9000}
    status, answer = await call(relay, "POST", MASKS, OPERATOR, json=padded)
    assert status == 413 and answer["error"] == "body_too_large", answer
    assert drawn(relay) == 0


async def test_masks_per_rung_are_limited(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)
    for _ in range(MAX_MASKS - 1):  # the config has one mask on 360p already
        await draw(relay, {"points": SQUARE})
    status, answer = await call(relay, "POST", MASKS, OPERATOR, json={"points": SQUARE})
    assert status == 400 and answer["error"] == "too_many_masks", answer
    assert f"at most {MAX_MASKS}" in answer["reason"]
    assert drawn(relay) == MAX_MASKS - 1


async def test_masks_survive_a_restart_and_are_audited(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start(start_relay, tmp_path)
    kept = await draw(relay, {"points": SQUARE, "rung": "360p"})
    gone = await draw(relay, {"points": TRIANGLE})
    assert (await call(relay, "DELETE", f"{MASKS}/{gone['id']}", ADMIN))[0] == 204
    saved = json.loads((tmp_path / FILE).read_text("utf-8"))
    assert [m["id"] for m in saved["masks"]] == [kept["id"]]
    assert (tmp_path / FILE).stat().st_mode & 0o777 == 0o600
    events = [e for e in relay.relay.audit.read() if e["event"].startswith("mask_")]
    assert [(e["event"], e["id"]) for e in events] == [
        ("mask_created", kept["id"]),
        ("mask_created", gone["id"]),
        ("mask_deleted", gone["id"]),
    ]
    assert events[0]["stream"] == "a" and events[0]["rung"] == "360p"
    assert events[0]["author"] == "elw-operator" and events[0]["points"] == SQUARE
    assert events[2]["who"] == "chef" and events[2]["author"] == "elw-operator"
    # A second relay on the same data folder (a restart) masks with it from the start.
    again = await start(start_relay, tmp_path)
    assert drawn(again) == 1
    status, body = await call(again, "GET", MASKS, OPERATOR)
    assert status == 200 and body["masks"] == [kept]


async def test_a_mask_that_cannot_be_saved_masks_anyway_and_says_so(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start(start_relay, tmp_path)
    (tmp_path / FILE).mkdir()  # a folder where the file goes: the rename over it fails
    (tmp_path / FILE / "x").write_text("x")
    status, answer = await call(relay, "POST", MASKS, OPERATOR, json={"points": SQUARE})
    assert status == 500 and answer["error"] == "not_saved", answer
    assert "restart" in answer["reason"]
    assert drawn(relay) == 1  # on the public rung all the same


async def test_a_hand_edited_file_cannot_smuggle_in_bad_masks(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    good = {"id": "1", "stream": "a", "rung": None, "author": "x", "created": "t"}
    entries = [
        {**good, "points": SQUARE},
        {**good, "id": "2", "points": [[0.1, 0.1], [2, 0.1], [0.4, 0.5]]},
        {**good, "id": "3", "points": SQUARE[:2]},
        {**good, "id": "4", "stream": "gone", "points": SQUARE},
        "junk",
    ]
    (tmp_path / FILE).write_text(json.dumps({"masks": entries}))
    relay = await start(start_relay, tmp_path)
    status, body = await call(relay, "GET", MASKS, OPERATOR)
    assert [m["id"] for m in body["masks"]] == ["1"] and drawn(relay) == 1


class Decoded:
    """A rung's packets as they reach a viewer (a Subscriber, as a WHEP track's), decoded:
    luma planes in order, and by RTP timestamp."""

    def __init__(self, relay: RunningRelay, rung: str) -> None:
        self.subscriber = relay.relay.streams["a"].renditions[rung].subscribe("test", lambda: None)
        self.decoder = av.CodecContext.create("h264", "r")
        self.frames: list[tuple[int, np.ndarray]] = []

    def count(self) -> int:
        while (item := self.subscriber.pop()) is not None:
            for frame in self.decoder.decode(item.packet):
                self.frames.append((item.rtp_timestamp, frame.to_ndarray(format="gray")))
        return len(self.frames)


def square_region(width: int, height: int) -> tuple[slice, slice]:
    """The drawn square's inside, 8 px in from its edges (codec blur at the edge)."""
    return (
        slice(int(0.55 * height) + 8, int(0.9 * height) - 8),
        slice(int(0.55 * width) + 8, int(0.9 * width) - 8),
    )


async def test_a_drawn_mask_is_on_the_next_encoded_frame(start_relay: RelayFactory) -> None:
    """Frames of the privacy rung that reach a viewer after the POST's answer and still show
    the square's inside: at most one (the frame in the stage at the moment of the swap).
    Outside the masks the picture is the unmasked rung's (240p: the same 320x240 size)."""
    relay = await start(start_relay)
    public, plain = Decoded(relay, "360p"), Decoded(relay, "240p")
    try:
        await wait_for(lambda: public.count() >= 10, 20, "ten frames of 360p")
        _, first = public.frames[-1]
        rows, cols = square_region(first.shape[1], first.shape[0])
        assert all(y[rows, cols].std() > 10 for _, y in public.frames), "texture there"
        asked = time.perf_counter()
        await draw(relay, {"points": SQUARE})
        answer_ms = (time.perf_counter() - asked) * 1000
        answered = public.count()
        await wait_for(lambda: public.count() >= answered + 8, 20, "eight frames more")
        plain.count()
    finally:
        public.subscriber.close()
        plain.subscriber.close()
    after = public.frames[answered:]
    masked = [bool(y[rows, cols].mean() < 25 and y[rows, cols].std() < 4) for _, y in after]
    late = masked.index(True)
    print(f"POST answered in {answer_ms:.1f} ms; unmasked frames after the answer: {late}")
    assert late <= 1, f"{late} frames after the answer still unmasked"
    assert all(masked[late:]), masked
    outside = np.ones(first.shape, bool)
    outside[int(0.55 * first.shape[0]) - 8 :, int(0.55 * first.shape[1]) - 8 :] = False
    outside[: int(0.5 * first.shape[0]) + 8, : int(0.4 * first.shape[1]) + 8] = False
    clear = dict(plain.frames)
    compared = 0
    for rtp, y in after[late:]:
        if rtp in clear:
            diff = np.abs(y[outside].astype(int) - clear[rtp][outside].astype(int))
            assert np.median(diff) <= 3, np.median(diff)
            compared += 1
    assert compared >= 4, compared
