"""Host header validation.

The worker's ``uri`` is built from Host (spec/http-payload.md §2), so a Host such as
``h/admin#`` would move the path PHP sees away from the one a proxy's rules checked. Go's
server refuses a Host with bytes outside the authority alphabet (httpguts.ValidHostHeader);
rr also refuses what that check lets through but is no authority either: misplaced or
unbalanced IPv6 brackets, a non-numeric port, more than one colon outside brackets, and
more than 255 bytes.
"""

from __future__ import annotations

import ipaddress
import re

MAX_HOST = 255
# RFC 3986 reg-name / IP-literal bytes plus ":" (port) and "%" (pct-encoding, IPv6 zone)
_BYTES = re.compile(r"[A-Za-z0-9!$%&'()*+,\-.:;=\[\]_~]*")
_PORT = re.compile(r"[0-9]*")


def valid_host(host: str) -> bool:
    if len(host) > MAX_HOST or not host.isascii() or _BYTES.fullmatch(host) is None:
        return False
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        literal, rest = host[1:end], host[end + 1:]
        if rest and (rest[0] != ":" or _PORT.fullmatch(rest[1:]) is None):
            return False
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            return False
        return True
    if "[" in host or "]" in host or host.count(":") > 1:
        return False
    _, _, port = host.partition(":")
    return _PORT.fullmatch(port) is not None
