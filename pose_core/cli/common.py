"""Options shared by the subcommands that run a model."""
from __future__ import annotations

import argparse

from pose_core.cli.parser import UsageError


def add_model_arguments(p: argparse.ArgumentParser, default_model: str | None = None) -> None:
    from pose_core.defaults import DEFAULT_MODEL

    p.add_argument("--model", default=default_model or DEFAULT_MODEL,
                   help="zoo name or pipeline (see `pose models list`), topdown:DETECTOR+POSE_MODEL, or a "
                        "folder with a model.yaml (default %(default)s)")
    p.add_argument("--runtime", default=None,
                   help="frozen_graph | tflite | keras | saved_model | tfjs | tftrt (default: the model's)")
    p.add_argument("--device", default="cpu", help="cpu | gpu | gpu:N (falls back to cpu with a log line)")
    p.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads")
    p.add_argument("--input-size", default=None, metavar="WxH|native",
                   help="network input size (default: the model's)")
    p.add_argument("--flip-test", action="store_true", help="average the maps with a mirrored pass")
    p.add_argument("--scales", default=(1.0,), type=_scales, metavar="S[,S...]",
                   help="comma-separated multi-scale factors in (0, 4], first = reference")
    p.add_argument("--download", action="store_true", help="download a missing zoo model file")


def estimator_from_args(args, **options):
    """PoseEstimator or TopDownEstimator for --model (pose_core.estimators decides)."""
    from pose_core.estimators import load_estimator

    scales = args.scales                       # checked by _scales while parsing
    try:
        return load_estimator(args.model, runtime=args.runtime, device=args.device, threads=args.threads,
                              input_size=args.input_size, download=args.download, flip_test=args.flip_test,
                              scales=scales, **options)
    except ValueError as exc:                  # a wrong option for this model: one line, exit 2
        raise UsageError(str(exc)) from None


def _scales(text: str) -> tuple[float, ...]:
    from pose_core.scales import parse_scales
    try:
        return parse_scales(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
