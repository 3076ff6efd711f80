"""Compare the zoo's models on the shared photos: people found, keypoint plausibility, network/decode ms
for the TF function, TFLite fp32 and TFLite int8 (dynamic range). Regenerates the table in docs/movenet.md.

    python -m pose_core.bench_zoo --out bench/zoo.md            # POSE_MODELS_DIR / POSE_TEST_IMAGES

TFLite files that the zoo does not ship are converted once into --cache (MoveNet through the TF.js
runtime's concrete function, the seeds' frozen graphs through TFLiteConverter.from_frozen_graph); the
table states how far each TFLite output is from the TF function's on the first photo.

Plausibility has no ground truth here, so it is a fixed, hand-judged check on the photos with one whole
upright person (PERSON_REGION): the best person's visible keypoints lie in the person's region, at least
60% of the layout's keypoints are seen, and head, shoulders, hips, knees, ankles run top to bottom.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODELS = ("tf-pose/mobilenet_v2_small", "pose-mobile/cpm", "pose-mobile/hourglass",
          "movenet/multipose-lightning", "movenet/lightning", "movenet/thunder")
PHOTOS = ("p1.jpg", "p2.jpg", "p3.jpg", "apink1.jpg", "golf.jpg", "hand1.jpg", "cat.jpg")
EXPECTED_PEOPLE = {"p1.jpg": 1, "p2.jpg": 2, "p3.jpg": 3, "apink1.jpg": 1, "golf.jpg": 1, "hand1.jpg": 1,
                   "cat.jpg": 0}
# Hand-judged (x0, y0, x1, y1) around the one whole, upright person in these photos (generous margins).
PERSON_REGION = {"p1.jpg": (40, 5, 178, 218), "apink1.jpg": (110, 30, 370, 730),
                 "golf.jpg": (200, 200, 620, 960)}
_TOP_TO_BOTTOM = (("nose", "head_top"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
                  ("left_knee", "right_knee"), ("left_ankle", "right_ankle"))


def plausible(person, region) -> bool:
    """The hand-judged check described in the module docstring, for one person on one photo."""
    kps, names = person.keypoints, person.layout.keypoints
    seen = kps[:, 2] > 0
    if seen.sum() < 0.6 * len(names):
        return False
    x0, y0, x1, y1 = region
    pts = kps[seen]
    if not ((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).all():
        return False
    ys = []
    for group in _TOP_TO_BOTTOM:
        vals = [kps[names.index(n), 1] for n in group if n in names and kps[names.index(n), 2] > 0]
        if not vals:
            return False
        ys.append(float(np.mean(vals)))
    return all(a < b for a, b in zip(ys, ys[1:]))


# ------------------------------------------------------------------------------------------- variants
def _tf_kind(spec) -> str:
    return "tfjs" if "tfjs" in spec.files else "frozen_graph"


def _convert_tflite(spec, est, models_dir: Path, int8: bool) -> bytes:
    """A TFLite flatbuffer of the model at the estimator's input size (fp32, or dynamic-range int8)."""
    import tensorflow as tf

    from pose_core import zoo

    w, h = est.preprocessor.input_size
    if "tfjs" in spec.files:
        return est.runtime.to_tflite((w, h), dynamic_range_int8=int8)
    f = spec.files["frozen_graph"]
    path = zoo.resolve(spec, "frozen_graph", models_dir)[1]
    name = f.inputs[0].split(":")[0]
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(path), [name], [o.split(":")[0] for o in f.outputs], input_shapes={name: [1, h, w, 3]})
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def variants(name: str, models_dir: Path, cache: Path, threads: int):
    """(label, estimator, note) for the TF function, TFLite fp32 and TFLite int8 of one zoo model."""
    from pose_core import zoo
    from pose_core.estimator import PoseEstimator
    from pose_core.runtimes.tflite import TFLiteRuntime

    spec = zoo.get_spec(name)
    kind = _tf_kind(spec)
    tf_est = PoseEstimator.from_zoo(name, runtime=kind, models_dir=models_dir)
    yield f"TF function ({kind})", tf_est, ""
    for label, int8 in (("TFLite fp32", False), ("TFLite int8 (dynamic range)", True)):
        if not int8 and "tflite" in spec.files:
            est = PoseEstimator.from_zoo(name, runtime="tflite", models_dir=models_dir, threads=threads)
            yield label, est, "zoo file"
            continue
        path = cache / f"{name.replace('/', '_')}_{'int8' if int8 else 'fp32'}.tflite"
        if not path.exists():
            t0 = time.perf_counter()
            try:
                data = _convert_tflite(spec, tf_est, models_dir, int8)
            except Exception as exc:  # noqa: BLE001 - a model that does not convert is a table row, not a crash
                yield label, None, f"conversion failed: {str(exc).splitlines()[0][:80]}"
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            log.info("converted %s -> %s in %.1f s", name, path, time.perf_counter() - t0)
        rt = TFLiteRuntime(path, threads=threads)
        yield label, PoseEstimator(rt, tf_est.preprocessor, tf_est.codec, name=name), "converted"


