"""Sources: where a Stream's bitstream comes from, one module per URL scheme."""
