"""Waiting for a UDP receiver of this process (a thread running FFmpeg's UDP input) to
bind its port before anything is sent to it, so that no datagram is lost."""

from __future__ import annotations

import os
import threading
import time


def _socket_inodes_here() -> set[str]:
    """The inodes of this process's open sockets."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _udp_port_bound_here(port: int) -> bool:
    """Whether a UDP socket of this process is bound to `port`, read from the kernel's table.

    Binding the port to find out would hold it for an instant: the receiver's own bind
    (FFmpeg's, without SO_REUSEADDR) could fail in that instant, and it did once in CI. A
    socket of another process on the port is not the receiver's."""
    bound = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table, encoding="ascii") as lines:
            next(lines)  # the header
            for line in lines:
                fields = line.split()  # [1] is HEXADDR:HEXPORT, [9] the inode
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    bound.add(fields[9])
    return bool(bound & _socket_inodes_here())


def wait_until_bound(
    port: int, timeout: float = 15.0, holder: threading.Thread | None = None
) -> None:
    """Waits until the PyAV receiver, a thread of this process, holds `port`, so no datagram
    is lost.

    The timeout is generous because a CI machine under load can take seconds to schedule
    the receiver's thread; `holder`, the thread that is to bind, ends the wait early if it
    has ended without binding."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _udp_port_bound_here(port):
            return
        if holder is not None and not holder.is_alive():
            raise AssertionError(f"receiver ended before it bound udp port {port}")
        time.sleep(0.02)
    raise AssertionError(f"receiver did not bind udp port {port}")
