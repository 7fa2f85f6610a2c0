"""Supervised background processes next to the server (spec/service.md)."""
