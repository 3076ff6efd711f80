"""Will raw camera frames of this size reach the node? A check for one silent way to lose frames.

Fast DDS hands a message to another process through shared memory only up to the segment's message size
(config/dds/fastdds_loopback.xml: 16 MB). A larger message goes over UDP in ~64 KB fragments, and under
best-effort QoS one lost fragment loses the frame without any error: a 4K bgr8 frame (24.9 MB) is mostly
lost, an 8K one always. The node cannot see frames that never arrive, so it checks the size it learns from
CameraInfo or from a frame that did arrive, and says once what to do. ROS-free.
"""
from __future__ import annotations

SHM_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# bytes per pixel of the raw encodings a camera driver publishes (unknown encodings: assume bgr8)
BYTES_PER_PIXEL = {"mono8": 1, "8UC1": 1, "mono16": 2, "16UC1": 2, "bgr8": 3, "rgb8": 3, "8UC3": 3,
                   "bgra8": 4, "rgba8": 4, "32FC1": 4}


def frame_bytes(width: int, height: int, encoding: str = "bgr8") -> int:
    return int(width) * int(height) * BYTES_PER_PIXEL.get(encoding, 3)


def transport_problem(nbytes: int, reliable: bool, compressed: bool,
                      limit: int = SHM_MAX_MESSAGE_BYTES) -> str | None:
    """One line when raw frames of nbytes cannot pass the shared-memory transport and best-effort QoS will
    lose them; None when they fit (or reliable QoS / the compressed topic is used)."""
    if compressed or reliable or nbytes <= limit:
        return None
    return (f"raw frames of {nbytes / 1e6:.1f} MB exceed the {limit / 2**20:.0f} MB shared-memory message "
            f"size; under best_effort QoS most of them are lost in transport without any error: use "
            f"qos_reliability:=reliable or compressed:=true")


class TransportCheck:
    """Remembers the first problem found (from CameraInfo or a frame) so the node logs it once."""

    def __init__(self, reliable: bool, compressed: bool):
        self.reliable, self.compressed = reliable, compressed
        self.problem: str | None = None

    @property
    def needed(self) -> bool:
        return not (self.reliable or self.compressed) and self.problem is None

    def check(self, width: int, height: int, encoding: str = "bgr8", nbytes: int | None = None) -> str | None:
        """-> the problem line the first time one is found, else None."""
        if not self.needed:
            return None
        size = nbytes if nbytes is not None else frame_bytes(width, height, encoding)
        self.problem = transport_problem(size, self.reliable, self.compressed)
        if self.problem:
            self.problem = f"{int(width)}x{int(height)} {encoding}: {self.problem}"
        return self.problem
