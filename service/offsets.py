"""Which offsets may be committed when messages of a partition finish out of order (pure).

A consumer that works on several records of one partition at once may commit an
offset only when every record before it is finished: Kafka's committed offset
means "everything below this is done". The tracker keeps, per partition, the
records handed out in fetch order and reports the commit point (last finished
record of the unbroken finished prefix, + 1).

Offsets of a partition are not always consecutive (compaction, transaction
markers), so the tracker remembers the offsets it saw rather than counting.

A partition revoked in a rebalance is forgotten; a record of it that finishes
later is ignored (its ticket names an older epoch), so a late finisher can never
commit on behalf of a partition that another consumer now owns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["OffsetTracker", "Ticket"]

P = TypeVar("P", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Ticket(Generic[P]):
    """One record handed out: where it is, and which life of its partition it belongs to."""

    partition: P
    offset: int
    epoch: int


@dataclass(slots=True)
class _Partition:
    epoch: int
    # offsets handed out and not yet below the commit point, in fetch order
    pending: deque[int] = field(default_factory=deque)
    finished: set[int] = field(default_factory=set)
    commit_point: int | None = None  # next offset to consume, once something finished
    committed: int | None = None  # the last commit point confirmed by Kafka


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._parts: dict[P, _Partition] = {}
        self._epochs = 0

    def start(self, partition: P, offset: int) -> Ticket[P]:
        """A record was fetched and is about to be worked on."""
        part = self._parts.get(partition)
        if part is not None and part.pending and offset <= part.pending[-1]:
            # A rewind (the consumer's position was reset): what is pending will be
            # fetched again, so start the partition over.
            part = None
        if part is not None and part.commit_point is not None and offset < part.commit_point:
            part = None
        if part is None:
            self._epochs += 1
            part = self._parts[partition] = _Partition(epoch=self._epochs)
        part.pending.append(offset)
        return Ticket(partition, offset, part.epoch)

    def finish(self, ticket: Ticket[P]) -> bool:
        """The record's work is durable. True when the partition's commit point moved."""
        part = self._parts.get(ticket.partition)
        if part is None or part.epoch != ticket.epoch:
            return False  # revoked (or rewound) since: not ours to commit
        part.finished.add(ticket.offset)
        moved = False
        while part.pending and part.pending[0] in part.finished:
            done = part.pending.popleft()
            part.finished.discard(done)
            part.commit_point = done + 1
            moved = True
        return moved

    def to_commit(self) -> dict[P, int]:
        """Commit points not yet confirmed, per partition."""
        return {
            p: s.commit_point
            for p, s in self._parts.items()
            if s.commit_point is not None and s.commit_point != s.committed
        }

    def committed(self, offsets: dict[P, int]) -> None:
        """Kafka confirmed these commit points."""
        for p, offset in offsets.items():
            part = self._parts.get(p)
            if part is not None and (part.committed is None or offset > part.committed):
                part.committed = offset

    def in_flight(self, partition: P) -> int:
        """Records handed out and not finished (or finished behind an unfinished one)."""
        part = self._parts.get(partition)
        return 0 if part is None else len(part.pending) - len(part.finished)

    def forget(self, partitions: set[P] | frozenset[P] | list[P]) -> None:
        """The partitions were revoked: drop their state; late finishers are ignored."""
        for p in partitions:
            self._parts.pop(p, None)
