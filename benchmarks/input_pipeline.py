"""Input-pipeline throughput (images/s) for the Lightweight OpenPose recipe: OpenPose-18 PAF targets at
stride 8, 368x368 input, batch 8, on COCO-sized (640x480) synthetic JPEGs. Each stage is timed as a
cumulative pipeline (read+decode; + augmentation warp; + all targets = the training pipeline), with the
same tf.data parallelism the trainer gets. Writes a markdown table; numbers are medians over rounds.

    python benchmarks/input_pipeline.py [--images 64] [--batches 25] [--repeats 5] [--service-workers 2]
        [--out bench]                                                       -> bench/input_pipeline.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from table_output import add_out_argument, write_table


def _time_interleaved(datasets: dict, batches: int, batch_size: int, repeats: int) -> dict:
    """Median images/s per dataset over `repeats` rounds. A round visits every dataset in turn (so load
    from other processes on a shared machine hits every stage alike) with a FRESH iterator: 3 warm-up
    batches, then `batches` timed ones, then the iterator is dropped so its background threads stop and
    cannot steal CPU from, or pre-compute for, the next measurement."""
    rates = {name: [] for name in datasets}
    for _ in range(repeats):
        for name, ds in datasets.items():
            it = iter(ds)   # every stream is endless (repeated at its source, not restarted per epoch)
            for _ in range(3):
                next(it)
            start = time.perf_counter()
            for _ in range(batches):
                next(it)
            rates[name].append(batches * batch_size / (time.perf_counter() - start))
            del it
    return {name: statistics.median(r) for name, r in rates.items()}


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
        return warp(image, matrix, size[::-1], 128.0)

    stages = {
        "read + decode JPEG": tf.data.Dataset.from_tensor_slices(paths).repeat()
        .map(decode, num_parallel_calls=AUTOTUNE)
        .batch(bs).map(lambda im: tf.cast(im, tf.float32)).prefetch(AUTOTUNE),
        "+ augmentation (affine warp)": tf.data.Dataset.from_tensor_slices((tf.range(len(samples), dtype=tf.int64),
                                                                             paths)).repeat()
        .map(decode_warp, num_parallel_calls=AUTOTUNE).batch(bs).map(lambda im: tf.cast(im, tf.float32))
        .prefetch(AUTOTUNE),
        "+ targets (heatmaps, PAFs, masks) = training pipeline": make_dataset(
            samples, OPENPOSE18, PafCodec(OPENPOSE18, stride=8), size, bs, seed=0, mask_dir=work / "masks"),
    }
    load_before = os.getloadavg()[0]
    rates = _time_interleaved(stages, args.batches, bs, args.repeats)
    if args.service_workers:
        # In-process dispatcher and workers on the same cores: this row shows the service's overhead
        # (serialisation, gRPC on loopback), not extra capacity - real deployments add worker machines.
        service = tf.data.experimental.service
        dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
        address = dispatcher.target.split("://", 1)[1]
        workers = [service.WorkerServer(service.WorkerConfig(dispatcher_address=address, port=0))
                   for _ in range(args.service_workers)]
        # Timed alone, after the local stages: service workers run ahead and fill their buffers, which
        # would distort interleaved rounds (and their threads would load the other stages' timings).
        ds = make_dataset(samples, OPENPOSE18, PafCodec(OPENPOSE18, stride=8), size, bs, seed=0,
                          mask_dir=work / "masks", data_service=dispatcher.target)
        name = f"training pipeline via tf.data service ({len(workers)} in-process workers, timed alone)"
        rates.update(_time_interleaved({name: ds}, args.batches, bs, args.repeats))
        # Workers first: a worker outliving its dispatcher retries forever and blocks interpreter exit.
        for worker in workers:
            worker.stop()
        dispatcher.stop()
    rows = [f"| {name} | {rate:.1f} | {1000 * bs / rate:.0f} |" for name, rate in rates.items()]
    load_after = os.getloadavg()[0]
    people = sum(s.num_people for s in samples) / len(samples)
    header = [f"Input pipeline, Lightweight OpenPose recipe: {args.input}x{args.input} input, OpenPose-18 PAF "
              f"targets at stride 8 (46x46x19 heatmaps + 46x46x38 PAFs), batch {bs}; {len(samples)} synthetic "
              f"640x480 JPEGs ({people:.1f} people/image); {os.cpu_count()} CPU cores shared with other jobs "
              f"(1-min load average {load_before:.1f} before, {load_after:.1f} after), TensorFlow "
              f"{tf.__version__}; median of {args.repeats} interleaved rounds x {args.batches} batches.",
              "", "| stage (cumulative) | images/s | ms per batch |", "|---|---:|---:|"]
    return "\n".join(header + rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=64, help="synthetic images to generate")
    p.add_argument("--input", type=int, default=368, help="square input size")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=25, help="batches per timed run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--service-workers", type=int, default=2,
                   help="also time the pipeline through tf.data service with this many in-process workers (0 = skip)")
    p.add_argument("--work-dir", default=None, help="where the synthetic data goes (default: a temp dir)")
    add_out_argument(p, "input_pipeline.md", Path("bench"))
    args = p.parse_args(argv)
    table = run(args)
    print(table)
    write_table(args.out, "input_pipeline.md", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
