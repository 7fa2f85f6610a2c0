"""The plugin registry: start order from declared dependencies, known config sections."""

import pytest

from rr.registry import ENTRIES, PluginEntry, known_sections, start_order


def test_every_plugin_starts_after_what_it_declares() -> None:
    order = [e.name for e in start_order()]
    for e in ENTRIES:
        for dep in e.after:
            if dep != "*":
                assert order.index(dep) < order.index(e.name), (e.name, dep)
    assert order[-1] == "status" and order[0] == "rpc"


def test_listing_position_only_breaks_ties() -> None:
    entries = (PluginEntry("b", "m", after=("a",)), PluginEntry("a", "m"),
               PluginEntry("c", "m"))
    assert [e.name for e in start_order(entries)] == ["a", "b", "c"]


def test_cycles_and_unknown_dependencies_are_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        start_order((PluginEntry("a", "m", after=("b",)), PluginEntry("b", "m", after=("a",))))
    with pytest.raises(ValueError, match="unknown plugin 'zz'"):
        start_order((PluginEntry("a", "m", after=("zz",)),))


def test_driver_and_core_sections_are_known() -> None:
    assert {"amqp", "server", "logs", "http", "jobs"} <= known_sections()
