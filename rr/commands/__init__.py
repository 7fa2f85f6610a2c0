"""Sub-commands of the `rr` CLI."""
