"""goridge RPC server and method registry."""
