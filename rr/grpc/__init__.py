"""gRPC plugin: PHP gRPC services (spiral/roadrunner-grpc) behind rr's HTTP/2 front or grpcio."""

import logging
import os

# Workers are started with fork+exec, so grpcio's fork handlers are not needed (and
# would log a warning on every spawn); C-core's own info logging stays off as well.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
# grpcio's asyncio layer logs every call at DEBUG
logging.getLogger("grpc._cython.cygrpc").setLevel(logging.WARNING)
# hpack logs every decoded header at DEBUG: request metadata (tokens) must not reach rr's
# logs, and the calls cost time on the hot path
logging.getLogger("hpack").setLevel(logging.WARNING)
