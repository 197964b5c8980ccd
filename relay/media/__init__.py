"""Encoded media: access units, clocks and H.264 helpers."""
