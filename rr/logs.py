"""The `logs` section (spec/config.md §7.3): zap-shaped log lines from std `logging`.

Plugins log through plain ``logging.getLogger(<plugin name>)`` and pass structured fields
as ``extra={"fields": {...}}``. The line shapes matter to tools that parse them: Laravel
Octane reads the production JSON lines (`level`, `ts` in nanoseconds, `logger`, `msg`).
"""

from __future__ import annotations

import gzip
import json
import logging
import logging.handlers
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from rr.config import Config, Section
from rr.errors import ConfigError, describe

# zap level names; Python's CRITICAL is shown as zap's most severe level.
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
                logging.ERROR: "error", logging.CRITICAL: "fatal"}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "dpanic": logging.CRITICAL,
           "panic": logging.CRITICAL, "fatal": logging.CRITICAL}
_COLOURS = {logging.DEBUG: "\x1b[35m", logging.INFO: "\x1b[34m", logging.WARNING: "\x1b[33m",
            logging.ERROR: "\x1b[31m", logging.CRITICAL: "\x1b[31m"}
_NAME_COLOUR = "\x1b[36m"
_RESET = "\x1b[0m"

# Libraries that log chatty DEBUG/INFO records of their own; the `logs.level` of RoadRunner
# only concerns RoadRunner's loggers, so these stay at WARNING unless a channel names them.
_THIRD_PARTY = ("asyncio", "aiohttp", "aiokafka", "aio_pika", "aiormq", "pamqp", "botocore",
                "aiobotocore", "urllib3", "apscheduler", "redis", "kafka", "s3transfer")

_THIRD_PARTY_SET = frozenset(_THIRD_PARTY)
# Broker clients whose connection events the drivers report themselves (one line with the
# reason, e.g. "amqp pipeline p: connection closed (...); redialing"); their own records
# would repeat each cut as a traceback, so they speak only at CRITICAL unless a channel
# names them.
_REPORTED_BY_DRIVERS = ("aiormq", "aio_pika")

_MODES = ("development", "production", "raw", "off", "none")
_installed: list[tuple[logging.Logger, logging.Handler]] = []


def level_name(levelno: int) -> str:
    if levelno in _LEVEL_NAMES:
        return _LEVEL_NAMES[levelno]
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return _LEVEL_NAMES[threshold]
    return "debug"


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    f = getattr(record, "fields", None)
    return f if isinstance(f, Mapping) else {}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


