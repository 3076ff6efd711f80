"""`pose bench`: per model x runtime, median ms of preprocess / network / decode / total on real photos,
plus the PAF decoder's own targets. Writes a markdown table (and prints it)."""
from __future__ import annotations

import os
import statistics
from pathlib import Path


def add_arguments(p):
    p.add_argument("--models", default="tf-pose/mobilenet_v2_small,pose-mobile/cpm,pose-mobile/hourglass",
                   help="comma-separated zoo names")
    p.add_argument("--runtimes", default="all", help="comma-separated runtime kinds, or all")
    p.add_argument("--images", default=os.environ.get("POSE_TEST_IMAGES", ""),
                   help="folder of photos (default $POSE_TEST_IMAGES)")
    p.add_argument("--repeat", type=int, default=10, help="timed runs per image")
    p.add_argument("--input-size", default=None, help="WxH or native for models that accept any size")
    p.add_argument("--out", default="bench", help="folder for the markdown table")


def bench_estimator(estimator, images, repeat: int) -> dict[str, float]:
    rows = {"preprocess": [], "network": [], "decode": [], "total": []}
    people = []
    for image in images:
        estimator.estimate(image)  # warm-up (tracing, allocation)
        for _ in range(repeat):            # estimators are stateless: each photo on its own
            found, timing = estimator.estimate(image, return_timing=True)
            for k in rows:
                rows[k].append(timing[k])
        people.append(len(found))
    out = {k: statistics.median(v) for k, v in rows.items()}
    out["overhead_ratio"] = (out["total"] - out["network"]) / out["network"]
    out["people"] = people
    return out


def run(args) -> int:
    from pose_core import zoo
    from pose_core.cli.outputs import check_output_dir
    from pose_core.errors import PoseError
    from pose_core.estimators import load_estimator
    from pose_core.image_io import read_image
    check_output_dir(args.out, "--out")                    # before minutes of benchmarking

    folder = Path(args.images)
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise PoseError(f"no images found in {folder!r} (set --images or POSE_TEST_IMAGES)")
    images = [read_image(p) for p in paths]
    lines = [f"Images: {', '.join(p.name for p in paths)}; median ms over {args.repeat} runs per image.",
             "", "| model | runtime | device | input | preprocess | network | decode | total | "
                 "non-network / network | people per image |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for name in args.models.split(","):
        pipeline = zoo.get_pipeline(name)
        # A pipeline runs its pose model's runtimes (the detector keeps its own).
        spec = zoo.get_spec(pipeline.pose if pipeline else name)
        kinds = list(spec.files) if args.runtimes == "all" else \
            [k for k in args.runtimes.split(",") if k in spec.files]
        for kind in kinds:
            est = load_estimator(name, runtime=kind, input_size=None if pipeline else args.input_size)
            r = bench_estimator(est, images, args.repeat)
            size = (est.pose if pipeline else est).preprocessor.input_size
            lines.append(f"| {name} | {kind} | {(est.pose if pipeline else est).runtime.device} | "
                         f"{'native' if size is None else '%dx%d' % size} | {r['preprocess']:.2f} | "
                         f"{r['network']:.2f} | {r['decode']:.2f} | {r['total']:.2f} | "
                         f"{r['overhead_ratio']:.1%} | {' '.join(map(str, r['people']))} |")
            print(lines[-1], flush=True)
    try:
        from pose_core.decoder_speed import decode_table
        lines += ["", decode_table()]
    except ImportError:
        pass
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "core.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"table written to {out / 'core.md'}")
    return 0
