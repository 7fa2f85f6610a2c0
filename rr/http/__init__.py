"""The HTTP plugin: every request becomes a payload for a PHP worker (spec/http-payload.md)."""
