// Injected into the player page by scripts/bench_lte.py and scripts/bench_glass.py: reads
// the sim's frame marks from every frame the browser presents (the player's own reader,
// web/marks.js, as window.frameMarks) and keeps [counter, capture Unix ms, presented Unix
// ms, width, received Unix ms or null, presentedFrames, frames rendered] per frame in
// window.__glass.frames.
// "received" is requestVideoFrameCallback's receiveTime (the frame's last packet in, where
// Chromium has it); presentedFrames is the compositor's count (a jump over 1: frames it did
// not present); "frames rendered" is the video's own count (getVideoPlaybackQuality: total
// minus dropped, the frames Chromium put on screen), which this callback, run on a busy
// main thread, undercounts (bench_lte, weak LTE: 661 rendered, 620 read). A frame whose marks do not read (a picture pieced together, or scaled too
// small) is kept with counter -1: it was presented, but its delay is unknown.
(() => {
  const glass = { frames: [], states: [], unread: 0 };
  window.__glass = glass;
  const abs = (t) => (t == null ? null : performance.timeOrigin + t);

  function attach() {
    const video = document.getElementById("video");
    if (!video || !video.requestVideoFrameCallback || !window.frameMarks) {
      return setTimeout(attach, 50);
    }
    const read = window.frameMarks.marksReader();
    const loop = (now, meta) => {
      try {
        const marks = read(video);
        if (!marks) glass.unread++;
        const quality = video.getVideoPlaybackQuality();
        glass.frames.push([
          marks ? marks[0] : -1,
          marks ? marks[1] : 0,
          abs(now),
          video.videoWidth,
          abs(meta?.receiveTime),
          meta?.presentedFrames ?? null,
          quality.totalVideoFrames - quality.droppedVideoFrames,
        ]);
      } finally {
        video.requestVideoFrameCallback(loop);
      }
    };
    video.requestVideoFrameCallback(loop);
    // The player's own verdict (live, live/weak, interrupted, lost ...), when it changed.
    const note = () => {
      const { state = "", quality = "" } = document.body.dataset;
      const now = quality === "weak" ? `${state}/weak` : state;
      if (glass.states.at(-1)?.[1] !== now) glass.states.push([Date.now(), now]);
    };
    new MutationObserver(note).observe(document.body, {
      attributeFilter: ["data-state", "data-quality"],
    });
    note();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attach);
  else attach();
})();
