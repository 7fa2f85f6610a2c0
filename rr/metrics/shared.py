"""One set of series per prometheus registry, however many recorders are built on it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

T = TypeVar("T")


class PerRegistry(Generic[T]):
    """``PerRegistry(make)(registry)`` builds the series with ``make`` the first time and
    returns the same object afterwards (registering twice would be a duplicate error)."""

    def __init__(self, make: Callable[[CollectorRegistry], T]) -> None:
        self._make = make
        self._by_registry: weakref.WeakKeyDictionary[CollectorRegistry, T] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, registry: CollectorRegistry) -> T:
        with self._lock:
            found = self._by_registry.get(registry)
            if found is None:
                found = self._make(registry)
                self._by_registry[registry] = found
            return found
