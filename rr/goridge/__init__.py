"""goridge v3 framing: the binary frame used on every worker and RPC channel."""
