"""The `lock` plugin: in-memory exclusive/shared locks per resource over RPC (spec/lock.md)."""
