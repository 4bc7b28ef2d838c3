"""The offset tracker: what may be committed when records finish out of order."""

from __future__ import annotations

import random

from service.offsets import OffsetTracker


def test_nothing_to_commit_before_anything_finishes() -> None:
    """Records handed out but unfinished give no commit point."""
    t: OffsetTracker[str] = OffsetTracker()
    t.start("p0", 0)
    t.start("p0", 1)
    assert t.to_commit() == {}
    assert t.in_flight("p0") == 2


def test_commit_point_is_the_end_of_the_finished_prefix() -> None:
    """A later record finishing first commits nothing; the gap closing commits up to the last finished one."""
    t: OffsetTracker[str] = OffsetTracker()
    a, b, c = t.start("p0", 10), t.start("p0", 11), t.start("p0", 12)
    assert not t.finish(c)
    assert t.to_commit() == {}
    assert t.finish(a)
    assert t.to_commit() == {"p0": 11}
    assert t.finish(b)
    assert t.to_commit() == {"p0": 13}
    assert t.in_flight("p0") == 0


def test_offsets_with_gaps() -> None:
    """Offsets need not be consecutive (compaction, transaction markers)."""
    t: OffsetTracker[str] = OffsetTracker()
    a, b = t.start("p0", 5), t.start("p0", 9)
    t.finish(b)
    assert t.to_commit() == {}
    t.finish(a)
    assert t.to_commit() == {"p0": 10}


def test_partitions_are_independent() -> None:
    """An unfinished record of one partition does not hold back another partition."""
    t: OffsetTracker[str] = OffsetTracker()
    t.start("p0", 0)
    b = t.start("p1", 0)
    t.finish(b)
    assert t.to_commit() == {"p1": 1}


def test_confirmed_commits_are_not_repeated() -> None:
    """Once Kafka confirmed a commit point it is not offered again until it moves."""
    t: OffsetTracker[str] = OffsetTracker()
    a, b = t.start("p0", 0), t.start("p0", 1)
    t.finish(a)
    t.committed(t.to_commit())
    assert t.to_commit() == {}
    t.finish(b)
    assert t.to_commit() == {"p0": 2}
    t.committed({"p0": 1})  # a stale confirmation does not move it back
    assert t.to_commit() == {"p0": 2}


def test_a_revoked_partition_ignores_late_finishers() -> None:
    """After forget(), a record of the old assignment finishing commits nothing."""
    t: OffsetTracker[str] = OffsetTracker()
    a = t.start("p0", 0)
    t.forget({"p0"})
    assert not t.finish(a)
    assert t.to_commit() == {}
    again = t.start("p0", 0)  # the partition came back: a new life
    assert not t.finish(a)
    assert t.to_commit() == {}
    assert t.finish(again)
    assert t.to_commit() == {"p0": 1}


def test_a_rewind_starts_the_partition_over() -> None:
    """An offset at or below one already handed out (a position reset) starts a new life."""
    t: OffsetTracker[str] = OffsetTracker()
    old = t.start("p0", 7)
    t.start("p0", 8)
    new = t.start("p0", 7)
    assert not t.finish(old)
    assert t.finish(new)
    assert t.to_commit() == {"p0": 8}


def test_a_rewind_below_the_commit_point_starts_over() -> None:
    """A record below the commit point (redelivered after a reset) starts a new life too."""
    t: OffsetTracker[str] = OffsetTracker()
    t.finish(t.start("p0", 3))
    again = t.start("p0", 2)
    assert t.finish(again)
    assert t.to_commit() == {"p0": 3}


def test_random_completion_order_never_commits_past_an_unfinished_record() -> None:
    """Whatever the order records finish in, the commit point never passes an unfinished one."""
    rng = random.Random(7)
    for _ in range(200):
        t: OffsetTracker[int] = OffsetTracker()
        offsets = sorted(rng.sample(range(1000), 30))
        tickets = [t.start(0, o) for o in offsets]
        order = tickets[:]
        rng.shuffle(order)
        finished: set[int] = set()
        for ticket in order:
            t.finish(ticket)
            finished.add(ticket.offset)
            point = t.to_commit().get(0)
            unfinished = [o for o in offsets if o not in finished]
            if point is not None:
                assert all(o >= point for o in unfinished)
                assert point - 1 in finished
            if unfinished and unfinished[0] == offsets[0]:
                assert point is None
        assert t.to_commit() == {0: offsets[-1] + 1}
