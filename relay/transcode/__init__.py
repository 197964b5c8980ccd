"""Decode once, process on the YUV planes, encode once per rung."""
