#!/bin/sh
# Regenerates service_pb2.py from service.proto (needs grpcio-tools).
set -e
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. service.proto
# generated code is not linted
sed -i "1i # ruff: noqa" service_pb2.py service_pb2.pyi
