"""Error types shared across plugins."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem: the message names the key path, the value and what was expected."""


class RRError(Exception):
    """An operational error whose text is shown to the user / RPC client as is."""


def describe(exc: BaseException | None) -> str:
    """An exception as one line that always says something (some network errors have an
    empty text: then the type, and the cause's text when there is one)."""
    if exc is None:
        return "no reason given"
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc and str(cause).strip():
        return f"{type(exc).__name__}: {describe(cause)}"
    return type(exc).__name__
