"""Live annotations: operators mark a stream's picture, viewers follow the marks
(docs/annotations.md)."""
