"""Unix listening sockets: a socket file a killed run left behind is replaced."""

from __future__ import annotations

import os
import socket
import stat


def remove_stale_socket(path: str) -> None:
    """A socket file nobody accepts on is removed (what grpcio does); a live one, or any
    other file, is left alone so that the bind fails clearly."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        return
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
    finally:
        probe.close()
