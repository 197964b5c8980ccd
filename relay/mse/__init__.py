"""The WebSocket/MSE fallback: a rung's H.264 as fragmented MP4 for Media Source Extensions."""