def _max_diff(a, b, image) -> float:
    tensor, _ = a.preprocessor(image)
    return max(float(np.abs(x - y).max()) for x, y in zip(a.runtime(tensor[None]), b.runtime(tensor[None])))


class _Row:
    """One (model, runtime) variant's measurements."""

    def __init__(self, name, label, est, note):
        self.name, self.label, self.est, self.note = name, label, est, note
        self.network, self.decode, self.found, self.plausible, self.diff = [], [], {}, 0, ""
        self.error = note if est is None else ""

    def measure(self, photo, image) -> None:
        if self.error:
            return
        try:
            people, timing = self.est.estimate(image, return_timing=True)
        except Exception as exc:  # noqa: BLE001 - one broken model must not hide the others' rows
            self.error = f"failed: {type(exc).__name__}: {exc}"
            return
        self.network.append(timing["network"])
        self.decode.append(timing["decode"])
        self.found[photo] = people

    def line(self, photos) -> str:
        if self.error:
            return f"| {self.name} | {self.label} | | | | {self.error} | | | |"
        w, h = self.est.preprocessor.input_size
        counts = [len(self.found[p]) for p in photos]
        exact = sum(c == EXPECTED_PEOPLE[p] for c, p in zip(counts, photos))
        ok = sum(bool(self.found[p]) and plausible(self.found[p][0], PERSON_REGION[p])
                 for p in photos if p in PERSON_REGION)
        return (f"| {self.name} | {self.label} | {w}x{h} | {statistics.median(self.network):.1f} | "
                f"{statistics.median(self.decode):.2f} | {' '.join(map(str, counts))} | {exact}/{len(photos)} | "
                f"{ok}/{len(PERSON_REGION)} | {self.diff} |")


def run(models, images_dir: Path, models_dir: Path, cache: Path, repeat: int, threads: int) -> str:
    """Load every variant first, then time them interleaved (round by round, photo by photo), so the
    load of a shared machine drifts over all variants alike instead of favouring whichever ran first."""
    from pose_core.image_io import read_image

    images = {p: read_image(images_dir / p) for p in PHOTOS if (images_dir / p).exists()}
    rows: list[_Row] = []
    for name in models:
        ref = None
        for label, est, note in variants(name, models_dir, cache, threads):
            row = _Row(name, label, est, note)
            rows.append(row)
            if est is None:
                continue
            for photo, image in images.items():   # warm-up: tracing, allocation
                row.measure(photo, image)
            row.network.clear()
            row.decode.clear()
            if ref is None:
                ref = est
            elif not row.error:
                row.diff = f"{_max_diff(ref, est, images['p1.jpg']):.2g} ({note})"
    for _ in range(repeat):
        for photo, image in images.items():
            for row in rows:
                row.measure(photo, image)
    head = " ".join(f"{p.split('.')[0]}({EXPECTED_PEOPLE[p]})" for p in images)
    lines = [f"| model | runtime | input | network ms | decode ms | people per photo: {head} | "
             f"count right | plausible ({len(PERSON_REGION)}) | TFLite vs TF max abs diff |",
             "|---|---|---|---:|---:|---|---:|---:|---|"]
    lines += [row.line(list(images)) for row in rows]
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--images", default=os.environ.get("POSE_TEST_IMAGES", ""))
    p.add_argument("--models-dir", default=None, help="default: $POSE_MODELS_DIR or the user cache")
    p.add_argument("--cache", default=None, help="where converted TFLite files go (default: the user cache "
                                                 "~/.cache/pose_ros/bench)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per photo (after one warm-up)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for TensorFlow (intra-op) and TFLite alike")
    p.add_argument("--out", default="bench/zoo.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from pose_core import zoo

    models_dir = Path(args.models_dir) if args.models_dir else zoo.default_models_dir()
    cache = Path(args.cache) if args.cache else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
        / "pose_ros" / "bench"
    import tensorflow as tf

    # The same thread budget for both engines, set before TensorFlow runs anything.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    table = run(args.models.split(","), Path(args.images), models_dir, cache, args.repeat, args.threads)
    header = (f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores (shared; load average "
              f"{os.getloadavg()[0]:.1f} at the end), {args.threads} threads for TF and TFLite (XNNPACK); "
              f"median over {args.repeat} interleaved rounds x {len(PHOTOS)} photos after a warm-up.\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n" + table + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
