"""A small aiohttp site for the side endpoints (metrics, status)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rr.errors import RRError


async def serve(web_app: web.Application, host: str, port: int, address: str,
                **runner_options: Any) -> web.AppRunner:
    """Start ``web_app`` on host:port; a bind failure reads like RoadRunner's
    ``listen tcp <address>: <reason>``."""
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise RRError(f"listen tcp {address}: {e.strerror or e}") from e
    return runner
