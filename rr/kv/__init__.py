"""Key-value storages reachable over the ``kv.*`` RPC (spec/kv.md)."""
