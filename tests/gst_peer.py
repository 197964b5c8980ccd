"""A GStreamer webrtcbin peer for the interop tests: a WHEP viewer or a WHIP publisher.

Debian 12 has webrtcbin (gstreamer1.0-plugins-bad) but no whepsrc/whipsink (those are in
gst-plugins-rs), so this script does the WHEP/WHIP HTTP exchange itself: it gathers its ICE
candidates, POSTs the whole offer, applies the 201's answer. webrtcbin makes its own RSA
DTLS certificate, the case this interop is about.

Run with Debian's /usr/bin/python3 (python3-gi; the project's venv has no gi):

    gst_peer.py whep URL --token T --frames 60 --timeout 20 --frame-out last.i420
    gst_peer.py whip URL --token T --seconds 5 --profile main

Prints one JSON line: the HTTP status, the peer connection's last state, the frames decoded
(whep; and the seconds from the POST to the first) or sent (whip), the last picture's size,
and the bus's errors (a failed DTLS
handshake shows there as "Fatal SSL error" or similar).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

# The H.264 profile the publisher offers, as SDP names it (the only one in the offer): what
# x264enc's SPS says at 640x360 (level 3.0). x264 falls back to Constrained Baseline when
# nothing needs more, so the preset keeps CABAC (superfast; ultrafast has none).
PROFILES = {"main": "4d401e", "high": "64001e"}
VIEWER_CAPS = (
    "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f"
)
DECODE = (
    "rtph264depay ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! "
    "appsink name=sink emit-signals=true sync=false max-buffers=2 drop=true"
)


class Peer:
    """One webrtcbin in a pipeline, one WHEP/WHIP session, a result dict for stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = GLib.MainLoop()
        self.result: dict[str, Any] = {"status": None, "frames": 0, "errors": [], "state": None}
        self.location: str | None = None
        self.posted = False
        self.posted_at = 0.0
        self.last: bytes | None = None
        self.pipe = Gst.Pipeline.new("peer")
        self.webrtc: Any = None

    # -- set-up -----------------------------------------------------------------------
    def build_viewer(self) -> None:
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.pipe.add(self.webrtc)
        self.webrtc.emit(
            "add-transceiver",
            GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
            Gst.Caps.from_string(VIEWER_CAPS),
        )
        self.webrtc.connect("pad-added", self.on_pad)

    def build_publisher(self) -> None:
        profile = self.args.profile
        self.pipe = Gst.parse_launch(
            # Pure green: the viewer of the relay's rung tells it from the relay's slate.
            "videotestsrc is-live=true pattern=solid-color foreground-color=0xff00ff00 ! "
            "video/x-raw,width=640,height=360,framerate=30/1 ! videoconvert ! "
            "x264enc tune=zerolatency speed-preset=superfast key-int-max=30 bitrate=1500 ! "
            f"video/x-h264,profile={profile} ! identity name=count ! "
            "rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=96 ! "
            "application/x-rtp,media=video,encoding-name=H264,payload=96 ! "
            "webrtcbin name=webrtc"
        )
        self.webrtc = self.pipe.get_by_name("webrtc")
        # Only this profile in the offer: what a camera encoding Main or High would offer.
        caps = Gst.Caps.from_string(
            "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,"
            f"packetization-mode=(string)1,profile-level-id=(string){PROFILES[profile]}"
        )
        transceiver = self.webrtc.emit("get-transceiver", 0)
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        transceiver.set_property("codec-preferences", caps)
        self.pipe.get_by_name("count").connect("handoff", self.on_sent)

    def start(self) -> int:
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::connection-state", self.on_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)
        bus.connect("message::warning", self.on_error)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add(int(self.args.timeout * 1000), self.finish)
        # Gathering may not say "complete" on every network: post what there is by then.
        GLib.timeout_add(3000, self.post)
        self.loop.run()
        return 0

    # -- signalling ---------------------------------------------------------------------
    def on_negotiation_needed(self, *_: Any) -> None:
        self.webrtc.emit("create-offer", None, Gst.Promise.new_with_change_func(self.on_offer))

    def on_offer(self, promise: Gst.Promise) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        if offer is None:
            self.result["errors"].append(f"create-offer: {reply.to_string()}")
            GLib.idle_add(self.finish)
            return
        self.webrtc.emit("set-local-description", offer, None)

    def on_gathering(self, *_: Any) -> None:
        if (
            self.webrtc.get_property("ice-gathering-state")
            == GstWebRTC.WebRTCICEGatheringState.COMPLETE
        ):
            GLib.idle_add(self.post)

    def post(self) -> bool:
        """The WHEP/WHIP request: the whole offer, Bearer token; 201 and the answer back."""
        if self.posted:
            return False
        local = self.webrtc.get_property("local-description")
        if local is None:  # no offer yet (a publisher's waits for its encoder's caps)
            return True  # the fallback timer asks again
        self.posted = True
        self.posted_at = time.monotonic()
        sdp = local.sdp.as_text()
        request = urllib.request.Request(
            self.args.url,
            data=sdp.encode(),
            method="POST",
            headers={
                "Content-Type": "application/sdp",
                "Authorization": f"Bearer {self.args.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self.result["status"] = response.status
                self.location = response.headers.get("Location")
                answer = response.read().decode()
        except urllib.error.HTTPError as exc:
            self.result["status"] = exc.code
            self.result["errors"].append(exc.read().decode(errors="replace"))
            self.finish()
            return False
        _, message = GstSdp.SDPMessage.new_from_text(answer)
        description = GstWebRTC.WebRTCSessionDescription.new(
            GstWebRTC.WebRTCSDPType.ANSWER, message
        )
        self.webrtc.emit("set-remote-description", description, None)
        return False

    # -- media ---------------------------------------------------------------------------
    def on_pad(self, _: Any, pad: Gst.Pad) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        decode = Gst.parse_bin_from_description(DECODE, True)
        self.pipe.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))
        decode.get_by_name("sink").connect("new-sample", self.on_sample)

    def on_sample(self, sink: Any) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        structure = sample.get_caps().get_structure(0)
        self.result["width"] = structure.get_value("width")
        self.result["height"] = structure.get_value("height")
        self.result["frames"] += 1
        if self.result["frames"] == 1:  # the join as a viewer sees it: POST -> first picture
            self.result["first_frame_s"] = round(time.monotonic() - self.posted_at, 3)
        if self.args.frame_out:
            ok, info = sample.get_buffer().map(Gst.MapFlags.READ)
            if ok:
                self.last = bytes(info.data)
                sample.get_buffer().unmap(info)
        if self.args.frames and self.result["frames"] >= self.args.frames:
            GLib.idle_add(self.finish)
        return Gst.FlowReturn.OK

    def on_sent(self, *_: Any) -> None:
        self.result["frames"] += 1

    def on_state(self, *_: Any) -> None:
        state = self.webrtc.get_property("connection-state")
        self.result["state"] = state.value_nick
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED and self.args.seconds:
            # A publisher publishes this long once connected, however slow its start.
            GLib.timeout_add(int(self.args.seconds * 1000), self.finish)
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            GLib.timeout_add(500, self.finish)  # the bus's last errors first

    def on_error(self, _: Any, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
        else:
            error, debug = message.parse_warning()
        self.result["errors"].append(f"{message.src.get_name()}: {error.message} ({debug})")

    def finish(self) -> bool:
        if not self.loop.is_running():
            return False
        if self.last is not None:
            with open(self.args.frame_out, "wb") as out:
                out.write(self.last)
        if self.location:  # end the session as a WHEP/WHIP client does
            url = urllib.parse.urljoin(self.args.url, self.location)
            request = urllib.request.Request(
                url, method="DELETE", headers={"Authorization": f"Bearer {self.args.token}"}
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except OSError as exc:
                self.result["errors"].append(f"DELETE: {exc}")
        self.pipe.set_state(Gst.State.NULL)
        self.loop.quit()
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("whep", "whip"))
    parser.add_argument("url")
    parser.add_argument("--token", default="")
    parser.add_argument("--frames", type=int, default=0, help="whep: stop after this many")
    parser.add_argument(
        "--seconds", type=float, default=0, help="whip: publish this long once connected"
    )
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="main")
    parser.add_argument("--frame-out", help="whep: the last decoded picture, raw I420")
    args = parser.parse_args()
    Gst.init(None)
    peer = Peer(args)
    if args.mode == "whep":
        peer.build_viewer()
    else:
        peer.build_publisher()
    peer.start()
    print(json.dumps(peer.result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
