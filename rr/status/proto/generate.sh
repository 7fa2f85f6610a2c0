#!/bin/sh
# Regenerates status_pb2.py from status.proto (needs grpcio-tools).
set -e
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. status.proto
# generated code is not linted
sed -i "1i # ruff: noqa" status_pb2.py status_pb2.pyi
