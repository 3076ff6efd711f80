"""Benchmark of the pose node on a real DDS graph (node in its own process, frames from this process).

1. Overhead: 640x480 frames sent one at a time; end-to-end = image publish -> PersonArray received here.
   Node overhead = median end-to-end - median estimator time (the node's own measurement, /diagnostics).
2. Camera at 30 fps for a while: processed fps, dropped-frame share, age of processed frames.

    bash benchmarks/node_latency.sh [--models tf-pose/mobilenet_v2_small ...] [--out bench]   -> bench/node_latency.md
        (the script puts the graph on a private loopback-only network; this file is what it runs)
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from pose_core.defaults import DEFAULT_MODEL
from pose_ros.messages import make_stamp, stamp_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))       # the DDS graph harness lives with the tests
from ros_graph import GraphClient, start_node, stop  # noqa: E402
from table_output import add_out_argument  # noqa: E402


def test_frame(images_dir: Path, size=(640, 480)) -> np.ndarray:
    img = cv2.imread(str(images_dir / "p3.jpg"))
    if img is None:
        raise SystemExit(f"bench: {images_dir / 'p3.jpg'} not found (set POSE_TEST_IMAGES)")
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def one_at_a_time(client: GraphClient, frame: np.ndarray, n: int) -> list[float]:
    e2e = []
    for _ in range(n):
        msg = client.image_msg(frame, time.time(), "camera_optical")
        t0 = time.time()
        msg.header.stamp = make_stamp(t0)
        client.publish(msg)
        result = client.result_for(msg.header.stamp, timeout=30)
        if result is None:
            continue
        t_recv = next(t for t, m in reversed(client.poses) if m.header.stamp == msg.header.stamp)
        e2e.append((t_recv - t0) * 1000.0)
        time.sleep(0.05)
    return e2e


def camera_at(client: GraphClient, frame: np.ndarray, fps: float, seconds: float) -> dict:
    before = len(client.poses)
    sent, period = [], 1.0 / fps
    msg = client.image_msg(frame, time.time(), "camera_optical")
    t_next = time.monotonic()
    end = t_next + seconds
    while time.monotonic() < end:
        now = time.time()
        msg.header.stamp = make_stamp(now)
        client.publish(msg)
        sent.append(stamp_seconds(msg.header.stamp))
        t_next += period
        time.sleep(max(0.0, t_next - time.monotonic()))
    time.sleep(2.0)
    stamps = set(sent)
    got = [(t, m) for t, m in client.poses[before:] if stamp_seconds(m.header.stamp) in stamps]
    ages = [(t - stamp_seconds(m.header.stamp)) * 1000.0 for t, m in got]
    return {"sent": len(sent), "processed": len(got), "input_fps": len(sent) / seconds,
            "processed_fps": len(got) / seconds, "dropped_share": 1.0 - len(got) / max(len(sent), 1),
            "age_median_ms": float(np.median(ages)) if ages else float("nan"),
            "age_max_ms": max(ages) if ages else float("nan")}


def bench_model(model: str, frames: int, fps: float, seconds: float, images_dir: Path, log_dir: Path) -> dict:
    cfg = ROOT / "config"
    params = [cfg / "pose_node.yaml"]
    model_cfg = cfg / (model.replace("/", "_") + ".yaml")
    if model_cfg.is_file():
        params.append(model_cfg)
    proc = start_node(params, {"model": model}, log_path=log_dir / f"{model.replace('/', '_')}.log")
    client = GraphClient("pose_bench_client")
    try:
        frame = test_frame(images_dir)
        client.wait_connected(180, proc)
        for _ in range(3):
            client.warm_up(frame, proc=proc)
        e2e = one_at_a_time(client, frame, frames)
        time.sleep(1.5)                                    # a fresh /diagnostics after the last frame
        client.diagnostics.clear()
        client.wait_for(lambda: bool(client.latest_diagnostics()), 5)
        diag = client.latest_diagnostics()
        est = float(diag.get("estimator_ms_median", "nan"))
        in_node = float(diag.get("latency_ms_median", "nan")) - est   # callback -> publish, minus estimator
        # stamp (= publish time here) -> callback: the image's way in (DDS + executor dispatch)
        way_in = float(diag.get("age_ms_median", "nan")) - float(diag.get("latency_ms_median", "nan"))
        flood = camera_at(client, frame, fps, seconds)
        return {"model": model, "frames": len(e2e), "e2e_median_ms": float(np.median(e2e)),
                "e2e_p90_ms": float(np.percentile(e2e, 90)), "estimator_median_ms": est,
                "overhead_ms": float(np.median(e2e)) - est, "in_node_ms": in_node, "way_in_ms": way_in,
                "runtime": diag.get("runtime", ""), **flood}
    finally:
        client.close()
        stop(proc)


def table(rows: list[dict], fps: float, seconds: float) -> str:
    lines = [
        "# pose node benchmark (real DDS graph, node in its own process)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared; CPU inference. Frames 640x480 bgr8 "
        "(p3.jpg resized, 3 people), loopback Fast DDS (shared memory). Medians.",
        "Node overhead = median(image publish -> PersonArray received) - median(estimator time reported by the "
        "node): DDS both ways, executor dispatch, conversion, filtering/tracking, message building. "
        "'image in' = stamp -> node callback; 'inside the node' = callback -> PersonArray published, minus the "
        "estimator (node-side medians from /diagnostics); the rest is the PersonArray's way back.",
        "",
        "| model | runtime | end-to-end ms (median / p90) | estimator ms | node overhead ms (target <= 5) | "
        "of which: image in ms | inside the node ms | "
        f"camera {fps:g} fps: processed fps | dropped share | age of processed frames ms (median / max) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['runtime']} | {r['e2e_median_ms']:.1f} / {r['e2e_p90_ms']:.1f} | "
            f"{r['estimator_median_ms']:.1f} | {r['overhead_ms']:.1f} | {r['way_in_ms']:.1f} | "
            f"{r['in_node_ms']:.1f} | {r['processed_fps']:.1f} | "
            f"{100 * r['dropped_share']:.0f} % ({r['sent'] - r['processed']}/{r['sent']}) | "
            f"{r['age_median_ms']:.0f} / {r['age_max_ms']:.0f} |")
    lines += ["", f"Overhead over {rows[0]['frames'] if rows else 0} frames sent one at a time; the 30 fps run "
              f"lasted {seconds:g} s. Reproduce: `bash benchmarks/node_latency.sh`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    ap.add_argument("--frames", type=int, default=100, help="frames for the overhead measurement")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the camera-rate run")
    add_out_argument(ap, "node_latency.md", ROOT / "bench")
    args = ap.parse_args(argv)
    images = Path(os.environ.get("POSE_TEST_IMAGES", ROOT.parent / "shared" / "data" / "images"))
    log_dir = Path(tempfile.mkdtemp(prefix="pose_bench_"))
    rows = []
    for model in args.models:
        print(f"bench: {model} ...", flush=True)
        rows.append(bench_model(model, args.frames, args.fps, args.seconds, images, log_dir))
    text = table(rows, args.fps, args.seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "node_latency.md").write_text(text)
    print(text)
    print(f"written to {args.out / 'node_latency.md'}; node logs in {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
