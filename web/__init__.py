"""The browser UI, shipped inside the package as relay.web."""
