"""Uploaded files: temp files in ``http.uploads.dir`` and the tree PHP reads them from.

Files are written before the request reaches a worker and removed once the response has
been written (spec/http-payload.md §5.4); PHP never deletes them itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import tempfile
from dataclasses import dataclass, field
from typing import Any

from rr.config import Section
from rr.http.formtree import build_tree
from rr.http.multipart import Part

UPLOAD_ERR_OK = 0
UPLOAD_ERR_NO_FILE = 4
UPLOAD_ERR_NO_TMP_DIR = 6
UPLOAD_ERR_CANT_WRITE = 7
UPLOAD_ERR_EXTENSION = 8


@dataclass(slots=True)
class UploadsConfig:
    dir: str = field(default_factory=tempfile.gettempdir)
    forbid: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()
    uid: int = 0
    gid: int = 0

    @classmethod
    def from_config(cls, http: Section, server: Section) -> UploadsConfig:
        up = http.section("uploads")
        cfg = cls(
            dir=up.string("dir") or tempfile.gettempdir(),
            forbid=frozenset(e.lower() for e in up.string_list("forbid") if e),
            allow=frozenset(e.lower() for e in up.string_list("allow") if e),
        )
        user = server.string("user")
        if user:
            try:
                pw = pwd.getpwnam(user)
                if pw.pw_uid and pw.pw_gid:
                    cfg.uid, cfg.gid = pw.pw_uid, pw.pw_gid
            except KeyError:
                pass
        return cfg

    def allowed(self, filename: str) -> bool:
        ext = os.path.splitext(filename)[1].lower()
        if ext in self.forbid:
            return False
        return not self.allow or ext in self.allow


def _create_temp(directory: str) -> tuple[int, str]:
    """Like Go's CreateTemp(dir, "upload"): ``upload`` + random digits, exclusive create."""
    for _ in range(100):
        path = os.path.join(directory, f"upload{secrets.randbelow(10**10)}")
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError("cannot create a unique upload file")


def store(part: Part, cfg: UploadsConfig, created: list[str]) -> dict[str, Any]:
    """Write one file part; returns its tree leaf. Paths created are appended to ``created``."""
    filename = part.filename or ""
    info: dict[str, Any] = {"name": filename, "mime": part.content_type, "size": 0,
                            "error": UPLOAD_ERR_OK, "tmpName": ""}
    if not cfg.allowed(filename):
        info["error"] = UPLOAD_ERR_EXTENSION
        return info
    try:
        fd, path = _create_temp(cfg.dir)
    except OSError:
        info["error"] = UPLOAD_ERR_NO_TMP_DIR
        return info
    created.append(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(part.data)
        if cfg.uid:
            os.chown(path, cfg.uid, cfg.gid)
    except OSError:
        info["error"] = UPLOAD_ERR_CANT_WRITE
        return info
    info["size"] = len(part.data)
    info["tmpName"] = path
    return info


def build_uploads(files: list[Part], cfg: UploadsConfig, created: list[str]) -> dict[str, Any]:
    leaves = [(p.name, store(p, cfg, created)) for p in files]
    return build_tree(leaves, single=True)


def remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
