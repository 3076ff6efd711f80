"""Architecture benchmark: parameters, GFLOPs and TFLite latency of every pose_core.models builder.

    python benchmarks/architecture_cost.py [--out bench] [--models a,b] [--runs 10] [--threads 2]
        -> bench/architecture_cost.md

Per architecture, at its default (recipe) input size and published width:
  params      trainable + non-trainable parameters of the training model
  GFLOPs      of the BN-folded inference model, counted by TF's profiler on the frozen graph
              (1 multiply-add = 2 FLOPs)
  fp32 / int8 median (and min) latency of one image (batch 1) in the TFLite interpreter with XNNPACK on `threads`
              threads (int8 calibrated on POSE_TEST_IMAGES photos if present, else on random images;
              random-init weights: latency does not depend on weight values)
The table is written as markdown; runs are medians so a busy machine distorts them least.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from table_output import add_out_argument

log = logging.getLogger(__name__)


def count_flops(model, input_size) -> int:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from pose_core.export.formats import concrete_function
    frozen = convert_variables_to_constants_v2(concrete_function(model, input_size).get_concrete_function())
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(),
                                         cmd="op", options=opts)
    return int(prof.total_float_ops)


def tflite_latency_ms(path: Path, input_size, threads: int, runs: int, warmup: int = 2,
                      budget_s: float = 60.0) -> tuple[float, float]:
    """(median, min) ms of `runs` invocations; min shows the uncontended speed on a shared machine."""
    from pose_core.runtimes.tflite import TFLiteRuntime
    rt = TFLiteRuntime(path, threads=threads)
    w, h = input_size
    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    for _ in range(warmup):
        rt(x)
    times, start = [], time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        rt(x)
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break   # the big nets: a few runs are enough for a median
    return statistics.median(times), min(times)


def _calibration_source():
    images = os.environ.get("POSE_TEST_IMAGES")
    if images and Path(images).is_dir() and any(Path(images).iterdir()):
        return images, "photos"

    def random_images():
        rng = np.random.default_rng(1)
        for _ in range(8):
            yield rng.uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    return random_images, "random"


def bench_one(name: str, threads: int, runs: int, workdir: Path, calibration: int = 8) -> dict:
    from pose_core.export import export_tflite, fold_batchnorm
    from pose_core.models import build_model, inference_model, model_metadata
    logging.getLogger("pose_core.models.init_weights").setLevel(logging.ERROR)
    model = build_model(name)
    meta = model_metadata(model)
    size = tuple(meta["input_size"])
    folded = fold_batchnorm(inference_model(model))
    row = {"name": name, "params_m": model.count_params() / 1e6, "input": f"{size[0]}x{size[1]}",
           "stride": meta["stride"], "gflops": count_flops(folded, size) / 1e9}
    source, row["calibration"] = _calibration_source()
    for mode in ("fp32", "int8"):
        path = workdir / f"{name}_{mode}.tflite"
        t0 = time.perf_counter()
        export_tflite(folded, path, mode, size, source if mode == "int8" else None, calibration)
        row[f"{mode}_convert_s"] = time.perf_counter() - t0
        row[f"{mode}_mb"] = path.stat().st_size / 2**20
        row[f"{mode}_ms"], row[f"{mode}_min_ms"] = tflite_latency_ms(path, size, threads, runs)
        log.info("%s %s: %.1f ms", name, mode, row[f"{mode}_ms"])
    return row


def markdown(rows: list[dict], threads: int, runs: int) -> str:
    lines = [
        f"Architectures at their default input size, batch 1. TFLite {threads} threads (XNNPACK), median "
        f"of up to {runs} runs; {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared machine). GFLOPs: TF profiler on the BN-folded inference graph (multiply-add = 2).",
        "",
        "| architecture | input (WxH) | stride | params (M) | GFLOPs | GMACs | TFLite fp32 (MB) "
        "| fp32 median (min) ms | TFLite int8 (MB) | int8 median (min) ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['input']} | {r['stride']} | {r['params_m']:.2f} | {r['gflops']:.2f} "
                     f"| {r['gflops'] / 2:.2f} "
                     f"| {r['fp32_mb']:.1f} | {r['fp32_ms']:.1f} ({r['fp32_min_ms']:.1f}) "
                     f"| {r['int8_mb']:.1f} | {r['int8_ms']:.1f} ({r['int8_min_ms']:.1f}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from pose_core.models import MODELS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_out_argument(parser, "architecture_cost.md", Path("bench"))
    parser.add_argument("--models", default=",".join(m for m in MODELS if not m.startswith("tfpose")),
                        help="comma-separated architecture names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "architecture_cost.md"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.append(bench_one(name.strip(), args.threads, args.runs, Path(tmp)))
            table = markdown(rows, args.threads, args.runs)
            out.write_text(table)   # rewritten after each model: a long run leaves partial results
    print(table)
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
