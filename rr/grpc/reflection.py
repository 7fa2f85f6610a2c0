"""Server reflection (``grpc.reflection.v1alpha``, what grpcio-reflection serves) from
the loaded protos.

RoadRunner v5 has none; grpcurl-style tools need it to call a server without the
.proto files. The descriptors are the ones protoc produced at start, plus the health
service's own, in a private pool (never the process-wide default pool).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from rr.grpc.health import SERVICE as HEALTH
from rr.grpc.protos import ProtoSet


def build_pool(protos: ProtoSet, log: logging.Logger) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    health = descriptor_pb2.FileDescriptorProto.FromString(health_pb2.DESCRIPTOR.serialized_pb)
    for fdp in (health, *protos.files.values()):
        try:
            pool.Add(fdp)
        except (TypeError, ValueError) as e:  # a conflicting definition: skip it
            log.warning("reflection: proto file not added",
                        extra={"fields": {"file": fdp.name, "error": str(e)}})
    return pool


def enable(server: grpc.aio.Server, protos: ProtoSet, log: logging.Logger) -> None:
    names = (*protos.services, HEALTH, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server, build_pool(protos, log))


def native_path() -> str:
    return f"/{reflection.SERVICE_NAME}/ServerReflectionInfo"


def native_handler(protos: ProtoSet, log: logging.Logger
                   ) -> Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]:
    """Reflection for the native front: grpcio-reflection's asyncio servicer over raw
    request and response bytes."""
    from grpc_reflection.v1alpha import _async, reflection_pb2

    names = (*protos.services, HEALTH, reflection.SERVICE_NAME)
    servicer = _async.ReflectionServicer(names, build_pool(protos, log))

    async def run(requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async def parsed() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            async for raw in requests:
                yield reflection_pb2.ServerReflectionRequest.FromString(raw)

        async for resp in servicer.ServerReflectionInfo(parsed(), None):
            yield resp.SerializeToString()

    return run
