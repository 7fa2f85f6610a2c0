"""Form field names like ``a[b][]`` become a JSON tree (spec/http-payload.md §5.2).

Leaves are strings (or lists of strings for a trailing ``[]``); the uploads tree uses the
same shape with file objects as leaves.
"""

from __future__ import annotations

from typing import Any

MAX_LEVEL = 127


class FormTreeError(Exception):
    pass


def split_name(name: str) -> list[str]:
    """``a[b][]`` -> ``["a", "b", ""]``; spaces are ignored as in RoadRunner."""
    name = name.replace(" ", "")
    head, sep, rest = name.partition("[")
    keys = [head]
    if not sep:
        return keys
    rest = "[" + rest
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        end = rest.find("]", pos)
        if end < 0:
            break
        keys.append(rest[pos + 1:end])
        pos = end + 1
    return keys


def _is_empty(values: list[Any]) -> bool:
    return all(v == "" for v in values)


def _conflict(key: str) -> FormTreeError:
    return FormTreeError(f"invalid multiple values to key '{key}' in tree")


def mount(tree: dict[str, Any], keys: list[str], values: list[Any], single: bool = False) -> None:
    """Put ``values`` (all values sent under one field name) at the key path.

    ``single`` selects the first value for plain names (files) instead of the last (fields).
    """
    key = keys[0]
    existing = tree.get(key)
    if len(keys) == 1:
        leaf = values[0] if single else values[-1]
        if isinstance(existing, dict):
            if leaf == "":
                return  # an empty value never overrides a branch
            raise _conflict(key)
        tree[key] = leaf
        return
    if len(keys) == 2 and keys[1] == "":
        if isinstance(existing, dict) or (isinstance(existing, str) and existing != ""):
            if _is_empty(values):
                return
            raise _conflict(key)
        tree[key] = list(values)
        return
    if existing is None or existing == "":
        existing = tree[key] = {}
    elif not isinstance(existing, dict):
        raise _conflict(key)
    mount(existing, keys[1:], values, single)


def build_tree(fields: list[tuple[str, Any]], single: bool = False) -> dict[str, Any]:
    """Group values by full field name (like Go's url.Values), then mount each group."""
    grouped: dict[str, list[Any]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    tree: dict[str, Any] = {}
    for name, values in grouped.items():
        keys = split_name(name)
        if len(keys) > MAX_LEVEL:
            continue
        mount(tree, keys, values, single)
    return tree
