"""``server.on_init``: a command run once before any worker starts (migrations, cache
warm-up). Its output is logged by the ``server`` logger; a failure aborts the start only
with ``exit_on_error``."""

from __future__ import annotations

import asyncio
import logging
import os

from rr.config import Section, command_list
from rr.errors import ConfigError, RRError

log = logging.getLogger("server")


def command_of(section: Section) -> list[str]:
    cmd = command_list(section.raw("command"))
    if not cmd or not cmd[0]:
        raise ConfigError("server.on_init.command: on_init command should not be empty")
    return cmd


async def run(server: Section) -> None:
    if not server.has("on_init"):
        return
    section = server.section("on_init")
    cmd = command_of(section)
    timeout = section.duration("exec_timeout", 60.0) or 60.0
    # on_init.env goes in *before* the server's environment: an identical key already in
    # the OS environment wins (RoadRunner's order)
    env = section.env_map("env")
    env.update(os.environ)
    kwargs: dict[str, object] = {}
    if section.string("user"):
        from rr.pool.spawn import _drop_privileges

        kwargs["preexec_fn"] = _drop_privileges(section.string("user"))
    exit_on_error = section.boolean("exit_on_error", False)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            **kwargs)  # type: ignore[arg-type]
    except OSError as e:
        return _failed(f"on_init: {cmd[0]}: {e}", exit_on_error)
    assert proc.stdout is not None

    async def pump() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text:
                log.info(text, extra={"fields": {"on_init": True}})

    try:
        await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return _failed(f"on_init: {' '.join(cmd)} did not finish within {timeout:g}s",
                       exit_on_error)
    if proc.returncode != 0:
        _failed(f"on_init: {' '.join(cmd)} exited with code {proc.returncode}", exit_on_error)


def _failed(message: str, fatal: bool) -> None:
    if fatal:
        raise RRError(message)
    log.error("on_init was finished with errors", extra={"fields": {"error": message}})
