"""The app logger plugin: PHP writes into rr's own log over RPC (spec/app-logger.md)."""