class JSONFormatter(logging.Formatter):
    """zap production encoder: level, ts (Unix ns), logger, msg, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": level_name(record.levelno),
            "ts": int(record.created * 1e9),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            entry.setdefault(str(key), value)
        if record.exc_info:
            entry.setdefault("error", str(record.exc_info[1]))
            entry.setdefault("stacktrace", self.formatException(record.exc_info))
        return _dumps(entry)


class ConsoleFormatter(logging.Formatter):
    """zap development console encoder: time, LEVEL, logger, message, fields as JSON.

    Tab separated; colours only when the destination is a terminal.
    """

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(record.created))
        level = level_name(record.levelno).upper()
        name = record.name
        if self.colour:
            level = f"{_COLOURS.get(record.levelno, '')}{level}{_RESET}"
            name = f"{_NAME_COLOUR}{name}{_RESET}"
        parts = [stamp, level, name, record.getMessage()]
        fields = _fields(record)
        if fields:
            parts.append(_dumps(dict(fields)))
        line = "\t".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RawFormatter(logging.Formatter):
    """Message text only: worker stderr comes out verbatim."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class _BelowWarning(logging.Filter):
    """`-s`: only warnings and errors reach the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


@dataclass(frozen=True)
class LogOptions:
    mode: str = "development"
    level: int = logging.DEBUG
    encoding: str = ""
    line_ending: str = "\n"
    output: tuple[str, ...] = ("stderr",)
    file_options: Mapping[str, Any] | None = field(default=None)

    @property
    def off(self) -> bool:
        return self.mode in ("off", "none")

    @property
    def effective_encoding(self) -> str:
        if self.file_options is not None:
            return "json"  # lumberjack output is always JSON-encoded
        if self.encoding in ("console", "json"):
            return self.encoding
        return "json" if self.mode == "production" else "console"


def _options(section: Section, base: LogOptions | None) -> LogOptions:
    """Options of one `logs` block; a channel inherits what it does not set.

    RoadRunner builds a channel from its own block alone (so a channel with only `level`
    falls back to a bare console format); inheriting the top-level settings is what users
    expect from a per-logger override.
    """
    opts = base or LogOptions()
    if section.has("mode"):
        mode = section.string("mode").strip().lower()
        opts = replace(opts, mode=mode)
    if section.has("level"):
        name = section.string("level").strip().lower()
        # an invalid level is ignored: the mode's built-in level applies (as in zap)
        opts = replace(opts, level=_LEVELS.get(name, _default_level(opts.mode)))
    if section.has("encoding"):
        enc = section.string("encoding").strip().lower()
        if enc not in ("console", "json"):
            raise ConfigError(f"{section.path}.encoding: expected console or json, got {enc!r}")
        opts = replace(opts, encoding=enc)
    if section.has("line_ending"):
        opts = replace(opts, line_ending=section.string("line_ending"))
    if section.has("output"):
        outputs = tuple(o.strip() for o in section.string_list("output") if o.strip())
        opts = replace(opts, output=outputs or ("stderr",))
    if section.has("file_logger_options"):
        opts = replace(opts, file_options=section.section("file_logger_options"))
    return opts


def _default_level(mode: str) -> int:
    return logging.INFO if mode in ("production", "raw") else logging.DEBUG


def _formatter(opts: LogOptions, stream: TextIO | None) -> logging.Formatter:
    if opts.mode == "raw" and opts.file_options is None and opts.encoding != "json":
        return RawFormatter()
    if opts.effective_encoding == "json":
        return JSONFormatter()
    colour = opts.mode == "development" and stream is not None and _isatty(stream)
    return ConsoleFormatter(colour=colour)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _StdStream(logging.StreamHandler):  # type: ignore[type-arg]
    """Looks up sys.stdout/sys.stderr at emit time, so redirection (and tests) work."""

    def __init__(self, which: str) -> None:
        super().__init__()
        self.which = which

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout if self.which == "stdout" else sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _gzip_rotator(source: str, dest: str) -> None:
    with open(source, "rb") as src, gzip.open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(source)


def _handlers(opts: LogOptions, silent: bool) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    if opts.file_options is not None:
        fo = opts.file_options
        sec = fo if isinstance(fo, Section) else Section(fo)
        path = sec.string("log_output") or os.path.join(tempfile.gettempdir(), "rr.log")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            path, maxBytes=max(sec.integer("max_size", 100), 1) * 1024 * 1024,
            backupCount=sec.integer("max_backups", 10), encoding="utf-8")
        if sec.boolean("compress", False):
            rotating.namer = lambda name: name + ".gz"
            rotating.rotator = _gzip_rotator
        handlers.append(rotating)
    else:
        for target in opts.output:
            if target in ("stdout", "stderr"):
                console = _StdStream(target)
                if silent:
                    console.addFilter(_BelowWarning())
                handlers.append(console)
            else:
                try:
                    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
                    handlers.append(logging.FileHandler(target, encoding="utf-8"))
                except OSError as e:
                    raise ConfigError(f"logs.output: cannot open log file {target!r}: "
                                      f"{e.strerror or e}") from None
    for handler in handlers:
        stream = getattr(handler, "stream", None) if isinstance(handler, _StdStream) else None
        handler.setFormatter(_formatter(opts, stream))
        handler.terminator = opts.line_ending  # type: ignore[attr-defined]
    return handlers


def _library_one_line(record: logging.LogRecord) -> bool:
    """A library's record with a traceback becomes one line ending in the reason: a
    flapping network must not fill the log with stack traces of code that is not rr's."""
    if record.exc_info and record.name.partition(".")[0] in _THIRD_PARTY_SET:
        exc = record.exc_info[1]
        if exc is not None:
            record.msg = f"{record.getMessage()}: {describe(exc)}"
            record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


def _install(logger: logging.Logger, opts: LogOptions, silent: bool) -> None:
    logger.setLevel(logging.CRITICAL + 10 if opts.off else opts.level)
    handlers = [logging.NullHandler()] if opts.off else _handlers(opts, silent)
    for handler in handlers:
        handler.addFilter(_library_one_line)
        logger.addHandler(handler)
        _installed.append((logger, handler))


def reset_logging() -> None:
    """Remove what a previous setup_logging installed (tests, SIGUSR2 restarts)."""
    while _installed:
        logger, handler = _installed.pop()
        logger.removeHandler(handler)
        handler.close()


def setup_logging(config: Config, silent: bool = False) -> None:
    """Configure the root logger and every `logs.channels.<name>` logger."""
    reset_logging()
    section = config.section("logs")
    top = _options(section, None)
    if top.mode not in _MODES:
        # zap's fallback for an unknown mode is a console encoder; ours is the same shape
        top = replace(top, encoding=top.encoding or "console")
    root = logging.getLogger()
    _install(root, top, silent)
    for lib in _THIRD_PARTY:
        logging.getLogger(lib).setLevel(logging.WARNING)
    for lib in _REPORTED_BY_DRIVERS:
        logging.getLogger(lib).setLevel(logging.CRITICAL)

    channels = section.section("channels")
    for name in channels:
        channel = channels.section(name)
        logger = logging.getLogger(name)
        logger.propagate = False
        _install(logger, _options(channel, top), silent)
        _installed.append((logger, _PropagateRestore(logger)))
    logging.captureWarnings(True)


class _PropagateRestore(logging.Handler):
    """A marker whose removal turns propagation back on (see reset_logging)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        self.logger.propagate = True
        self.logger.setLevel(logging.NOTSET)
        super().close()


__all__ = ["ConsoleFormatter", "JSONFormatter", "LogOptions", "RawFormatter", "level_name",
           "reset_logging", "setup_logging"]
