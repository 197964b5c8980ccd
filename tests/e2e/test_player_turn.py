"""The player through TURN only (`?ice=relay`: relay candidates only, as a network that
blocks direct UDP forces; Chromium's --force-webrtc-ip-handling-policy did not stop its UDP
here, it reached the relay over a server-reflexive candidate). The player asks the WHEP
endpoint for its ICE servers (OPTIONS, Link headers) before its offer, gets coturn and a
credential minted for its identity, and plays through it, over TURN's UDP and TCP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.conftest import RelayFactory
from tests.e2e.browser import chromium, until
from tests.turn_server import turn_server

SECRET = f"turnsecret{secrets.token_hex(8)}"
SIM = {"name": "demo", "source": "sim://?size=320x240&fps=15&gop=15", "renditions": ["360p"]}
PATH = """async () => {
  const pc = window.__player.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId)
    pair = stats.get(s.selectedCandidatePairId); });
  const local = pair && stats.get(pair.localCandidateId);
  let frames = 0;
  stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video')
    frames = s.framesDecoded; });
  return {servers: pc.getConfiguration().iceServers.map((s) => s.urls).flat(),
          local: local ? local.candidateType : null,
          protocol: local ? local.relayProtocol || local.protocol : null, frames};
}"""


@pytest.fixture
def coturn() -> Iterator[int]:
    with turn_server(SECRET) as port:
        yield port


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_player_plays_through_turn_only(
    start_relay: RelayFactory, coturn: int, transport: str
) -> None:
    turn = [f"turn:127.0.0.1:{coturn}?transport={transport}"]
    relay = await start_relay(
        [SIM], webrtc={"ice_addresses": ["127.0.0.1"], "ice_servers": turn, "turn_secret": SECRET}
    )
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(f"{relay.base_url}/play/demo?ice=relay")
        seen = await until(page, PATH, lambda p: p and p["frames"] >= 10, 30, "frames via TURN")
    assert set(turn) <= set(seen["servers"]), seen
    assert seen["local"] == "relay" and seen["protocol"] == transport, seen
