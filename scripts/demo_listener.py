"""Demo listener: prints one line per PersonArray (people count, latency from the image stamp) and writes
the annotated images to a folder. Exits after --frames results or when results stop coming (--idle).

    python scripts/demo_listener.py --out demo_out --idle 10
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from pose_msgs.msg import PersonArray
from pose_ros.image_conv import image_msg_to_bgr
from pose_ros.messages import stamp_seconds


class DemoListener(Node):
    def __init__(self, out: Path | None):
        super().__init__("pose_demo_listener")
        self.out = out
        self.count, self.latencies, self.people = 0, [], []
        self.last = time.monotonic()
        self._names: dict[tuple[int, int], str] = {}
        self.create_subscription(PersonArray, "poses", self._on_poses, 20)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.create_subscription(Image, "image_annotated", self._on_annotated, 20)

    def _on_poses(self, msg: PersonArray) -> None:
        self.count += 1
        self.last = time.monotonic()
        latency = (time.time() - stamp_seconds(msg.header.stamp)) * 1000.0
        self.latencies.append(latency)
        self.people.append(len(msg.persons))
        ids = ",".join(str(p.id) for p in msg.persons)
        print(f"frame {self.count:4d}  {msg.image_width}x{msg.image_height}  people {len(msg.persons)}"
              f"  ids [{ids}]  latency {latency:6.1f} ms  ({msg.model})", flush=True)

    def _on_annotated(self, msg: Image) -> None:
        path = self.out / f"frame_{msg.header.stamp.sec}_{msg.header.stamp.nanosec:09d}.jpg"
        cv2.imwrite(str(path), image_msg_to_bgr(msg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="folder for annotated images")
    ap.add_argument("--frames", type=int, default=0, help="exit after this many results (0 = no limit)")
    ap.add_argument("--idle", type=float, default=10.0, help="exit after this many seconds without results")
    ap.add_argument("--startup", type=float, default=120.0, help="seconds to wait for the first result")
    ap.add_argument("--ready-file", type=Path,
                    help="touched once the pose node's publishers are discovered: start the source after it, "
                         "or the first results may go out before this listener is matched (a fast model is "
                         "ready within a second)")
    args, ros_args = ap.parse_known_args(argv)
    rclpy.init(args=ros_args)
    node = DemoListener(args.out)
    start = time.monotonic()
    try:
        ready_at = None
        while rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.1)
            if args.ready_file and ready_at is None and node.count_publishers("poses") and (
                    args.out is None or node.count_publishers("image_annotated")):
                ready_at = time.monotonic() + 0.5          # discovery first, then the endpoints match
            if ready_at is not None and time.monotonic() >= ready_at and not args.ready_file.exists():
                args.ready_file.touch()
            if args.frames and node.count >= args.frames:
                break
            waited = time.monotonic() - (node.last if node.count else start)
            if waited > (args.idle if node.count else args.startup):
                break
        # Annotated images may trail their PersonArray slightly.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    if node.count:
        print(f"{node.count} frames, {np.mean(node.people):.1f} people per frame, median latency "
              f"{np.median(node.latencies):.1f} ms" + (f", annotated images in {args.out}" if args.out else ""))
    else:
        print("no results received", file=sys.stderr)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if node.count else 1


if __name__ == "__main__":
    sys.exit(main())
