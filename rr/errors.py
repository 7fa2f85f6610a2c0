"""Error types shared across plugins."""


class ConfigError(Exception):
    """A configuration problem: the message names the key path, the value and what was expected."""


class RRError(Exception):
    """An operational error whose text is shown to the user / RPC client as is."""
