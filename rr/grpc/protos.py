"""Services and methods from the configured .proto files (spec/grpc.md §3).

The files are parsed by protoc itself (grpcio-tools), so syntax errors read as protoc
prints them (``file:line:column: message``) and the descriptors double as the source of
server reflection. Message types are never needed to proxy a call; they are kept only
for reflection.

Differences from RoadRunner, on purpose: an import that cannot be resolved is an error
naming it (RoadRunner skips it silently and then serves a half-known API); the
well-known ``google/protobuf/*`` and the googleapis ``google/api|rpc/*`` files resolve
from the installed packages, so the usual imports keep working.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from google.protobuf import descriptor_pb2

from rr.errors import ConfigError

GLOB_CHARS = frozenset("*?[{")


class Kind(Enum):
    UNARY = "unary"
    CLIENT_STREAM = "client streaming"
    SERVER_STREAM = "server streaming"
    BIDI_STREAM = "bidi streaming"


@dataclass(frozen=True, slots=True)
class Method:
    service: str  # "<package>.<Service>"
    name: str
    kind: Kind

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


@dataclass(slots=True)
class ProtoSet:
    services: dict[str, dict[str, Method]] = field(default_factory=dict)
    files: dict[str, descriptor_pb2.FileDescriptorProto] = field(default_factory=dict)
    #: which file on disk declared each service
    origins: dict[str, Path] = field(default_factory=dict)

    def methods(self) -> Iterable[Method]:
        for methods in self.services.values():
            yield from methods.values()


def expand(entries: Iterable[str], workdir: Path) -> list[Path]:
    """Config entries → files: globs (``**`` allowed) may match nothing; plain paths must
    exist."""
    out: list[Path] = []
    for entry in entries:
        if not entry:
            continue
        if GLOB_CHARS & set(entry):
            pattern = entry if os.path.isabs(entry) else str(workdir / entry)
            out.extend(Path(p) for p in sorted(glob.glob(pattern, recursive=True))
                       if os.path.isfile(p))
            continue
        path = Path(entry) if os.path.isabs(entry) else workdir / entry
        if not path.is_file():
            raise ConfigError(f"grpc.proto: proto file '{entry}' does not exists")
        out.append(path)
    return out


def load(entries: Iterable[str], workdir: Path) -> ProtoSet:
    files = expand(entries, workdir)
    result = ProtoSet()
    by_dir: dict[Path, list[Path]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f)
    parsed = {d: _parse_dir(d, [f.name for f in fs]) for d, fs in by_dir.items()}
    for fds in parsed.values():
        for name, proto in fds.items():  # protoc's order: dependencies first
            result.files.setdefault(name, proto)
    for f in files:  # in configured order, so a duplicate names the later file
        fds = parsed[f.parent]
        for proto in _closure(f.name, fds):
            _register(result, proto, (f.parent / proto.name).resolve())
    return result


def _register(result: ProtoSet, proto: descriptor_pb2.FileDescriptorProto, origin: Path) -> None:
    for svc in proto.service:
        # RoadRunner formats "<package>.<Service>" even without a package, which makes
        # such a service unreachable; rr registers "<Service>" (what PHP's NAME holds)
        name = f"{proto.package}.{svc.name}" if proto.package else svc.name
        seen = result.origins.get(name)
        if seen == origin:
            # RoadRunner aborts when one file is listed twice or listed and imported;
            # it is the same service, so rr registers it once
            continue
        if seen is not None:
            raise ConfigError(f"grpc.proto: duplicate service registration for \"{name}\": "
                              f"declared in {seen} and in {origin}")
        result.origins[name] = origin
        methods: dict[str, Method] = {}
        for m in svc.method:
            kind = _KINDS[(m.client_streaming, m.server_streaming)]
            methods[m.name] = Method(name, m.name, kind)
        result.services[name] = methods


_KINDS = {(False, False): Kind.UNARY, (True, False): Kind.CLIENT_STREAM,
          (False, True): Kind.SERVER_STREAM, (True, True): Kind.BIDI_STREAM}


def _closure(name: str, fds: dict[str, descriptor_pb2.FileDescriptorProto]
             ) -> list[descriptor_pb2.FileDescriptorProto]:
    """The file and everything it imports (transitively), each once."""
    seen: set[str] = set()
    order: list[descriptor_pb2.FileDescriptorProto] = []
    stack = [name]
    while stack:
        n = stack.pop()
        if n in seen or n not in fds:
            continue
        seen.add(n)
        order.append(fds[n])
        stack.extend(reversed(fds[n].dependency))
    return order


def include_dirs() -> list[str]:
    """Where protoc finds google/protobuf/* (grpcio-tools) and google/api|rpc/*
    (googleapis-common-protos)."""
    import grpc_tools

    dirs = [os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")]
    try:
        import google.rpc

        dirs.extend(os.path.dirname(os.path.dirname(p)) for p in google.rpc.__path__)
    except ImportError:  # pragma: no cover - googleapis-common-protos comes with grpcio-status
        pass
    return dirs


def _parse_dir(directory: Path, names: list[str]) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """One protoc run for the files of one directory (their import root, as in
    RoadRunner)."""
    with tempfile.TemporaryDirectory(prefix="rr-grpc-") as tmp:
        out = os.path.join(tmp, "set.pb")
        args = [sys.executable, "-m", "grpc_tools.protoc", f"-I{directory}",
                *(f"-I{d}" for d in include_dirs()),
                f"--descriptor_set_out={out}", "--include_imports", *names]
        proc = subprocess.run(args, capture_output=True, text=True, cwd=directory)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip() or f"protoc exited {proc.returncode}"
            raise ConfigError(f"grpc.proto: cannot parse proto files in {directory}: {detail}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(Path(out).read_bytes())
    return {f.name: f for f in fds.file}
