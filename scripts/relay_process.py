"""The relay under test as its own process, for the benchmarks, the soak, the flaps and the
fuzzer: `python -m relay serve` on a free port with a config written to a temporary folder,
waited for until it answers, measured through /proc, stopped.

    relay = RelayProcess(STREAMS, role="viewer", streams=["demo"], limits={"max_viewers": 50})
    relay.launch("my-bench", live=True)  # or start(), then wait_ready()
    ... relay.base_url, relay.token, relay.call("GET", "/api/streams"), relay.rss_mb() ...
    relay.close()

The config it writes: [server] on 127.0.0.1 (or `host`) and a free port, ICE on that address
only, the given [limits] and [recording] dir, one Bearer token with the given role and
streams, and the caller's [[streams]] tables (their own ports from free_port()).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.threads import cpu_seconds_by_thread  # noqa: E402  (after the path is set)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on now (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


class RelayProcess:
    """One relay process; start(), wait_ready(), then close() (safe to call twice)."""

    def __init__(
        self,
        streams_toml: str,
        *,
        role: str = "admin",
        streams: Sequence[str] = ("*",),
        publish: Sequence[str] = (),
        limits: Mapping[str, int] | None = None,
        recordings: Path | None = None,
        prefix: str = "relay-",
        keep: bool = False,
        log_file: Path | None = None,
        log_level: str | None = None,
        src: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        """`keep`: the folder (config, data, log) stays after close(), for a post-mortem.
        `log_file`: the relay's output goes there (else to relay.log in its folder if kept,
        else nowhere). `src`: run the relay package of another source tree (before/after
        comparisons). `host`: the address it serves and offers ICE candidates on (another
        end of an emulated link, say); `port`: a given one instead of a free one."""
        self.host = host
        self.port = port or free_port()
        self.token = secrets.token_urlsafe(24)
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.keep = keep
        self.recordings = recordings or self.folder / "data" / "recordings"
        self.log_path = log_file or (self.folder / "relay.log" if keep else None)
        self.log_level, self.src = log_level, src
        self.base_url = f"http://{host}:{self.port}"
        self.config_path = self.folder / "relay.toml"
        self.config_path.write_text(
            self._config(streams_toml, role, streams, publish, limits or {}), "utf-8"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _config(
        self,
        streams_toml: str,
        role: str,
        streams: Sequence[str],
        publish: Sequence[str],
        limits: Mapping[str, int],
    ) -> str:
        lines = [
            "[server]",
            f"host = {json.dumps(self.host)}",
            f"port = {self.port}",
            "[webrtc]",
            f"ice_addresses = {_toml_list([self.host])}",
            "[recording]",
            f"dir = {json.dumps(str(self.recordings))}",
            "[limits]",
            *(f"{key} = {value}" for key, value in limits.items()),
            "[[auth.tokens]]",
            'name = "bench"',
            f'token = "{self.token}"',
            f'role = "{role}"',
            f"streams = {_toml_list(streams)}",
            f"publish = {_toml_list(publish)}",
        ]
        return "\n".join(lines) + "\n" + streams_toml.strip() + "\n"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def start(self) -> None:
        """Starts the process (returns at once: wait_ready() waits for it to serve)."""
        command = [sys.executable, "-m", "relay", "serve", "--config", str(self.config_path)]
        if self.log_level:
            command += ["--log-level", self.log_level]
        env = dict(os.environ)
        # The package of `src`, or of this tree (a relay started outside the repository's
        # folder finds it either way).
        env["PYTHONPATH"] = str(self.src or ROOT)
        if self.log_path is not None:
            self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed by close())
        self.proc = subprocess.Popen(
            command,
            cwd=self.folder,
            env=env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60.0, live: bool = False) -> None:
        """Until /healthz answers (with `live`: until a stream says "live" in /api/streams);
        RuntimeError with the log's tail when the process ends or the time is up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not live:
                    if self.call("GET", "/healthz")[0] == 200:
                        return
                elif b'"live"' in self.call("GET", "/api/streams")[1]:
                    return
            except OSError:
                pass
            if not self.alive() or time.monotonic() > deadline:
                tail = self.log_path.read_text("utf-8", "replace")[-2000:] if self.log_path else ""
                raise RuntimeError(f"the relay did not come up ({self.config_path})\n{tail}")
            time.sleep(0.2)

    def launch(self, who: str, timeout: float = 60.0, live: bool = False) -> None:
        """start() and wait_ready(); a relay that does not come up is stopped and ends the
        calling script (SystemExit naming `who`)."""
        self.start()
        try:
            self.wait_ready(timeout, live)
        except RuntimeError as exc:
            self.close()
            raise SystemExit(f"{who}: {exc}") from None

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = 60.0
    ) -> tuple[int, bytes, float]:
        """(status, body, seconds) of one request with the token; 4xx/5xx are answers too."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, r.read(), time.monotonic() - t0
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), time.monotonic() - t0

    def get(self, path: str) -> bytes:
        """The body of a GET that must succeed (urllib.error.HTTPError, an OSError, if not)."""
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            data: bytes = r.read()
            return data

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def proc_status(self) -> dict[str, str]:
        """/proc/PID/status as a dict ({} once the process is gone)."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}

    def rss_mb(self) -> float:
        rss = self.proc_status().get("VmRSS", "0 kB")
        return int(rss.split()[0]) / 1024

    def threads(self) -> int:
        return int(self.proc_status().get("Threads", "0"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds of the process ("total") and by thread name (relay.threads)."""
        return cpu_seconds_by_thread(self.pid)

    def close(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Asks the relay to stop (`sig`), kills it after `timeout`; removes its folder
        unless kept."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
