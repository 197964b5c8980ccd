"""The tablet's network namespace and the emulated link to it (root only).

    root namespace                          namespace lteb<pid>
    relay on 10.77.N.1 -- <P>r (TUN) ~~ forwarder ~~ <P>t (TUN) -- Chromium on 10.77.N.2
                          tc tbf (rate, 100 ms queue) on <P>r's egress: the downlink

Names carry the creating process's id, so `cleanup()` removes what a crashed run left behind
without touching a run that is still going."""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lte.link import LinkControl, Profile, open_tun

log = logging.getLogger(__name__)
PREFIX = "lteb"
CHROMIUM = "/usr/bin/chromium"
QUEUE_MS = 100  # the tbf queue: packets that would wait longer are dropped


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def netem_available() -> bool:
    """Whether this kernel has netem (we never use it; the bench says why it is not needed)."""
    probe = f"{PREFIX}probe{os.getpid()}"
    sh("ip", "netns", "add", probe)
    try:
        out = sh(
            "ip",
            "netns",
            "exec",
            probe,
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
            "netem",
            "delay",
            "10ms",
            check=False,
        )
        return out.returncode == 0
    finally:
        sh("ip", "netns", "del", probe, check=False)


@dataclass
class Tablet:
    """A namespace for the tablet behind the emulated link; close() removes it all."""

    name: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    control: LinkControl = field(default_factory=LinkControl)
    wrapper: Path | None = None
    _fds: list[int] = field(default_factory=list)

    @property
    def subnet(self) -> str:
        return f"10.77.{os.getpid() % 250}"

    @property
    def relay_addr(self) -> str:
        return f"{self.subnet}.1"

    @property
    def tablet_addr(self) -> str:
        return f"{self.subnet}.2"

    def open(self) -> Tablet:
        relay_dev, tablet_dev = f"{self.name}r", f"{self.name}t"
        sh("ip", "netns", "add", self.name)
        self._fds = [open_tun(relay_dev), open_tun(tablet_dev)]
        sh("ip", "link", "set", tablet_dev, "netns", self.name)
        sh("ip", "addr", "add", self.relay_addr, "peer", self.tablet_addr, "dev", relay_dev)
        sh("ip", "link", "set", relay_dev, "up")
        ns = ("ip", "-n", self.name)
        sh(*ns, "addr", "add", self.tablet_addr, "peer", self.relay_addr, "dev", tablet_dev)
        sh(*ns, "link", "set", tablet_dev, "up")
        sh(*ns, "link", "set", "lo", "up")
        self.control.start(*self._fds)
        self.wrapper = self._write_wrapper()
        return self

    def shape(self, rate_bps: int | None, profile: Profile) -> None:
        """The downlink's rate (None: unshaped) and the delay/jitter/loss of both directions."""
        dev = f"{self.name}r"
        sh("tc", "qdisc", "del", "dev", dev, "root", check=False)
        if rate_bps:
            # burst: 10 ms at the rate, at least two full packets (tbf needs >= one MTU).
            burst = max(3000, rate_bps // 8 // 100)
            sh(
                "tc",
                "qdisc",
                "add",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                f"{rate_bps}bit",
                "burst",
                str(burst),
                "latency",
                f"{QUEUE_MS}ms",
            )
        self.control.set(profile)
        self.control.cut(False)

    def queue_drops(self) -> dict[str, int]:
        """Packets the downlink dropped before the forwarder: tbf (its queue was full) and the
        TUN device (the forwarder did not read in time: the machine, not the link)."""
        dev = f"{self.name}r"
        out = sh("tc", "-s", "qdisc", "show", "dev", dev, check=False).stdout
        m = re.search(r"dropped (\d+)", out) if "tbf" in out else None
        tun = Path(f"/sys/class/net/{dev}/statistics/tx_dropped")
        return {
            "tbf": int(m.group(1)) if m else 0,
            "tun": int(tun.read_text()) if tun.exists() else 0,
        }

    def _write_wrapper(self) -> Path:
        """Playwright starts this instead of Chromium: the same Chromium, in the namespace."""
        fd, path = tempfile.mkstemp(prefix=f"{self.name}-chromium-", suffix=".sh")
        with os.fdopen(fd, "w") as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {self.name} {CHROMIUM} "$@"\n')
        os.chmod(path, stat.S_IRWXU)
        return Path(path)

    def close(self) -> None:
        self.control.stop()
        for fd in self._fds:
            os.close(fd)  # the TUN devices vanish with their last fd
        self._fds = []
        sh("ip", "netns", "del", self.name, check=False)
        if self.wrapper is not None:
            self.wrapper.unlink(missing_ok=True)
            self.wrapper = None


def cleanup() -> list[str]:
    """Removes the namespaces, devices and wrappers of bench runs whose process is gone."""
    removed = []

    def alive(pid: str) -> bool:
        return Path(f"/proc/{pid}").exists()

    for ns in sh("ip", "netns", "list").stdout.split():
        m = re.fullmatch(rf"{PREFIX}(\d+)", ns)
        if m and not alive(m.group(1)):
            sh("ip", "netns", "del", ns, check=False)
            removed.append(f"netns {ns}")
    for m in re.finditer(rf"^\d+: ({PREFIX}(\d+)[rt])[:@]", sh("ip", "-o", "link").stdout, re.M):
        if not alive(m.group(2)):
            sh("ip", "link", "del", m.group(1), check=False)
            removed.append(f"link {m.group(1)}")
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-chromium-*.sh"):
        m = re.match(rf"{PREFIX}(\d+)-", path.name)
        if m and not alive(m.group(1)):
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed
