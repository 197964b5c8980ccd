"""Per-frame processors of the transcoder, one module each."""
