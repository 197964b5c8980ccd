"""Outputs: a stream's rung handed on to other engines by their standard protocols."""
