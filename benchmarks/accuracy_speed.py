"""Accuracy and speed of every zoo model and pipeline: COCO keypoint AP on real human labels, ms per
640x480 frame at 1, 3 and 6 people, people/s, the detector alone, batching, and stream mode on a video.

    python benchmarks/accuracy_speed.py --out bench \
        [--labelled ../shared/data/labelled] [--images ../shared/data/images] [--video vtest.avi]
        -> bench/accuracy_speed.md

The video: vtest.avi (pedestrians) from Debian's opencv-doc package:
    apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb /tmp/ocv
    --video /tmp/ocv/usr/share/doc/opencv-doc/examples/data/vtest.avi
Frames with N people are real photos of one person each (hand1, p1), tiled into a 640x480
grid, so every model sees the same people at the same size. Timings are medians over --repeat runs; the
table states the load average, since the machine may be shared.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from table_output import add_out_argument, write_table

ROOT = Path(__file__).resolve().parents[1]
ONE_PERSON_PHOTOS = ("hand1.jpg", "p1.jpg")     # one clearly visible person each (yolox-nano misses apink1 small)


def tiled_frame(images_dir: Path, people: int, size=(640, 480)) -> np.ndarray:
    """A size frame holding `people` one-person photos in a grid (1 -> 1x1, 3 -> 3x1, 6 -> 3x2)."""
    cols = min(people, 3)
    rows = (people + cols - 1) // cols
    w, h = size
    cw, ch = w // cols, h // rows
    frame = np.zeros((h, w, 3), np.uint8)
    for i in range(people):
        photo = cv2.imread(str(images_dir / ONE_PERSON_PHOTOS[i % len(ONE_PERSON_PHOTOS)]))
        s = min(cw / photo.shape[1], ch / photo.shape[0])
        small = cv2.resize(photo, (int(photo.shape[1] * s), int(photo.shape[0] * s)), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, cols)
        y, x = r * ch + (ch - small.shape[0]) // 2, c * cw + (cw - small.shape[1]) // 2
        frame[y:y + small.shape[0], x:x + small.shape[1]] = small
    return frame


def coco_ap(est, labelled: Path) -> dict:
    from pycocotools.coco import COCO

    from pose_core.evaluation import evaluate_keypoints, ground_truth_layout, to_results
    from pose_core.image_io import read_image

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(labelled / "dev_coco17.json"))
    layout = ground_truth_layout(coco, None)
    results = []
    for img in coco.loadImgs(coco.getImgIds()):
        results += to_results(img["id"], est(read_image(labelled / "images" / img["file_name"])), layout)
    with contextlib.redirect_stdout(io.StringIO()):
        return evaluate_keypoints(coco, results)


def median_ms(fn, repeat: int) -> float:
    fn()                                    # warm-up (tracing, allocation, resizes)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def load(name: str, **kw):
    from pose_core.estimators import load_estimator
    return load_estimator(name, min_keypoint_score=0.0, **kw)   # every keypoint with its score, as COCO expects


def model_rows(names, labelled, images, repeat, threads):
    frames = {n: tiled_frame(images, n) for n in (1, 3, 6)}
    lines = ["| model | AP | AP50 | AR | ms @1 person | ms @3 | ms @6 | people found @1/3/6 | people/s @6 |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for name in names:
        est = load(name, threads=threads)
        stats = coco_ap(est, labelled)
        found = {n: len(load(name, threads=threads)(f)) for n, f in frames.items()}
        ms = {n: median_ms(lambda f=f: est(f), repeat) for n, f in frames.items()}     # stateless: no reset
        lines.append(f"| {name} | {stats['AP']:.3f} | {stats['AP50']:.3f} | {stats['AR']:.3f} | {ms[1]:.1f} | "
                     f"{ms[3]:.1f} | {ms[6]:.1f} | {found[1]}/{found[3]}/{found[6]} | "
                     f"{found[6] / ms[6] * 1000:.0f} |")
        print(lines[-1], flush=True)
    return lines


def detector_and_batching_rows(images, repeat, threads):
    from pose_core.detectors import load_detector
    from pose_core.estimators import load_estimator

    frame = tiled_frame(images, 6)
    det = load_detector("yolox/nano", threads=threads)
    lines = ["| part | ms (6-person 640x480 frame) |", "|---|---:|",
             f"| yolox/nano detector alone | {median_ms(lambda: det(frame), repeat):.1f} |"]
    for name in ("topdown:yolox/nano+pose-mobile/hourglass", "topdown/yolox-nano+movenet-thunder"):
        est = load_estimator(name, threads=threads)
        batched = est.batched
        for flag in sorted({batched, False}, reverse=True):
            est.batched = flag
            lines.append(f"| {name}, {'one batched call' if flag else 'crop by crop'} | "
                         f"{median_ms(lambda: est(frame), repeat):.1f} |")
            print(lines[-1], flush=True)
    return lines


def stream_rows(video: Path, names, frames: int, threads):
    from pose_core.estimators import load_estimator

    lines = ["| model | detect every | fps | people per frame (mean) | detector runs |", "|---|---:|---:|---:|---:|"]
    for name in names:
        for every in (1, 3):
            est = load_estimator(name, threads=threads, stream=True, detect_every=every)
            cap = cv2.VideoCapture(str(video))
            counts, t0, n = [], None, 0
            while n < frames:
                ok, frame = cap.read()
                if not ok:
                    break
                if t0 is None:
                    est(frame)              # warm-up frame, not timed
                    est.reset()
                    t0 = time.perf_counter()
                counts.append(len(est(frame)))
                n += 1
            dt = time.perf_counter() - t0
            lines.append(f"| {name} | {every} | {n / dt:.1f} | {np.mean(counts):.2f} | {est.detector_runs} |")
            print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    from pose_core.quiet import quiet_tensorflow
    quiet_tensorflow()
    shared = ROOT.parent / "shared" / "data"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labelled", default=os.environ.get("POSE_LABELLED_DIR", shared / "labelled"), type=Path)
    p.add_argument("--images", default=os.environ.get("POSE_TEST_IMAGES", shared / "images"), type=Path)
    p.add_argument("--video", type=Path, default=None, help="a pedestrian video (vtest.avi) for stream mode")
    p.add_argument("--video-frames", type=int, default=200)
    p.add_argument("--models", default=None, help="comma-separated names (default: every pose model and pipeline)")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    add_out_argument(p, "accuracy_speed.md", Path("bench"))
    args = p.parse_args(argv)
    from pose_core import zoo

    names = args.models.split(",") if args.models else zoo.known_names()
    load_avg = os.getloadavg()
    lines = [f"# Accuracy and speed ({os.cpu_count()} cores, {args.threads} threads, load average "
             f"{load_avg[0]:.1f} at start)", "",
             f"COCO keypoint AP on {args.labelled / 'dev_coco17.json'} (every keypoint reported with its score); "
             f"ms = median whole-frame time (image -> people) over {args.repeat} runs on 640x480 frames "
             f"of tiled one-person photos.", ""]
    lines += model_rows(names, args.labelled, args.images, args.repeat, args.threads)
    lines += ["", *detector_and_batching_rows(args.images, args.repeat, args.threads)]
    if args.video:
        pipelines = [n for n in names if zoo.get_pipeline(n)]
        lines += ["", f"Stream mode on {args.video.name}, first {args.video_frames} frames:", "",
                  *stream_rows(args.video, pipelines, args.video_frames, args.threads)]
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    write_table(args.out, "accuracy_speed.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
