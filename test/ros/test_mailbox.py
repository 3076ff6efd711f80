"""The one-slot mailbox between the subscription callback and the inference thread, and the stats windows."""
import threading
import time

from pose_ros.mailbox import LatestMailbox
from pose_ros.stats import RateMeter, Window


def test_put_replaces_the_unprocessed_item_and_counts_the_drop():
    box = LatestMailbox()
    for i in range(5):
        box.put(i)
    assert box.take(timeout=0) == 4                    # the latest, never the oldest
    assert (box.received, box.dropped) == (5, 4)
    assert box.take(timeout=0.01) is None              # nothing queued behind it


def test_take_blocks_until_put_and_close_releases_waiters():
    box = LatestMailbox()
    got = []
    worker = threading.Thread(target=lambda: got.append(box.take(timeout=5)))
    worker.start()
    time.sleep(0.05)
    box.put("frame")
    worker.join(1)
    assert got == ["frame"]
    # No timeout: only close() can release this waiter (joined generously: a loaded machine is slow, not wrong).
    waiter = threading.Thread(target=lambda: got.append(box.take(timeout=None)), daemon=True)
    waiter.start()
    time.sleep(0.05)
    box.close()
    waiter.join(30)
    assert not waiter.is_alive() and got[-1] is None


def test_rate_and_window():
    meter = RateMeter(window_s=5.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)
    assert abs(meter.rate(now=101.0) - 10.0) < 1e-6
    assert meter.rate(now=200.0) == 0.0                # old ticks fall out of the window
    w = Window(size=3)
    for v in (1, 2, 3, 100):
        w.add(v)
    assert w.median() == 3 and w.max() == 100
