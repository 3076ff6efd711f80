"""Input-pipeline throughput (images/s) for the Lightweight OpenPose recipe: OpenPose-18 PAF targets at
stride 8, 368x368 input, batch 8, on COCO-sized (640x480) synthetic JPEGs. Each stage is timed as a
cumulative pipeline (read+decode; + augmentation warp; + all targets = the training pipeline), with the
same tf.data parallelism the trainer gets. Writes a markdown table; numbers are medians over repeats.

    python -m pose_core.bench_pipeline [--images 64] [--batches 15] [--repeats 5] [--out bench/pipeline.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _time(ds, batches: int, batch_size: int, repeats: int) -> float:
    """Median images/s over `repeats` runs of `batches` batches, after a warm-up."""
    it = iter(ds.repeat())
    for _ in range(3):
        next(it)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates.append(batches * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def run(args) -> str:
    import tensorflow as tf

    from pose_core.codecs.paf import PafCodec
    from pose_core.data.augment import AugmentConfig, random_affine, warp
    from pose_core.data.pipeline import AUTOTUNE, make_dataset
    from pose_core.data.readers import read_dataset
    from pose_core.data.synthetic import generate_dataset
    from pose_core.layouts import OPENPOSE18

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="pose_bench_pipeline_"))
    ann = work / "annotations" / "person_keypoints_train.json"
    if not ann.exists():
        generate_dataset(work, images=args.images, seed=0, size=(640, 480), crowd_prob=0.3)
    samples = read_dataset("coco", ann)
    size, bs = (args.input, args.input), args.batch
    paths = tf.constant([s.image_path for s in samples])

    def decode(path):
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)

    def decode_warp(g, path):
        image = decode(path)
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        boxes = tf.constant([[200.0, 100.0, 300.0, 400.0]])
        matrix, _ = random_affine(tf.stack([tf.constant(0, tf.int64), g]), hw[::-1], boxes, size, AugmentConfig())
        return tf.cast(warp(image, matrix, size[::-1], 128.0), tf.float32)

    stages = {
        "read + decode JPEG": tf.data.Dataset.from_tensor_slices(paths).map(decode, num_parallel_calls=AUTOTUNE)
        .map(lambda im: tf.image.resize(im, size)).batch(bs).prefetch(AUTOTUNE),
        "+ augmentation (affine warp)": tf.data.Dataset.from_tensor_slices((tf.range(len(samples), dtype=tf.int64),
                                                                             paths))
        .map(decode_warp, num_parallel_calls=AUTOTUNE).batch(bs).prefetch(AUTOTUNE),
        "+ targets (heatmaps, PAFs, masks) = training pipeline": make_dataset(
            samples, OPENPOSE18, PafCodec(OPENPOSE18, stride=8), size, bs, seed=0, mask_dir=work / "masks"),
    }
    rows = []
    for name, ds in stages.items():
        rate = _time(ds, args.batches, bs, args.repeats)
        rows.append(f"| {name} | {rate:.1f} | {1000 * bs / rate:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    people = sum(s.num_people for s in samples) / len(samples)
    header = [f"Input pipeline, Lightweight OpenPose recipe: {args.input}x{args.input} input, OpenPose-18 PAF "
              f"targets at stride 8 (46x46x19 heatmaps + 46x46x38 PAFs), batch {bs}; {len(samples)} synthetic "
              f"640x480 JPEGs ({people:.1f} people/image); {os.cpu_count()} CPU cores (shared), TensorFlow "
              f"{tf.__version__}; median of {args.repeats} runs x {args.batches} batches.",
              "", "| stage (cumulative) | images/s | ms per batch |", "|---|---:|---:|"]
    return "\n".join(header + rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pose_core.bench_pipeline", description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=64, help="synthetic images to generate")
    p.add_argument("--input", type=int, default=368, help="square input size")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=15, help="batches per timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--work-dir", default=None, help="where the synthetic data goes (default: a temp dir)")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    args = p.parse_args(argv)
    table = run(args)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
