"""`pose video SRC [--out FILE]`: SRC is a video file or a camera index; writes an annotated video."""
from __future__ import annotations

import sys
import time

from pose_core.cli.common import add_model_arguments, estimator_from_args
from pose_core.cli.outputs import check_output_file
from pose_core.errors import ImageError, PoseError


def add_arguments(p):
    p.add_argument("source", help="video file, or camera index (0, 1, ...)")
    add_model_arguments(p)
    p.add_argument("--out", default="pose_video.avi", help="annotated output video (default %(default)s)")
    p.add_argument("--crop-tracking", action="store_true",
                   help="single-pose models: crop each frame around the previous pose (MoveNet's recipe)")
    p.add_argument("--detect-every", type=int, default=None, metavar="N",
                   help="top-down pipelines: run the person detector every N frames (and when a person is "
                        "lost), track crops in between (default: the pipeline's)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")


def run(args) -> int:
    import cv2

    from pose_core.draw import draw_people

    check_output_file(args.out, "--out", "pose_video.avi")   # before any work: not after the whole video
    source = int(args.source) if args.source.isdigit() else args.source
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise PoseError(f"cannot open video source {args.source!r}")
    estimator = estimator_from_args(args, crop_tracking=args.crop_tracking, stream=True,
                                    detect_every=args.detect_every)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer, frames, t0 = None, 0, time.perf_counter()
    try:
        while not args.max_frames or frames < args.max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            try:
                people = estimator(frame)
            except ImageError as exc:
                print(f"pose video: frame {frames} skipped: {exc}", file=sys.stderr)
                continue
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                if not writer.isOpened():
                    raise PoseError(f"cannot write video {args.out!r}")
            writer.write(draw_people(frame, people))
            frames += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise PoseError(f"no frames could be read from {args.source!r}")
    dt = time.perf_counter() - t0
    print(f"{frames} frames -> {args.out} ({frames / dt:.1f} fps)")
    return 0
