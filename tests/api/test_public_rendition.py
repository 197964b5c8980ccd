"""Share links get the public rendition only, enforced by the relay (docs/privacy.md): another
rendition is 403, auto means the public rung, a stream without one cannot be shared."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from relay.api.middleware import decision_for
from relay.config import parse_config
from relay.errors import ConfigError
from tests.api.test_access import call, open_link
from tests.api.test_route_table import route_key
from tests.conftest import RelayFactory, RunningRelay

HD = "sim://?size=1280x720&fps=10&gop=10"
MASK = {"masks": [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]]}
OPERATOR = "operator-token-0000000000"
STREAMS = [
    {
        "name": "public",
        "source": HD,
        "renditions": ["720p", {"name": "360p", "privacy": MASK}],
        "public_rendition": "360p",
    },
    {"name": "closed", "source": HD, "renditions": ["720p", "360p"]},
    {
        "name": "open",
        "source": HD,
        "renditions": ["360p"],
        "shareable_without_privacy": True,
    },
]
AUTH = {"tokens": [{"name": "elw", "token": OPERATOR, "role": "operator", "streams": ["*"]}]}


async def share(relay: RunningRelay, stream: str) -> tuple[int, Any]:
    body = {"stream": stream, "expires_in_s": 3600}
    return await call(relay, "POST", "/api/share", OPERATOR, json=body)


async def share_session(relay: RunningRelay, stream: str) -> dict[str, str]:
    """The headers a share link's browser sends: its session cookie and CSRF token."""
    status, link = await share(relay, stream)
    assert status == 201, link
    jar = aiohttp.CookieJar(unsafe=True)
    assert await open_link(link["url"], jar) == 200
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(relay.base_url + "/api/me") as resp:
            me = await resp.json()
    assert me["kind"] == "share"
    session = next(c.value for c in jar if c.key == "relay_session")
    return {"Cookie": f"relay_session={session}", "X-CSRF-Token": me["csrf"]}


