"""Building a grpcio asyncio server from ``ServerOptions``: channel options, TLS and the
listener. Kept free of gRPC-plugin logic so other plugins on the same HTTP/2 stack
(e.g. a centrifuge-style API) build their server the same way.

grpcio's HTTP/2 and framing run in C; only the handlers run in Python, on rr's (uv)loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from rr.errors import ConfigError
from rr.grpc.config import ServerOptions, TLSConfig

# grpc-go's default server keepalive enforcement (not configurable in RoadRunner either):
# a client may ping at most every 5 minutes, and never without active calls
MIN_CLIENT_PING_MS = 5 * 60 * 1000


def channel_options(o: ServerOptions) -> list[tuple[str, int]]:
    """grpcio channel arguments for the configured limits and keepalive.

    ``max_concurrent_streams`` is deliberately not given to grpcio: its C core answers a
    stream over the advertised limit with RST_STREAM(REFUSED_STREAM) and grpcio clients
    do not queue on it, so 200 calls on one channel would partly fail. The limit is
    enforced per connection by queueing instead (``StreamLimiter``), which is what a
    grpc-go server achieves for its clients."""
    opts = [
        ("grpc.max_receive_message_length", o.max_recv_msg_size),
        ("grpc.max_send_message_length", o.max_send_msg_size),
        ("grpc.keepalive_time_ms", int(o.ping_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(o.timeout * 1000)),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_CLIENT_PING_MS),
        ("grpc.so_reuseport", 0),
    ]
    if o.max_connection_idle > 0:
        opts.append(("grpc.max_connection_idle_ms", int(o.max_connection_idle * 1000)))
    if o.max_connection_age > 0:
        opts.append(("grpc.max_connection_age_ms", int(o.max_connection_age * 1000)))
        # RoadRunner v5 passes max_connection_age as the grace (a bug fixed in v6); rr
        # uses max_connection_age_grace, infinite when unset
        if o.max_connection_age_grace > 0:
            opts.append(("grpc.max_connection_age_grace_ms",
                         int(o.max_connection_age_grace * 1000)))
    return opts


def credentials(tls: TLSConfig) -> grpc.ServerCredentials:
    """Server TLS from the key pair; with ``root_ca`` client certificates are checked.

    grpcio offers two client-auth modes: require-and-verify, or do not request. So
    ``require_and_verify_client_cert`` and ``require_any_client_cert`` require a client
    certificate signed by ``root_ca`` (the latter is stricter than Go's), and the
    optional modes (``request_client_cert``, ``verify_client_cert_if_given``) accept
    clients without asking for a certificate."""
    key = Path(tls.key).read_bytes()
    cert = Path(tls.cert).read_bytes()
    if not tls.root_ca:
        return grpc.ssl_server_credentials([(key, cert)])
    root = Path(tls.root_ca).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in root:
        raise ConfigError(f"grpc.tls.root_ca: could not append Certs from PEM ({tls.root_ca})")
    require = tls.client_auth_type in ("require_and_verify_client_cert",
                                       "require_any_client_cert")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=root,
                                       require_client_auth=require)


def build(o: ServerOptions, handlers: Sequence[grpc.GenericRpcHandler],
          name: str = "grpc") -> grpc.aio.Server:
    """A server with the handlers and its listener bound (not started)."""
    server = grpc.aio.server(options=channel_options(o))
    server.add_generic_rpc_handlers(tuple(handlers))
    target = o.listen.grpc_target  # grpcio unlinks a stale unix socket file itself
    try:
        if o.tls is not None:
            port = server.add_secure_port(target, credentials(o.tls))
        else:
            port = server.add_insecure_port(target)
    except RuntimeError as e:
        raise ConfigError(f"{name}.listen: cannot listen on {o.listen.address}: {e}") from None
    if port == 0:
        raise ConfigError(f"{name}.listen: cannot listen on {o.listen.address}")
    return server

