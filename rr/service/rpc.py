"""``service.*`` RPC (protobuf ``service.v1``; spec/service.md §3): what
spiral/roadrunner-services' ``Manager`` calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rr.errors import RRError
from rr.rpc.registry import Registry
from rr.service.config import DEFAULT_RESTART_SEC, DEFAULT_STOP_SEC, ServiceConfig
from rr.service.process import ServiceProcess
from rr.service.proto import service_pb2 as pb

if TYPE_CHECKING:
    from rr.service.plugin import ServicePlugin


class ServiceRPC:
    def __init__(self, plugin: ServicePlugin) -> None:
        self.plugin = plugin

    def register(self, registry: Registry) -> None:
        registry.proto("service.Create", pb.Create, self.create)
        for method, fn in (("Terminate", self.terminate), ("Restart", self.restart),
                           ("Status", self.status), ("Statuses", self.statuses),
                           ("List", self.list)):
            registry.proto(f"service.{method}", pb.Service, fn)  # type: ignore[arg-type]

    def _procs(self, name: str) -> list[ServiceProcess]:
        procs = self.plugin.services.get(name)
        if procs is None:
            raise RRError(f"the service with {name} name doesn't exist")
        return procs

    async def create(self, req: pb.Create) -> pb.Response:
        if req.process_num <= 0:  # a negative count crashes the reference
            raise RRError(f"the service with {req.name} name should have at least 1 process")
        if req.exec_timeout < 0:
            raise RRError(f"the service with {req.name} name: exec_timeout must not be "
                          "negative")
        cfg = ServiceConfig(
            name=req.name, command=req.command, process_num=req.process_num,
            exec_timeout=float(req.exec_timeout), remain_after_exit=req.remain_after_exit,
            restart_sec=req.restart_sec or DEFAULT_RESTART_SEC,
            timeout_stop_sec=req.timeout_stop_sec or DEFAULT_STOP_SEC,
            service_name_in_log=req.service_name_in_logs, env=dict(req.env))
        async with self.plugin.lock:
            if req.name in self.plugin.services:
                raise RRError(f"the service with {req.name} name already exists")
            self.plugin.services[req.name] = await self.plugin.launch(cfg)
        return pb.Response(ok=True)

    async def terminate(self, req: pb.Service) -> pb.Response:
        async with self.plugin.lock:
            procs = self._procs(req.name)
            from rr.service.plugin import stop_all

            await stop_all(procs)
            self.plugin.services.pop(req.name, None)
        return pb.Response(ok=True)

    async def restart(self, req: pb.Service) -> pb.Response:
        async with self.plugin.lock:
            procs = self._procs(req.name)
            try:
                self.plugin.services[req.name] = await self.plugin.restart(procs)
            except RRError:
                self.plugin.services.pop(req.name, None)
                raise
        return pb.Response(ok=True)

    async def status(self, req: pb.Service) -> pb.Status:
        """Deprecated: the last process only; unreadable stats fail the call."""
        procs = self._procs(req.name)
        if not procs:
            raise RRError(f"the service with {req.name} name has no processes")
        p = procs[-1]
        mem, cpu = p.stats()
        return pb.Status(cpu_percent=cpu, pid=p.pid, memory_usage=mem, command=p.command)

    async def statuses(self, req: pb.Service) -> pb.Statuses:
        out = pb.Statuses()
        for p in self._procs(req.name):
            try:
                mem, cpu = p.stats()
            except RRError as e:
                out.status.append(pb.Status(pid=p.pid, command=p.command,
                                            status=pb.ErrorStatus(code=0, message=str(e))))
                continue
            out.status.append(pb.Status(cpu_percent=cpu, pid=p.pid, memory_usage=mem,
                                        command=p.command))
        return out

    async def list(self, _req: pb.Service) -> pb.List:
        return pb.List(services=list(self.plugin.services))
