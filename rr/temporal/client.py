"""The Temporal client: dial with retry, and an honest connected flag.

Go RoadRunner treats a failed dial as fatal; rr keeps retrying instead (with a clear
error in the log and ``/ready`` false), so a cluster that comes up after rr does not
need an rr restart. Once connected, sdk-core reconnects by itself; a periodic health
check keeps the flag honest while the cluster is away.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from rr.temporal.config import TemporalConfig

RETRY_MAX = 5.0
HEALTH_INTERVAL = 2.0


def tls_config(cfg: TemporalConfig) -> Any:
    """Plaintext unless ``tls`` is configured, even with an API key (unlike temporalio's
    default, as Go does, spec §2.1)."""
    if cfg.tls is None:
        return False
    from temporalio.service import TLSConfig

    t = cfg.tls
    return TLSConfig(
        server_root_ca_cert=Path(t.root_ca).read_bytes() if t.root_ca else None,
        client_cert=Path(t.cert).read_bytes() if t.cert else None,
        client_private_key=Path(t.key).read_bytes() if t.key else None,
        domain=t.server_name or None)


def runtime(cfg: TemporalConfig) -> Any:
    if cfg.metrics is None:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=cfg.metrics.address)))


class Connection:
    def __init__(self, cfg: TemporalConfig, log: logging.Logger) -> None:
        self.cfg = cfg
        self.log = log
        self.client: Any = None
        self.connected = False
        self.api_key = ""
        self._runtime = runtime(cfg)

    async def dial(self, api_key: str = "") -> Any:
        """Connect, retrying with back-off until it works (cancel to give up)."""
        from temporalio.client import Client

        self.api_key = api_key
        delay = 0.2
        while True:
            try:
                kw: dict[str, Any] = {"namespace": self.cfg.namespace,
                                      "api_key": api_key or None, "tls": tls_config(self.cfg)}
                if self._runtime is not None:
                    kw["runtime"] = self._runtime
                self.client = await Client.connect(self.cfg.address, **kw)
            except Exception as e:  # RuntimeError from the bridge: unreachable, TLS, auth
                self.log.error("temporal: cannot connect to temporal server, retrying",
                               extra={"fields": {"address": self.cfg.address,
                                                 "error": str(e)}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            self.connected = True
            self.log.info("connected to temporal server",
                          extra={"fields": {"address": self.cfg.address}})
            return self.client

    async def watch(self) -> None:
        """Keep ``connected`` true only while the frontend answers health checks."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            try:
                ok = await asyncio.wait_for(self.client.service_client.check_health(),
                                            HEALTH_INTERVAL * 2)
            except Exception:
                ok = False
            if ok != self.connected:
                self.connected = bool(ok)
                (self.log.info if ok else self.log.warning)(
                    "temporal: connection to temporal server %s",
                    "restored" if ok else "lost",
                    extra={"fields": {"address": self.cfg.address}})

    def update_api_key(self, key: str) -> bool:
        if not key or self.client is None:
            return False
        self.client.api_key = key
        self.api_key = key
        return True
