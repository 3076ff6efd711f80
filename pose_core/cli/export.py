"""`pose export MODEL.keras --formats saved_model,tflite_fp32,... --representative DATA --out DIR`."""
from __future__ import annotations

import argparse

from pose_core.errors import PoseError

DEFAULT_FORMATS = "keras,saved_model,tflite_fp32"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size must be WxH, e.g. 368x368, not {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pose_core.export import FORMATS
    parser.add_argument("model", help=".keras model built by pose_core.models (e.g. a training run's export)")
    parser.add_argument("--out", required=True, help="output folder (model.yaml + files)")
    parser.add_argument("--formats", default=DEFAULT_FORMATS,
                        help=f"comma-separated subset of {','.join(FORMATS)} (default {DEFAULT_FORMATS})")
    parser.add_argument("--representative", default=None,
                        help="calibration images for tflite_int8: a folder, a COCO .json, or a .txt list")
    parser.add_argument("--calibration", type=int, default=100, help="number of calibration images")
    parser.add_argument("--input-size", type=_size, default=None,
                        help="WxH for the fixed-size TFLite files (default: the model's recipe size)")
    parser.add_argument("--name", default=None, help="name in model.yaml (default: the architecture)")


def run(args: argparse.Namespace) -> int:
    from pose_core.cli.outputs import check_output_dir
    from pose_core.export import ExportError, export_model
    check_output_dir(args.out, "--out")                   # before the conversions
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats:
        raise ExportError("--formats is empty")
    result = export_model(args.model, args.out, formats, representative=args.representative,
                          input_size=args.input_size, calibration=args.calibration, name=args.name)
    for fmt, path in result.files.items():
        check = result.checks.get(fmt)
        note = f"  max |diff| vs Keras {check:.2%} of range" if check is not None else ""
        print(f"{fmt:15s} {path}{note}")
    for fmt, why in result.skipped.items():
        print(f"{fmt:15s} skipped: {why}")
    for path in result.yaml_files.values():
        print(f"zoo entry       {path}")
    return 0


__all__ = ["add_arguments", "run", "PoseError"]
