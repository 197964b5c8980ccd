"""What an offer costs the relay: one DTLS certificate per process, no bandwidth estimator
before RTP arrives, and a per-process offer budget past which offers get 503."""

from __future__ import annotations

import gc
import re

import pytest
from aiortc import RTCPeerConnection
from aiortc.rate import RateBucket

from relay.webrtc import lean_peer
from relay.webrtc import peers as peers_module
from relay.webrtc.ice import rtc_configuration
from tests.conftest import RelayFactory, RunningRelay, wait_for

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=30&gop=30", "renditions": ["240p"]}
FINGERPRINT = re.compile(r"a=fingerprint:(\S+ \S+)")


async def _offer() -> str:
    """A viewer's offer from a peer that never connects (it is closed at once)."""
    pc = RTCPeerConnection(rtc_configuration(()))
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def _post(relay: RunningRelay, body: str) -> tuple[int, str, dict[str, str]]:
    async with relay.http() as http:
        async with http.post(
            f"{relay.base_url}/whep/demo", data=body, headers={"Content-Type": "application/sdp"}
        ) as resp:
            return resp.status, await resp.text(), dict(resp.headers)


async def _delete(relay: RunningRelay, location: str) -> None:
    async with relay.http() as http:
        async with http.delete(relay.base_url + location) as resp:
            assert resp.status == 200


async def test_every_answer_carries_the_relays_one_certificate(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "live")
    made = lean_peer.certificates_made()
    viewers = [relay.viewer("demo") for _ in range(2)]
    try:
        for viewer in viewers:
            await viewer.start()
        answers = [v.pc.remoteDescription.sdp for v in viewers]
        offers = [v.pc.localDescription.sdp for v in viewers]
        theirs = {FINGERPRINT.findall(a)[0] for a in answers}
        assert len(theirs) == 1, f"two answers, two certificates: {theirs}"
        # The clients' own peers (aiortc in this process) still make their own.
        assert theirs.isdisjoint(FINGERPRINT.findall(o)[0] for o in offers)
        assert lean_peer.certificates_made() - made <= 1  # at most the process's first
        for viewer in viewers:  # DTLS with the shared certificate works
            await viewer.wait_frames(5)
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_an_unconnected_offer_builds_no_bandwidth_estimator(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([SIM])
    offer = await _offer()
    gc.collect()
    before = sum(1 for o in gc.get_objects() if isinstance(o, RateBucket))
    locations = []
    for _ in range(3):
        status, body, headers = await _post(relay, offer)
        assert status == 201, body
        locations.append(headers["Location"])
    # aiortc builds 1000 buckets per video receiver; a send-only viewer never receives.
    after = sum(1 for o in gc.get_objects() if isinstance(o, RateBucket))
    assert after - before < 1000, f"{after - before} rate buckets for 3 offers"
    for location in locations:
        await _delete(relay, location)


async def test_offers_past_the_budget_get_503_and_no_one_is_evicted(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers_module, "OFFER_BURST", 3)
    monkeypatch.setattr(peers_module, "OFFERS_PER_S", 1)
    relay = await start_relay([SIM])
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "live")
    offer = await _offer()
    answered, refused = [], []
    for _ in range(6):
        # Junk in between is refused for what it is, and takes no offer from the budget.
        assert (await _post(relay, "v=0\r\nnot sdp"))[0] == 400
        status, body, headers = await _post(relay, offer)
        (answered if status == 201 else refused).append((status, body, headers))
    assert len(answered) == 3
    assert {status for status, _, _ in refused} == {503}
    for _, body, headers in refused:
        assert '"error": "busy"' in body
        assert int(headers["Retry-After"]) >= 1
    assert relay.relay.sessions.count() == 3  # the answered ones keep their slots
    assert relay.relay.sessions.refused_busy == 3
    for _, _, headers in answered:
        await _delete(relay, headers["Location"])


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("a=ice-ufrag:", "ICE username fragment"),
        ("a=fingerprint:", "DTLS fingerprint"),
        ("a=rtcp-mux", "RTCP mux"),
    ],
)
async def test_an_offer_aiortc_would_refuse_gets_no_peer_connection(
    start_relay: RelayFactory, drop: str, reason: str
) -> None:
    relay = await start_relay([SIM])
    offer = await _offer()
    lines = [line for line in offer.split("\r\n") if not line.startswith(drop)]
    status, body, _ = await _post(relay, "\r\n".join(lines))
    assert status == 400, body
    assert reason in body
    assert len(relay.relay.sessions.peers) == 0  # refused before a peer was made
