"""Latest-frame mailboxes between the subscription callbacks and the inference thread. ROS-free.

put() never blocks and replaces an unprocessed item (counted as dropped): the worker always gets the
LATEST frame, and nothing queues up when frames arrive faster than inference.

LatestMailboxes keeps one such slot per camera for ONE consumer (one model serving several cameras): take()
returns, among the slots holding a frame, the one served least recently (ties: the one filled first). Every
camera with a waiting frame is served before any camera is served twice, and a slow camera's frame goes
next, right after the inference in progress, instead of queueing behind a fast camera that always has a frame
- so a 30 Hz camera cannot starve a 3 Hz one, whatever the model's speed.
"""
from __future__ import annotations

import threading
import time
from typing import Any


class LatestMailboxes:
    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError("a mailbox needs at least one slot")
        self._cond = threading.Condition()
        self._items: list[Any] = [None] * slots
        self._since = [0.0] * slots          # monotonic time the slot was filled (kept when replaced)
        self._served = [0.0] * slots         # monotonic time the slot was last taken
        self._closed = False
        self.received = [0] * slots
        self.dropped = [0] * slots

    def put(self, slot: int, item: Any) -> None:
        with self._cond:
            if self._items[slot] is not None:
                self.dropped[slot] += 1
            else:
                self._since[slot] = time.monotonic()
            self._items[slot] = item
            self.received[slot] += 1
            self._cond.notify()

    def take(self, timeout: float | None = None) -> tuple[int, Any] | None:
        """(slot, latest item) of the waiting slot served least recently (removing it), or None after
        `timeout` seconds / once closed."""
        with self._cond:
            if not self._closed and all(i is None for i in self._items):
                self._cond.wait(timeout)
            waiting = [s for s, i in enumerate(self._items) if i is not None]
            if not waiting:
                return None
            slot = min(waiting, key=lambda s: (self._served[s], self._since[s]))
            self._served[slot] = time.monotonic()
            item, self._items[slot] = self._items[slot], None
            return slot, item

    def clear(self) -> None:
        """Forget waiting items (not counted as dropped): frames from before a pause are never processed."""
        with self._cond:
            self._items = [None] * len(self._items)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LatestMailbox:
    """One slot: the single-camera case."""

    def __init__(self):
        self._box = LatestMailboxes(1)

    @property
    def received(self) -> int:
        return self._box.received[0]

    @property
    def dropped(self) -> int:
        return self._box.dropped[0]

    def put(self, item: Any) -> None:
        self._box.put(0, item)

    def take(self, timeout: float | None = None) -> Any:
        """The latest item (removing it), or None after `timeout` seconds / once closed."""
        got = self._box.take(timeout)
        return None if got is None else got[1]

    def close(self) -> None:
        self._box.close()
