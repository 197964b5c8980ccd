"""Chromium as a WHIP publisher: its fake camera, H.264, posted to the relay; aiortc decodes."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import RelayFactory, wait_for
from tests.e2e.browser import chromium, until
from tests.whep_client import WhepViewer

log = logging.getLogger(__name__)

WHIP = {"name": "cam", "source": "whip:", "renditions": ["360p", "source"]}
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

# Runs in the page (page.evaluate: the relay's CSP forbids eval, not CDP evaluation).
PUBLISH = """async ([url, token]) => {
  const media = await navigator.mediaDevices.getUserMedia(
      {video: {width: 640, height: 480, frameRate: 30}, audio: true});
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) pc.addTransceiver(track, {direction: 'sendonly'});
  const video = pc.getTransceivers().find(t => t.sender.track.kind === 'video');
  const codecs = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = codecs.filter(c => c.mimeType === 'video/H264');
  if (!h264.length) return {status: 0, body: 'this Chromium cannot send H.264'};
  // H.264 first (the relay takes nothing else), Constrained Baseline first of those.
  const cb = h264.filter(c => /profile-level-id=42e0/.test(c.sdpFmtpLine || ''));
  video.setCodecPreferences([...cb, ...h264.filter(c => !cb.includes(c))]);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange',
                        () => pc.iceGatheringState === 'complete' && done());
  });
  const posted = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
                                   headers: {'Content-Type': 'application/sdp',
                                             'Authorization': 'Bearer ' + token}});
  const body = await posted.text();
  if (posted.status !== 201) return {status: posted.status, body};
  await pc.setRemoteDescription({type: 'answer', sdp: body});
  window.__publisher = pc;
  return {status: 201, location: posted.headers.get('Location'), body};
}"""

SENT = """async () => {
  const stats = await window.__publisher.getStats();
  for (const s of stats.values()) {
    if (s.type === 'outbound-rtp' && s.kind === 'video')
      return {frames: s.framesEncoded || 0, encoder: s.encoderImplementation || '',
              state: window.__publisher.connectionState};
  }
  return {frames: 0, encoder: '', state: window.__publisher.connectionState};
}"""


async def _sent(page: Any, timeout: float, frames: int) -> dict[str, Any]:
    sent: dict[str, Any] = await until(
        page, SENT, lambda s: s["frames"] >= frames, timeout, f"Chromium to send {frames} frames"
    )
    return sent


async def test_chromium_publishes_and_aiortc_viewers_decode(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    rung = relay.viewer("cam", rendition="360p")
    source = relay.viewer("cam", rendition="source")
    async with chromium(FAKE_CAMERA) as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.base_url + "/")  # same origin: the CSP's connect-src 'self'
        try:
            posted_at = time.monotonic()
            answer = await page.evaluate(PUBLISH, [relay.base_url + "/whip/cam", relay.token])
            assert answer["status"] == 201, answer
            assert "H264" in answer["body"] and "VP8" not in answer["body"]
            session = relay.relay.publishers.for_stream("cam")
            assert session is not None
            await wait_for(lambda: session.units > 0, 20.0, "Chromium's first access unit")
            first_unit_s = time.monotonic() - posted_at
            await rung.start()
            await source.start()
            t = relay.relay.streams["cam"].transcoder
            assert t is not None

            # Chromium's pictures are 4:3 (its fake camera; it may scale them down under
            # load), the slate is 16:9.
            def published(viewer: WhepViewer) -> int:
                return sum(1 for w, h in viewer.received.sizes if w * 3 == h * 4)

            try:
                await wait_for(
                    lambda: published(source) >= 60,
                    30.0,
                    "60 of Chromium's own frames at the source viewer",
                )
                await wait_for(
                    lambda: published(rung) >= 60, 30.0, "60 transcoded frames at the 360p viewer"
                )
            finally:
                log.warning(
                    "sizes at the viewers: source %s, 360p %s; %d units in, "
                    "%d keyframes, %d PLI; transcoder: %d decoded, %d errors, "
                    "%d dropped",
                    Counter(source.received.sizes),
                    Counter(rung.received.sizes),
                    session.units,
                    session.keyframes,
                    session.keyframe_requests,
                    t.frames_decoded,
                    t.decode_errors,
                    t.dropped_units,
                )
            assert (640, 480) in source.received.sizes and (480, 360) in rung.received.sizes
            # Chromium's padding (bandwidth probes) must not reach the decoder as empty units.
            assert t.decode_errors == 0 and t.frames_decoded >= 60
            sent = await _sent(page, 5.0, 60)
            log.warning(
                "Chromium publisher: first unit %.3f s after POST; encoder %s; "
                "%d keyframes, %d PLI sent",
                first_unit_s,
                sent["encoder"],
                session.keyframes,
                session.keyframe_requests,
            )
            status = await relay.stream_status("cam")
            assert status["state"] == "live" and status["publishing"]
            log.warning(
                "Chromium publishes %dx%d at %.1f fps, %d kbit/s",
                status["width"],
                status["height"],
                status["fps_in"],
                status["bitrate_in"] // 1000,
            )
            # Closing the browser's peer (a tab closed) ends the session on the relay.
            await page.evaluate("() => window.__publisher.close()")
            await wait_for(
                lambda: relay.relay.publishers.for_stream("cam") is None,
                40.0,
                "the relay to notice the closed publisher",
            )
        finally:
            await rung.close()
            await source.close()
