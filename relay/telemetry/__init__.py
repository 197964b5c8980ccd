"""Telemetry: where a drone is, where its camera looks (docs/telemetry.md)."""
