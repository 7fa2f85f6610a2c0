"""Bundled HTTP middleware (spec/http-payload.md §11); each module has ``build(...)``."""
