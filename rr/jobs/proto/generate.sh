#!/bin/sh
# Regenerates jobs_pb2.py from jobs.proto with the protoc bundled in grpcio-tools, so the
# output depends only on the grpcio-tools version (not on a system protoc).
set -eu
cd "$(dirname "$0")"
python -m grpc_tools.protoc --proto_path=. --python_out=. jobs.proto
