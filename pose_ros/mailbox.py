"""A one-slot mailbox between the subscription callback and the inference thread.

put() never blocks and replaces an unprocessed item (counted as dropped): the worker always gets the
LATEST frame, and nothing queues up when frames arrive faster than inference.
"""
from __future__ import annotations

import threading
from typing import Any


class LatestMailbox:
    def __init__(self):
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.received += 1
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Any:
        """The latest item (removing it), or None after `timeout` seconds / once closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
