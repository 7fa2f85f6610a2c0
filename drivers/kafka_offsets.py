"""Per-partition bookkeeping that lets the Kafka driver commit only what workers finished.

RoadRunner marks a record for commit as soon as the job is acked and commits whatever was
marked, so a record still running behind an already-acked later one is lost when rr
crashes. Here a partition's commit position is the lowest offset that was handed out and
is not settled yet (or one past the highest delivered offset when nothing is pending):
every offset below it is finished, so committing it never skips unfinished work.
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    """Delivered-but-unsettled offsets of one assigned partition (one assignment epoch).

    A new object is made whenever the partition is (re)assigned, so settling a delivery
    from an older assignment touches nothing the current one relies on.
    """

    __slots__ = ("_pending", "_settled", "_high", "committed", "next_to_deliver")

    def __init__(self) -> None:
        self._pending: list[int] = []      # min-heap of delivered offsets (lazy deletion)
        self._settled: set[int] = set()    # settled offsets still in the heap
        self._high = -1                     # one past the highest delivered offset
        self.committed = -1                 # last position successfully committed
        self.next_to_deliver = -1           # where to seek back to after a pause

    def delivered(self, offset: int) -> None:
        heapq.heappush(self._pending, offset)
        self._settled.discard(offset)
        if offset + 1 > self._high:
            self._high = offset + 1
        self.next_to_deliver = offset + 1

    def settle(self, offset: int) -> None:
        if self._pending and offset >= self._pending[0]:
            self._settled.add(offset)

    def commit_position(self) -> int:
        """The offset to commit (-1: nothing delivered yet)."""
        while self._pending and self._pending[0] in self._settled:
            self._settled.discard(heapq.heappop(self._pending))
        return self._pending[0] if self._pending else self._high

    def needs_commit(self) -> bool:
        pos = self.commit_position()
        return pos >= 0 and pos > self.committed

    @property
    def in_flight(self) -> int:
        return len(self._pending) - len(self._settled)
