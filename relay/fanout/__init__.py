"""Fan-out: renditions and their subscribers."""
