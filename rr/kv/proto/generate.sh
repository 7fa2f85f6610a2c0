#!/bin/sh
# Regenerates kv_pb2.py from kv.proto (needs grpcio-tools).
set -e
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. kv.proto
# the stub is generated code: not linted (kv_pb2.py is excluded in pyproject)
sed -i "1i # ruff: noqa" kv_pb2.pyi
