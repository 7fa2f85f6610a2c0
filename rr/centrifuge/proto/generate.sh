#!/bin/sh
# Regenerates the *_pb2.py modules with the protoc bundled in grpcio-tools, so the output
# depends only on the grpcio-tools version (not on a system protoc).
set -eu
cd "$(dirname "$0")"
python -m grpc_tools.protoc --proto_path=. --python_out=. proxy.proto api.proto client_protocol.proto
