"""``proxy_ip_parser``: the client address behind trusted proxies (spec/http-payload.md §10)."""

from __future__ import annotations

import ipaddress
import logging
import re

from aiohttp import web

from rr.config import Section
from rr.errors import ConfigError
from rr.http.chain import Handler, Middleware, text_response
from rr.http.context import REMOTE_ADDR, strip_port

_FOR = re.compile(r"(?i)(?:for=)([^();,| ]+)")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_subnets(values: list[str]) -> list[Network]:
    nets: list[Network] = []
    for cidr in values:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as e:
            raise ConfigError(f"http.trusted_subnets: invalid CIDR {cidr!r}: {e}") from None
    return nets


def client_ip(headers: object) -> str | None:
    """First match: Forwarded for=, X-Forwarded-For, X-Real-Ip, True-Client-Ip, Cf-Connecting-Ip."""
    get = headers.get  # type: ignore[attr-defined]
    fwd = get("Forwarded")
    found: str | None = None
    if fwd is not None:
        m = _FOR.search(fwd)
        if m:
            found = m.group(1).strip('"')
    else:
        xff = get("X-Forwarded-For")
        found = xff.split(",", 1)[0] if xff is not None else get("X-Real-Ip")
    if found is None:
        found = get("True-Client-Ip") or get("Cf-Connecting-Ip")
    return found


def normalise(addr: str, log: logging.Logger) -> str:
    """Strip a port when present; bare IPs pass; anything else becomes "" (warned)."""
    host = strip_port(addr)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        log.warning("unable to parse the client IP", extra={"fields": {"addr": addr}})
        return ""


def build(http: Section, log: logging.Logger) -> Middleware | None:
    nets = parse_subnets(http.string_list("trusted_subnets"))
    if not nets:
        return None

    def trusted(ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in nets)

    def wrap(inner: Handler) -> Handler:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            if not isinstance(peer, (tuple, list)) or not peer:
                return text_response(400, "missing port in address\n")
            if trusted(str(peer[0])):
                found = client_ip(request.headers)
                if found is not None:
                    request[REMOTE_ADDR] = normalise(found, log)
            return await inner(request)

        return handle

    return wrap
