"""pose_node footprint: per zoo model (its default runtime) the node's resident memory after 100 frames and the
time from process start to the first PersonArray; then several cameras with one node vs one node per camera
(total RSS of the pose nodes, results per second per camera).

    python benchmarks/node_footprint.py [--out bench] [--models a,b] [--cameras 1,2,4]   -> bench/node_footprint.md
        (in the activated venv; POSE_MODELS_DIR / POSE_TEST_IMAGES set; POSE_CACHE_DIR = the converted-model
         cache to use - warm it first with `pose models fetch NAME --convert`, or the first start converts)

Each camera is a pose_source process looping one 640x480 frame of three tiled one-person photos at --rate
Hz (faster than the model: the node always has a frame waiting). RSS = VmRSS of the pose node process(es)
from /proc, read after the frames; start-up = Popen of the node -> first PersonArray received here, the
camera already publishing. The table states the load average, since the machine may be shared.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "test"))       # the DDS graph harness lives with the tests
from pose_ros.stats import process_rss_mb  # noqa: E402

from accuracy_speed import tiled_frame  # noqa: E402
from ros_graph import CameraClient, start_node, start_source, stop  # noqa: E402
from table_output import add_out_argument, write_table  # noqa: E402

_RUN = itertools.count()              # a fresh probe node name per run



def node_params(model: str, extra: dict | None = None) -> tuple[list[Path], dict]:
    """The params files a user would pass: the common file, then config/<model>.yaml if there is one."""
    config = ROOT / "config"
    own = config / (model.replace("/", "_") + ".yaml")
    return ([config / "pose_node.yaml", own] if own.is_file() else [config / "pose_node.yaml"],
            ({} if own.is_file() else {"model": model}) | (extra or {}))


def wait(pred, timeout: float, procs: list[subprocess.Popen]) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if any(p.poll() is not None for p in procs):
            return False
        time.sleep(0.02)
    return False


def one_model(model: str, frame: Path, rate: float, frames: int, logs: Path, extra: dict | None = None) -> dict:
    topic = "/bench_cam/image"
    client = CameraClient(f"footprint_bench_{next(_RUN)}", [topic], node_name="pose_node_bench", watch_images=False,
                          outputs=False)
    source = start_source(topic, frame, rate, "bench_optical", "bench_source", logs / "source.log")
    time.sleep(2.0)                                      # the camera runs before the node starts
    files, params = node_params(model, {"image_topics": [topic], "diagnostics_period": 0.5} | (extra or {}))
    t0 = time.time()
    node = start_node(files, params, name="pose_node_bench", log_path=logs / f"{model.replace('/', '_')}.log")
    try:
        if not wait(lambda: client.count(topic) >= 1, 300, [node]):
            return {"model": model, "error": (logs / f"{model.replace('/', '_')}.log").read_text()[-300:]}
        first = client.poses[topic][0][0] - t0
        if not wait(lambda: client.count(topic) >= frames, 600, [node]):
            return {"model": model, "error": "node stopped before the frames"}
        rss = process_rss_mb(node.pid)
        wait(lambda: client.camera_diagnostics().get("", {}).get("frames_processed", "0") != "0", 10, [node])
        diag = client.camera_diagnostics().get("", {})
        tf, runtime = diag.get("tensorflow_loaded", "?"), diag.get("runtime", "?")
        times = [t for t, _ in client.poses[topic][-frames // 2:]]
        fps = (len(times) - 1) / max(times[-1] - times[0], 1e-6)
        return {"model": model, "runtime": runtime, "rss": rss, "start": first, "fps": fps, "tf": tf}
    finally:
        stop(node)
        stop(source)
        client.close()


def cameras(model: str, frame: Path, n: int, shared: bool, rate: float, seconds: float, logs: Path) -> dict:
    topics = [f"/cam{i}/image" for i in range(n)]
    client = CameraClient(f"footprint_bench_{next(_RUN)}", topics, node_name="pose_node_cams", watch_images=False,
                          outputs=False)
    sources = [start_source(t, frame, rate, f"cam{i}_optical", f"source{i}", logs / f"src{i}.log")
               for i, t in enumerate(topics)]
    groups = [topics] if shared else [[t] for t in topics]
    nodes = []
    for g, group in enumerate(groups):
        files, params = node_params(model, {"image_topics": group})
        nodes.append(start_node(files, params, name=f"pose_node_cams{g}", log_path=logs / f"cams{n}_{g}.log"))
    try:
        if not wait(lambda: all(client.count(t) >= 5 for t in topics), 600, nodes):
            return {"error": "not every camera got results"}
        start = {t: client.count(t) for t in topics}
        time.sleep(seconds)
        fps = [(client.count(t) - start[t]) / seconds for t in topics]
        rss = sum(process_rss_mb(p.pid) for p in nodes)
        return {"rss": rss, "fps_min": min(fps), "fps_total": sum(fps)}
    finally:
        for p in nodes + sources:
            stop(p)
        client.close()


def main(argv=None) -> int:
    from pose_core import zoo
    from pose_core.defaults import DEFAULT_MODEL

    shared = ROOT.parent / "shared" / "data"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=os.environ.get("POSE_TEST_IMAGES", shared / "images"), type=Path)
    p.add_argument("--models", default=None,
                   help="comma-separated names (default: every pose model and pipeline; 'none': cameras only)")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--runs", type=int, default=3, help="node starts per model (median start-up and RSS)")
    p.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--cameras", default="1,2,4")
    p.add_argument("--camera-seconds", type=float, default=15.0)
    p.add_argument("--tf-source", action="store_true", help="also the default model on its TF source runtime")
    add_out_argument(p, "node_footprint.md", Path("bench"))
    args = p.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))     # away from concurrent tests

    work = Path(tempfile.mkdtemp(prefix="node_footprint_"))
    frame = work / "three_people.png"
    cv2.imwrite(str(frame), tiled_frame(args.images, 3))
    names = [] if args.models == "none" else args.models.split(",") if args.models else [
        n for n in zoo.known_names()]      # pose models and pipelines (bare detectors serve no poses)
    load = os.getloadavg()[0]
    lines = [f"# pose_node footprint ({os.cpu_count()} cores, load average {load:.1f} at start)", "",
             f"Camera: 640x480, 3 people, {args.rate:g} Hz. RSS after {args.frames} PersonArrays; start-up = "
             f"process start -> first PersonArray; fps = results/s over the last {args.frames // 2}; "
             f"TF = `tensorflow_loaded` from the node's diagnostics. POSE_CACHE_DIR="
             f"{os.environ.get('POSE_CACHE_DIR', '~/.cache/pose_ros/converted')}.", "",
             f"Median of {args.runs} node starts per model (start-up: min-max in brackets).", "",
             "| model | runtime served | RSS MB | start-up s | fps | TF loaded |", "|---|---|---|---|---|---|"]
    runs = [(n, None) for n in names]
    if args.tf_source:
        runs.append((DEFAULT_MODEL, {"runtime": "tfjs"}))
    for name, extra in runs:
        rs = [one_model(name, frame, args.rate, args.frames, work, extra) for _ in range(args.runs)]
        label = name + (" (runtime:=tfjs)" if extra else "")
        bad = [r for r in rs if "error" in r]
        if bad:
            err = bad[0]["error"]
            lines.append(f"| {label} | failed: {err.splitlines()[-1] if err else ''} | | | | |")
        else:
            med = {k: statistics.median(r[k] for r in rs) for k in ("rss", "start", "fps")}
            starts = sorted(r["start"] for r in rs)
            lines.append(f"| {label} | {rs[0]['runtime']} | {med['rss']:.0f} | {med['start']:.2f} "
                         f"({starts[0]:.2f}-{starts[-1]:.2f}) | {med['fps']:.1f} | {rs[-1]['tf']} |")
        print(lines[-1], flush=True)
    counts = [int(c) for c in args.cameras.split(",") if c]
    if counts:
        lines += ["", f"Several cameras, {DEFAULT_MODEL} (each camera {args.rate:g} Hz, results counted over "
                      f"{args.camera_seconds:g} s): total RSS of the pose node processes, results/s of the "
                      f"slowest camera and of all together.", "",
                  "| cameras | one node: RSS MB | one node: fps min / total | node per camera: RSS MB | "
                  "node per camera: fps min / total |", "|---|---|---|---|---|"]
        for n in counts:
            row = [f"| {n} "]
            for shared_node in (True, False):
                r = cameras(DEFAULT_MODEL, frame, n, shared_node, args.rate, args.camera_seconds, work)
                row.append(f"| failed: {r['error']} | " if "error" in r else
                           f"| {r['rss']:.0f} | {r['fps_min']:.1f} / {r['fps_total']:.1f} ")
            lines.append("".join(row) + "|")
            print(lines[-1], flush=True)
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    write_table(args.out, "node_footprint.md", "\n".join(lines) + "\n")
    import rclpy
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
