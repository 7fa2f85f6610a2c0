#!/bin/sh
# Regenerates lock_pb2.py from lock.proto (needs grpcio-tools).
set -e
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. lock.proto
# the stub is generated code: not linted (lock_pb2.py is excluded in pyproject)
sed -i "1i # ruff: noqa" lock_pb2.pyi
