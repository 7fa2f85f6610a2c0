"""The commit position never passes an unsettled offset (at-least-once under crashes)."""

from hypothesis import given
from hypothesis import strategies as st

from rr.drivers.kafka_offsets import PartitionOffsets


def test_commit_waits_for_the_lowest_unsettled_offset() -> None:
    p = PartitionOffsets()
    assert p.commit_position() == -1 and not p.needs_commit()
    for o in (5, 6, 7):
        p.delivered(o)
    p.settle(6)
    p.settle(7)
    assert p.commit_position() == 5          # 5 still running: commit nothing past it
    p.settle(5)
    assert p.commit_position() == 8
    assert p.needs_commit()
    p.committed = 8
    assert not p.needs_commit()
    assert p.in_flight == 0


@given(st.permutations(list(range(20))), st.integers(min_value=0, max_value=20))
def test_position_is_first_unsettled(order: list[int], settled_count: int) -> None:
    p = PartitionOffsets()
    for o in range(20):
        p.delivered(100 + o)
    done = set(order[:settled_count])
    for o in order[:settled_count]:
        p.settle(100 + o)
    first_unsettled = next((o for o in range(20) if o not in done), 20)
    assert p.commit_position() == 100 + first_unsettled
    assert p.in_flight == 20 - len(done)
