"""GET /whep/{stream}/{session}: a viewer reads its own state, nobody else's; /api/streams
shows other viewers' sessions to operators only."""

from __future__ import annotations

from typing import Any

from tests.conftest import TOKENS, RelayFactory, RunningRelay
from tests.whep_client import WhepViewer

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}
TABLET_A = "tablet-a-token-0000000000"
TABLET_B = "tablet-b-token-0000000000"
OPERATOR = "operator-token-0000000000"
AUTH = {
    "tokens": [
        *TOKENS,
        {"name": "tablet-a", "token": TABLET_A, "role": "viewer", "streams": ["demo"]},
        {"name": "tablet-b", "token": TABLET_B, "role": "viewer", "streams": ["demo"]},
        {"name": "leitstelle", "token": OPERATOR, "role": "operator", "streams": ["*"]},
    ]
}


async def _get(relay: RunningRelay, path: str, token: str) -> tuple[int, Any]:
    async with relay.http(token) as http:
        async with http.get(relay.base_url + path) as resp:
            return resp.status, await resp.json()


async def test_a_viewer_reads_its_own_state_and_no_one_elses(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM], auth=AUTH)
    viewer = WhepViewer(relay.base_url, "demo", token=TABLET_A)
    await viewer.start()
    try:
        await viewer.wait_frames(10)
        assert viewer.location is not None and viewer.location.startswith("/whep/demo/")
        status, own = await _get(relay, viewer.location, TABLET_A)
        assert status == 200, own
        assert own["stream"] == "demo" and own["rendition"] == "360p" and own["auto"] is False
        assert own["renditions"] == ["360p"]
        assert own["dropped"] == 0 and own["packets"] > 0
        assert own["relay_delay_ms"] is not None and own["relay_delay_ms"] > 0
        # Another viewer of the same stream: as if the session did not exist.
        status, other = await _get(relay, viewer.location, TABLET_B)
        assert status == 404 and other["error"] == "unknown_session"
        assert (await _get(relay, viewer.location, OPERATOR))[0] == 200
        assert (await _get(relay, "/whep/demo/no-such-session", TABLET_A))[0] == 404
        # The right id under another stream's name is no way in either.
        assert (await _get(relay, viewer.location.replace("/demo/", "/x/"), TABLET_A))[0] in (
            403,
            404,
        )

        # The stream list: counts for everyone, the sessions themselves for operators.
        status, listing = await _get(relay, "/api/streams", TABLET_A)
        assert status == 200 and listing["streams"][0]["viewers"] == 1
        assert "viewer_sessions" not in listing["streams"][0]
        assert "viewer_sessions" not in (await _get(relay, "/api/streams/demo", TABLET_A))[1]
        _, listing = await _get(relay, "/api/streams", OPERATOR)
        sessions = listing["streams"][0]["viewer_sessions"]
        assert [s["rendition"] for s in sessions] == ["360p"]
    finally:
        await viewer.close()
    # Ended: its own state is gone as well.
    assert (await _get(relay, str(viewer.location), TABLET_A))[0] == 404
