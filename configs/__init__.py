"""Configuration files shipped with drone-relay (default.toml and examples)."""
