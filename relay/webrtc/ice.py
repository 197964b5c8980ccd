"""ICE settings: which host addresses are offered, and which STUN/TURN servers are used.

aioice offers every non-loopback address as a host candidate and has no option to choose;
on a vehicle's LAN the operator must be able to name the interface, and tests need loopback.
aioice looks the addresses up through one module-level function, so the relay replaces it
once per process with one that answers from the configured list.
"""

from __future__ import annotations

import ipaddress

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_original_get_host_addresses = aioice.ice.get_host_addresses
_configured: tuple[str, ...] = ()


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if not _configured:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    wanted = []
    for address in _configured:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            wanted.append(address)
    return wanted


def configure_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offers only these addresses as host candidates ([] restores aioice's own choice)."""
    global _configured
    _configured = tuple(addresses)
    aioice.ice.get_host_addresses = _get_host_addresses


def rtc_configuration(ice_servers: tuple[str, ...]) -> RTCConfiguration:
    """An RTCConfiguration with exactly these servers: none means no STUN at all, so no
    offer waits 5 s for Google's unreachable STUN server (aiortc's default)."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_servers])
