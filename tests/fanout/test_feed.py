"""The fan-out without a transport: a viewer's feed, switching at keyframes, transport forms
built once per packet, and the ladder's passthrough rules."""

from __future__ import annotations

import asyncio
import threading
import time

from relay.fanout import ladder
from relay.fanout.feed import ViewerFeed
from relay.fanout.rendition import Rendition
from relay.media.packet import encoded_packet

FRAME = b"\x00\x00\x00\x01\x65" + b"\x88" * 100


class CountingForm:
    """A transport's form of a packet that counts how often, and in which thread, it is built."""

    def __init__(self) -> None:
        self.built: list[str] = []

    def __call__(self, data: bytes) -> list[bytes]:
        self.built.append(threading.current_thread().name)
        return [data[:10]]


def publish(rendition: Rendition, pts: int, keyframe: bool) -> None:
    """As an encoder thread does: publish_from_thread, from a thread of its own."""
    loop = asyncio.get_running_loop()
    item = encoded_packet(FRAME, pts, keyframe, 1_000_000 + pts)
    thread = threading.Thread(
        target=rendition.publish_from_thread, args=(loop, item), name="producer"
    )
    thread.start()
    thread.join()


async def test_switch_at_keyframe_with_forms_built_once_per_packet_off_the_loop() -> None:
    high, low = Rendition("s", "720p", 2_000_000), Rendition("s", "360p", 500_000)
    form = CountingForm()
    feeds = [ViewerFeed(high, f"v{i}", {"test": form}) for i in range(3)]
    publish(high, 0, True)
    await asyncio.sleep(0)
    firsts = [await feed.next() for feed in feeds]
    assert all(f is not None and f[1] == 0 for f in firsts)
    assert form.built == ["producer"]  # once for three viewers, in the producer's thread

    feed = feeds[0]
    feed.switch_to(low)  # as the ladder adapter does: straight on the feed
    publish(low, 3000, False)  # not a keyframe: the viewer stays on 720p
    publish(high, 3000, False)
    await asyncio.sleep(0)
    got = await feed.next()
    assert got is not None and feed.rendition is high and got[1] == 3000
    publish(low, 90_000, True)  # the low rung's keyframe, on its own clock
    await asyncio.sleep(0)
    got = await feed.next()
    assert got is not None and feed.rendition is low and feed.switches == 1
    assert 3000 < got[1] < 90_000  # the viewer's clock runs on, it does not jump
    # The low rung built the form too (the adapter's switch registered it), off the loop.
    assert form.built == ["producer"] * 4

    feed.close()
    assert await feed.next() is None and feed not in high.subscribers


def test_passthrough_is_a_flag_and_the_ladder_follows_it() -> None:
    source = Rendition("s", "source", passthrough=True)
    high, low = Rendition("s", "720p", 2_000_000), Rendition("s", "360p", 500_000)
    assert ladder.ladder([low, source, high], source_reorders=True) == [high, low]
    assert ladder.instant_start(source, [high, low]) is high
    assert ladder.instant_start(high, [high, low]) is None
    assert ladder.may_get_passthrough(low, [high, source]) is True
    assert ladder.may_get_passthrough(low, [high, low]) is False


def queued(rendition: Rendition, feed: ViewerFeed, ages_s: list[tuple[float, bool]]) -> None:
    """Frames `ages_s` old (age, keyframe) straight into the feed's queue, oldest first."""
    now = time.monotonic_ns()
    for pts, (age, keyframe) in enumerate(ages_s):
        rendition.publish(encoded_packet(FRAME, pts, keyframe, now - int(age * 1e9)))


def test_a_backlog_queued_during_a_slow_handshake_is_skipped() -> None:
    """ICE and DTLS took 2 s: the frames queued meanwhile are stale when the peer starts
    receiving. Up to the newest keyframe they go; if that is stale too, all of them, and a
    fresh keyframe is asked for. A LAN's backlog (0.6 s on a busy box) is its instant first
    frame and stays."""
    rung = Rendition("s", "360p", 500_000)
    feed = ViewerFeed(rung, "far")
    asked = rung.keyframe_requests
    queued(rung, feed, [(2.0, True), (1.7, False), (1.3, True), (1.1, False)])
    assert feed.catch_up() == 4
    assert not feed.subscriber.queue and feed.subscriber.waiting_for_keyframe
    assert rung.keyframe_requests == asked + 1 and feed.dropped == 0

    near = ViewerFeed(rung, "near")
    queued(rung, near, [(1.6, True), (0.2, True), (0.1, False)])
    assert near.catch_up() == 1 and len(near.subscriber.queue) == 2
    lan = ViewerFeed(rung, "lan")
    queued(rung, lan, [(0.6, True), (0.1, False)])  # a busy box's answer and a LAN
    assert lan.catch_up() == 0 and len(lan.subscriber.queue) == 2


def test_a_passthrough_backlog_keeps_its_newest_keyframe() -> None:
    """The drone may take a whole GOP for the next keyframe: its newest queued one will do."""
    source = Rendition("s", "source", passthrough=True)
    feed = ViewerFeed(source, "far")
    queued(source, feed, [(2.0, True), (1.5, True), (0.5, False)])
    assert feed.catch_up() == 1 and len(feed.subscriber.queue) == 2


async def test_a_viewer_moving_to_a_cold_rung_skips_its_still_a_new_viewer_starts_on_it() -> None:
    high, low = Rendition("s", "720p", 2_000_000), Rendition("s", "360p", 500_000)
    mover = ViewerFeed(high, "mover", {})
    publish(high, 0, True)
    await asyncio.sleep(0)
    assert await mover.next() is not None
    mover.switch_to(low)
    newcomer = ViewerFeed(low, "newcomer", {})
    requests = low.keyframe_requests
    # The cold rung's first IDR is a still (an older picture): the newcomer starts on it, the
    # mover, who has a live picture, stays where it is and asks for an IDR of the live one.
    loop = asyncio.get_running_loop()
    low.publish_from_thread(loop, encoded_packet(FRAME, 90_000, True, 2_000_000, still=True))
    await asyncio.sleep(0)
    first = await newcomer.next()
    assert first is not None and first[0].still
    assert mover.pending is not None and not mover.pending.queue
    assert low.keyframe_requests == requests + 1
    publish(low, 93_000, True)  # the live picture's IDR
    publish(high, 3000, False)
    await asyncio.sleep(0)
    got = await mover.next()
    assert got is not None and mover.rendition is low and not got[0].still
