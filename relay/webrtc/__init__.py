"""WebRTC on aiortc: WHEP sessions, the packet track, ICE settings."""