async def offer(relay: RunningRelay, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    sdp = {"data": "v=0\r\n", "headers": {"Content-Type": "application/sdp", **headers}}
    return await call(relay, "POST", path, **sdp)


async def test_a_share_link_gets_the_public_rung_only(start_relay: RelayFactory) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    headers = await share_session(relay, "public")
    for asked in ("720p", "source"):
        status, body = await offer(relay, f"/whep/public?rendition={asked}", headers)
        assert status == 403 and body["error"] == "public_rendition_only", body
        assert "'360p'" in body["reason"]
    # auto means the public rung, fixed: a real viewer plays 640x360 pictures.
    viewer = relay.viewer("public", token=None, headers=headers)
    await viewer.start()
    try:
        await viewer.wait_frames(5)
        assert set(viewer.received.sizes) == {(640, 360)}
        assert viewer.location is not None
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(relay.base_url + viewer.location) as resp:
                state = await resp.json()
        assert state["rendition"] == "360p" and state["renditions"] == ["360p"]
        session = next(iter(relay.relay.sessions.sessions.values()))
        assert session.track.rendition.name == "360p"
    finally:
        await viewer.close()
    # Asking for the public rung by name is fine; an operator still gets the 720p rung.
    viewer = relay.viewer("public", rendition="360p", token=None, headers=headers)
    await viewer.start()
    await viewer.close()
    crew = relay.viewer("public", rendition="720p", token=OPERATOR)
    await crew.start()
    try:
        await crew.wait_frames(3)
        assert set(crew.received.sizes) == {(1280, 720)}
    finally:
        await crew.close()


async def test_a_stream_without_public_rendition_cannot_be_shared(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay(STREAMS, auth=AUTH)
    status, body = await share(relay, "closed")
    assert status == 409 and body["error"] == "no_public_rendition", body
    assert "shareable_without_privacy" in body["reason"]
    # Unless the config says so: then a link watches like any viewer of that stream.
    assert (await share(relay, "open"))[0] == 201
    headers = await share_session(relay, "open")
    status, body = await offer(relay, "/whep/open?rendition=360p", headers)
    assert status == 400 and body["error"] == "bad_offer"  # allowed: the junk offer fails


@pytest.mark.parametrize(
    ("stream", "words"),
    [
        ({"renditions": ["720p", "360p"], "public_rendition": "360p"}, "no privacy processing"),
        ({"renditions": ["720p"], "public_rendition": "360p"}, "not a rendition of this stream"),
    ],
)
def test_the_public_rendition_must_be_a_rung_with_privacy(
    stream: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": [{"name": "a", "source": HD, **stream}]}, "x.toml")
    assert "streams[0].public_rendition: " in str(caught.value) and words in str(caught.value)


# What a share link (a viewer of one stream) can reach; only the WHEP offer carries pictures,
# and it picks its rendition through relay.api.public_rung.
SHARE_REACHES = {
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    ("GET", "/api/streams"),
    ("GET", "/api/streams/{name}"),
    ("GET", "/whep/{stream}/{session}"),
    ("DELETE", "/whep/{stream}/{session}"),
    ("PATCH", "/whep/{stream}/{session}"),
    ("GET", "/"),
    ("GET", "/play/{stream}"),
    ("POST", "/whep/{stream}"),
    # The WebSocket/MSE fallback: picks its rendition through public_rung too (tests/mse).
    ("GET", "/api/streams/{name}/mse"),
    # Where the drone is, no pictures: the same right as watching (docs/telemetry.md).
    ("GET", "/api/streams/{name}/telemetry/events"),
    # The map (docs/telemetry.md "Map"): positions of the streams it may watch, tiles.
    ("GET", "/map"),
    ("GET", "/api/map"),
    ("GET", "/api/map/events"),
    ("GET", "/api/streams/{name}/telemetry/track"),
    ("GET", "/map/tiles/{z}/{x}/{y}"),
    # The screens' page and a kiosk's settings: no pictures; their tiles play through
    # POST /whep/{stream} (public rung only for a share or kiosk link).
    ("GET", "/wall"),
    ("GET", "/api/kiosk"),
    # Marks over the picture, no pictures; share links get only the public marks
    # (relay.api.routes_annotations, docs/annotations.md).
    ("GET", "/api/streams/{name}/annotations"),
    ("GET", "/api/streams/{name}/annotations/events"),
    ("GET", "/api/annotations/events"),  # several streams' (relay.api.routes_annotation_feed)
}


async def test_a_new_route_for_share_links_is_noticed(start_relay: RelayFactory) -> None:
    """A route a share link may call, added later, must be judged here: if it shows a
    stream's pictures it has to pick its rendition through relay.api.public_rung."""
    relay = await start_relay(STREAMS, auth=AUTH)
    assert relay.app is not None
    reached = {
        route_key(r)
        for r in relay.app.router.routes()
        if (decision := decision_for(r)) is not None and decision.need == "viewer"
    }
    assert reached == SHARE_REACHES, reached ^ SHARE_REACHES


PIXELS = """(() => {
  const v = document.querySelector("video");
  if (!v || !v.videoWidth) return {w: 0};
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const mean = (x, y) => {
    const d = g.getImageData(x, y, 8, 8).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
    return s / (d.length / 4) / 3;
  };
  const q = v.getVideoPlaybackQuality();
  return {w: v.videoWidth, h: v.videoHeight, presented: q.totalVideoFrames,
          inside: mean(216, 56),
          outside: [[480, 56], [560, 200], [90, 300], [320, 300], [520, 320]]
            .map(([x, y]) => mean(x, y)).reduce((a, b) => a + b) / 5,
          options: [...document.querySelectorAll("#rendition-select option")].map(o => o.value)};
})()"""


async def test_a_share_link_in_chromium_plays_the_masked_public_rung(
    start_relay: RelayFactory,
) -> None:
    from tests.e2e.browser import chromium, until

    relay = await start_relay(STREAMS, auth=AUTH)
    status, link = await share(relay, "public")
    assert status == 201
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(link["url"])
        await page.wait_for_url(relay.base_url + "/play/public", timeout=10_000)
        seen = await until(
            page, PIXELS, lambda s: s["w"] > 0 and s["presented"] > 10, 30, "the public rung"
        )
        assert (seen["w"], seen["h"]) == (640, 360), seen
        # (216, 56) lies inside the masked triangle (black); five points outside it sample
        # the sim's terrain, whose luma is 40-180 (one point alone was 57 in RGB on a dark
        # field): their mean is far from the mask's black wherever the flight is.
        assert seen["inside"] < 20 and seen["outside"] > 45, seen
        assert "720p" not in seen["options"], seen
    rungs = {s.track.rendition.name for s in relay.relay.sessions.sessions.values()}
    assert rungs <= {"360p"}, rungs
