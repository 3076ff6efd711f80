"""`pose video SRC [--out FILE] [--json FILE]`: SRC is a video file or a camera index; writes an annotated video.

Frames go through the same stream layer as the pose node (pose_core.stream.FramePipeline): score filters,
stable track ids (drawn next to each person) and optional smoothing, with the node's parameter names and
defaults (pose_core.defaults.STREAM_DEFAULTS).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pose_core.cli.common import add_model_arguments, estimator_from_args
from pose_core.cli.outputs import check_output_file
from pose_core.defaults import STREAM_DEFAULTS as S
from pose_core.errors import ImageError, PoseError


def add_arguments(p):
    p.add_argument("source", help="video file, or camera index (0, 1, ...)")
    add_model_arguments(p)
    p.add_argument("--out", default="pose_video.avi", help="annotated output video (default %(default)s)")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                   help="also write the people of each frame (track id, score, keypoints), one JSON line per frame")
    p.add_argument("--crop-tracking", action="store_true",
                   help="single-pose models: crop each frame around the previous pose (MoveNet's recipe)")
    p.add_argument("--detect-every", type=int, default=None, metavar="N",
                   help="top-down pipelines: run the person detector every N frames (and when a person is "
                        "lost), track crops in between (default: the pipeline's)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")
    g = p.add_argument_group("results (the pose node's parameters of the same names)")
    g.add_argument("--min-person-score", type=_unit, default=None, metavar="S",
                   help=f"drop people scoring below this (default: the model's own value, else "
                        f"{S['min_person_score']})")
    g.add_argument("--min-keypoint-score", type=_unit, default=None, metavar="S",
                   help=f"keypoints below this are not detected (default: the model's own value, else "
                        f"{S['min_keypoint_score']})")
    g.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=S["tracking"],
                   help="stable person ids across frames")
    g.add_argument("--tracking-min-similarity", type=_unit, default=S["tracking_min_similarity"], metavar="OKS",
                   help="minimum keypoint similarity to continue a track (default %(default)s)")
    g.add_argument("--tracking-max-age", type=int, default=S["tracking_max_age"], metavar="N",
                   help="frames a lost track is kept before its id retires (default %(default)s)")
    g.add_argument("--smoothing", action=argparse.BooleanOptionalAction, default=S["smoothing"],
                   help="One-Euro smoothing of tracked keypoints")
    g.add_argument("--smoothing-min-cutoff", type=float, default=S["smoothing_min_cutoff"], metavar="HZ",
                   help="One-Euro minimum cutoff frequency (default %(default)s)")
    g.add_argument("--smoothing-beta", type=float, default=S["smoothing_beta"], metavar="B",
                   help="One-Euro speed coefficient (default %(default)s)")


def _unit(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def run(args) -> int:
    import cv2

    from pose_core.draw import draw_people
    from pose_core.stream import FramePipeline, result_filter
    from pose_core.tracking import PoseTracker

    check_output_file(args.out, "--out", "pose_video.avi")   # before any work: not after the whole video
    check_output_file(args.json_out, "--json", "people.jsonl")
    source = int(args.source) if args.source.isdigit() else args.source
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise PoseError(f"cannot open video source {args.source!r}")
    estimator = estimator_from_args(args, crop_tracking=args.crop_tracking, stream=True,
                                    detect_every=args.detect_every,
                                    **result_filter(args.model, args.min_person_score, args.min_keypoint_score))
    tracker = PoseTracker(args.tracking_min_similarity, args.tracking_max_age, args.smoothing,
                          args.smoothing_min_cutoff, args.smoothing_beta) if args.tracking else None
    pipeline = FramePipeline(estimator, tracker)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    lines = open(args.json_out, "w") if args.json_out else None
    writer, frames, index, t0 = None, 0, 0, time.perf_counter()
    try:
        while not args.max_frames or frames < args.max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            index += 1
            try:
                people, _ = pipeline.process(frame, (index - 1) / fps)     # stamps for the smoother
            except ImageError as exc:
                print(f"pose video: frame {index - 1} skipped: {exc}", file=sys.stderr)
                continue
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                if not writer.isOpened():
                    raise PoseError(f"cannot write video {args.out!r}")
            writer.write(draw_people(frame, people))
            if lines is not None:
                lines.write(json.dumps({"frame": index - 1, "people": [
                    {"id": p.track_id, **p.to_dict()} for p in people]}) + "\n")
            frames += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if lines is not None:
            lines.close()
    if frames == 0:
        raise PoseError(f"no frames could be read from {args.source!r}")
    dt = time.perf_counter() - t0
    print(f"{frames} frames -> {args.out} ({frames / dt:.1f} fps)")
    return 0
