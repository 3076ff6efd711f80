"""Start-up time of pose_node: process start -> first PersonArray received by another process, with the
default model (or MODEL=...), while pose_source already publishes the test photos at 10 Hz.

    . .venv/bin/activate && python benchmarks/node_startup.py [RUNS] [--out bench]    -> bench/node_startup.md
        (POSE_MODELS_DIR / POSE_TEST_IMAGES set)
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from rclpy.node import Node

from pose_msgs.msg import PersonArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))       # the DDS graph harness lives with the tests
from ros_graph import stop  # noqa: E402
from table_output import add_out_argument, write_table  # noqa: E402


def once(images: str, params: list[str]) -> float:
    node = Node("startup_probe")
    got: list[float] = []
    node.create_subscription(PersonArray, "poses", lambda m: got.append(time.monotonic()), 10)
    source = subprocess.Popen([sys.executable, "-m", "pose_ros.source_node", "--ros-args", "-p", f"source:={images}",
                               "-p", "rate:=10.0", "-p", "loop:=true"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(2.0)                       # the camera is running before the node starts
    t0 = time.monotonic()
    pose = subprocess.Popen([sys.executable, "-m", "pose_ros.pose_node", "--ros-args", *params],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not got and time.monotonic() - t0 < 300 and pose.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        stop(pose)
        stop(source)
        node.destroy_node()
    if not got:
        raise SystemExit("no PersonArray received")
    return got[0] - t0


def main(argv: list[str] | None = None) -> int:
    from pose_core.defaults import DEFAULT_MODEL
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", type=int, default=3, help="node starts (median)")
    add_out_argument(ap, "node_startup.md", Path("bench"))
    args = ap.parse_args(argv)
    runs = args.runs
    model = os.environ.get("MODEL", DEFAULT_MODEL)
    config = ROOT / "config"
    params = ["--params-file", str(config / "pose_node.yaml")]
    own = config / (model.replace("/", "_") + ".yaml")
    params += ["--params-file", str(own)] if own.is_file() else ["-p", f"model:={model}"]
    rclpy.init()
    times = [once(os.environ["POSE_TEST_IMAGES"], params) for _ in range(runs)]
    rclpy.shutdown()
    each = ", ".join(f"{t:.2f}" for t in times)
    print(f"pose_node start-up ({model}): process start -> first PersonArray: {each} s; "
          f"median {statistics.median(times):.2f} s")
    write_table(args.out, "node_startup.md",
        "pose_node start-up: process start -> first PersonArray received by another process, pose_source "
        "already publishing the photos at 10 Hz.\n\n| model | start-ups | each s | median s |\n|---|---:|---|---:|\n"
        f"| {model} | {runs} | {each} | {statistics.median(times):.2f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
