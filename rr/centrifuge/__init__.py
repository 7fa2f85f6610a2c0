"""The ``centrifuge`` plugin: Centrifugo's gRPC proxy into PHP workers, the server API as
``centrifuge.*`` RPC, and rr's own Centrifugo-compatible WebSocket endpoint."""
