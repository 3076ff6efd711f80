#!/usr/bin/env python3
"""Train step rate vs input-pipeline rate for a recipe (default: Lightweight OpenPose, 368x368).

    python benchmarks/train_vs_input_rate.py [--recipe R.yaml] [--batch 4] [--steps 16] [--out bench]
        -> bench/train_vs_input_rate.md

On generated synthetic COCO-format data (no real dataset here). Three medians, images/s:
  input pipeline   pose_core.data (read, decode, augment, render targets), alone
  train step       forward + backward + update on one cached batch (the model alone)
  train, live data the trainer as it runs: pipeline feeding training on the same cores
Augmentation is not the bottleneck when "input pipeline" is well above "train step".
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from table_output import add_out_argument, write_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT / "training" / "configs" / "lightweight-openpose_mobilenetv1_368x368_coco_stage1-backbone.yaml"


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=str(DEFAULT))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=16, help="timed steps/batches per measurement")
    p.add_argument("--images", type=int, default=24, help="synthetic images to generate")
    p.add_argument("--image-size", default="640x480", help="synthetic image size WxH (COCO-like by default)")
    add_out_argument(p, "train_vs_input_rate.md", Path("bench"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import tensorflow as tf

    from pose_core.data.synthetic import generate_dataset
    from pose_core.training.data import make_training_dataset
    from pose_core.training.recipe import load_recipe
    from pose_core.training.trainer import Trainer

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    iw, ih = (int(v) for v in args.image_size.lower().split("x"))
    ann = generate_dataset(tmp / "data", images=args.images, seed=0, size=(iw, ih))
    recipe = load_recipe(args.recipe, [f"data.annotations={ann}", f"data.images={tmp / 'data' / 'images'}",
                                       f"work_dir={tmp / 'run'}", f"training.batch_size={args.batch}",
                                       "training.progress=false", "export.at_end=false",
                                       "training.checkpoint_every=1000000", "training.image_every=0",
                                       "training.log_every=2", f"training.steps={args.steps + 2}"])
    size = recipe["data"]["input_size"]

    # 1. Input pipeline alone.
    trainer = Trainer(recipe)
    ds = make_training_dataset(recipe, trainer.metadata, args.batch, seed=0)
    it = iter(ds)
    for _ in range(3):
        next(it)   # warm up (graph building, first file reads)
    # Windows of 10 batches, many of them, so the prefetch buffer filled during warm-up cannot
    # flatter the figure: the stream has to be produced at the measured rate.
    rates = []
    for _ in range(max(args.steps, 8)):
        t = time.perf_counter()
        for _ in range(10):
            next(it)
        rates.append(10 * args.batch / (time.perf_counter() - t))
    pipeline = _median(rates)

    # 2. Train step alone, on one cached batch.
    batch = next(iter(ds))
    cached = lambda *a: tf.data.Dataset.from_tensors(batch).repeat()   # noqa: E731
    step_only = Trainer(dict(recipe, work_dir=str(tmp / "run_cached")), dataset_fn=cached).fit()["images_per_sec"]

    # 3. The trainer with the live pipeline.
    live = Trainer(dict(recipe, work_dir=str(tmp / "run_live"))).fit()["images_per_sec"]

    name = Path(args.recipe).stem
    load = os.getloadavg()[0]
    lines = [
        f"Train vs input rate, `{name}` at {size[0]}x{size[1]}, batch {args.batch}, "
        f"{args.images} synthetic {iw}x{ih} JPEGs, "
        f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} TF threads, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} "
        f"at the end (a shared machine); medians over {max(args.steps, 8)} windows of 10 batches "
        f"(pipeline) and {args.steps // 2} windows of 2 steps (training)",
        "",
        "| measurement | images/s (median) |",
        "| --- | ---: |",
        f"| input pipeline alone (read, decode, augment, targets) | {pipeline:.1f} |",
        f"| train step alone (cached batch) | {step_only:.2f} |",
        f"| trainer with live pipeline | {live:.2f} |",
    ]
    table = "\n".join(lines)
    print(table)
    write_table(args.out, "train_vs_input_rate.md", table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
