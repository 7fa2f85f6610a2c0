#!/bin/sh
# Regenerates applogger_pb2.py from applogger.proto (needs grpcio-tools).
set -e
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. applogger.proto
# the stub is generated code: not linted (applogger_pb2.py is excluded in pyproject)
sed -i "1i # ruff: noqa" applogger_pb2.pyi
