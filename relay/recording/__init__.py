"""Incident recording: the original bitstream in fragmented MP4, hashed, kept for a while."""
