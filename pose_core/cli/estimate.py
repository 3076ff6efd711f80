"""`pose estimate IMG... --model NAME [--input-size WxH|native] [--json OUT] [--out DIR]`

Writes one annotated PNG per image into --out and one JSON list (one record per image, keypoints in the
layout's order, original pixels, undetected keypoints as [0, 0, 0]). A bad image is reported on one line
and skipped; the others are still processed; the exit status is 1 if any image failed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pose_core.cli.common import add_model_arguments, estimator_from_args
from pose_core.cli.outputs import check_output_dir, check_output_file
from pose_core.errors import ImageError


def add_arguments(p):
    p.add_argument("images", nargs="+", help="image files")
    add_model_arguments(p)
    p.add_argument("--json", dest="json_out", default=None, help="write all results to this JSON file")
    p.add_argument("--out", default=None, help="folder for annotated PNGs")


def result_record(name: str, width: int, height: int, estimator, people) -> dict:
    return {"image": name, "width": width, "height": height, "model": estimator.name,
            "layout": estimator.layout.name, "keypoint_names": list(estimator.layout.keypoints),
            "persons": [p.to_dict() for p in people]}


def run(args) -> int:
    import cv2

    from pose_core.draw import draw_people
    from pose_core.image_io import read_image

    check_output_file(args.json_out, "--json")        # before any work: a late failure loses every result
    check_output_dir(args.out, "--out")
    estimator = estimator_from_args(args)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    records, failed = [], 0
    for name in args.images:
        try:
            image = read_image(name)
            people, timing = estimator.estimate(image, return_timing=True)   # ImageError: over a size limit
        except ImageError as exc:
            print(f"pose estimate: skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        h, w = image.shape[:2]
        records.append(result_record(name, w, h, estimator, people))
        print(f"{name}: {len(people)} person(s), {timing['total']:.1f} ms")
        if out_dir:
            cv2.imwrite(str(out_dir / (Path(name).stem + "_pose.png")), draw_people(image, people))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(records, indent=1))
    return 1 if failed else 0
