"""`python -m relay` is the same as the `drone-relay` command."""

from relay.cli import main

raise SystemExit(main())
