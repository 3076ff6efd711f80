"""Compare the zoo's models on the shared photos: every runtime of each model (network/decode/total ms,
max |difference| from the source runtime), which one the estimator picks by default, people found and
keypoint plausibility; then top-down pipelines at 1, 3 and 6 people and the PAF decoder hot vs
in-pipeline (pose_core.decoder_speed). Regenerates the tables in docs/movenet.md and docs/decoders.md.

    python benchmarks/zoo_runtimes.py --out bench     -> bench/zoo_runtimes.md   (POSE_MODELS_DIR / POSE_TEST_IMAGES)

The photos, the people on each and the hand-judged person regions are the benchmark's input:
--photos (default benchmarks/zoo_runtimes_photos.yaml, which says what each field means).

Runtimes per model: its source (frozen graph, TF.js graph or OpenVINO IR, run as a TF function), TFLite
fp32 (the zoo's file, or the source converted and checked by pose_core.runtimes.cache - what the
estimator runs by default), TFLite int8 with dynamic-range weights (converted into --cache). The diff
column is the max |output - source output| on the photos file's diff_photo.

Plausibility has no ground truth here, so it is a fixed, hand-judged check on the photos with one whole
upright person (a `region` in the photos file): the best person's visible keypoints lie in the person's region, at least
60% of the layout's keypoints are seen, and head, shoulders, hips, knees, ankles run top to bottom.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from table_output import add_out_argument

log = logging.getLogger(__name__)

MODELS = ("tf-pose/mobilenet_v2_small", "lightweight-openpose/omz-0001", "pose-mobile/cpm",
          "pose-mobile/hourglass", "movenet/multipose-lightning", "movenet/lightning", "movenet/thunder")
PIPELINES = ("topdown/yolox-nano+movenet-thunder",)
DEFAULT_PHOTOS = Path(__file__).resolve().with_name("zoo_runtimes_photos.yaml")
_TOP_TO_BOTTOM = (("nose", "head_top"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
                  ("left_knee", "right_knee"), ("left_ankle", "right_ankle"))


@dataclass(frozen=True)
class Photos:
    """The benchmark's photo set (see zoo_runtimes_photos.yaml)."""
    people: dict[str, int]                                   # photo -> people on it, in table order
    regions: dict[str, tuple[float, float, float, float]]    # photo -> (x0, y0, x1, y1) of its one person
    diff_photo: str
    one_person: str
    three_people: str


def load_photos(path: Path) -> Photos:
    """The photos file, or SystemExit with one line saying what is wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        people = {str(e["name"]): int(e["people"]) for e in data["photos"]}
        regions = {str(e["name"]): tuple(float(v) for v in e["region"]) for e in data["photos"] if "region" in e}
        photos = Photos(people, regions, str(data["diff_photo"]), str(data["pipeline_photos"]["one_person"]),
                        str(data["pipeline_photos"]["three_people"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"zoo_runtimes: bad photos file {path}: {type(exc).__name__}: {exc}") from None
    if any(len(r) != 4 for r in regions.values()):
        raise SystemExit(f"zoo_runtimes: bad photos file {path}: a region is [x0, y0, x1, y1]")
    return photos


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
def _source_kind(spec) -> str:
    """The runtime the others are compared with: the source format the zoo ships (TF graph first)."""
    from pose_core.runtimes.cache import CONVERTIBLE

    return next((k for k in (spec.default_runtime, *spec.files) if k in CONVERTIBLE), spec.default_runtime)


def variants(name: str, models_dir: Path, cache: Path, threads: int):
    """(label, estimator, note, is_default) for the source runtime, TFLite fp32 and TFLite int8 of one
    zoo model. The converted fp32 comes from the converted-model cache in `cache` - the same conversion
    and check the estimator's default path runs."""
    from pose_core import zoo
    from pose_core.estimator import PoseEstimator
    from pose_core.runtimes import cache as runtime_cache
    from pose_core.runtimes.tflite import TFLiteRuntime

    spec = zoo.get_spec(name)
    kind = _source_kind(spec)
    tf_est = PoseEstimator.from_zoo(name, runtime=kind, models_dir=models_dir)
    size = tf_est.preprocessor.input_size
    _, src_path = zoo.resolve(spec, kind, models_dir)
    default = runtime_cache.prefer_tflite(spec, kind, src_path, requested=None, input_size=size,
                                          directory=cache)[0] if kind == spec.default_runtime else spec.default_runtime
    label = f"TF function ({kind})"
    yield label, tf_est, "", default == kind
    for label, int8 in (("TFLite fp32", False), ("TFLite int8 (dynamic range)", True)):
        if not int8 and "tflite" in spec.files:
            est = PoseEstimator.from_zoo(name, runtime="tflite", models_dir=models_dir, threads=threads)
            yield label, est, "zoo file", default == "tflite"
            continue
        if not int8:
            entry, meta = runtime_cache.convert_entry(
                spec, kind, src_path, runtime_cache.conversion_size(spec, kind, size), directory=cache)
            if not meta.get("ok"):
                yield label, None, "conversion not used: " + (meta.get("error") or "max |diff| %.3g" %
                                                            meta.get("max_abs_diff", float("nan"))), False
                continue
            rt = TFLiteRuntime(entry.tflite, threads=threads)
            yield label, PoseEstimator(rt, tf_est.preprocessor, tf_est.codec, name=name), "converted", \
                default == "tflite"
            continue
        path = cache / f"{name.replace('/', '_')}_int8_{size[0]}x{size[1]}.tflite"
        if not path.exists():
            t0 = time.perf_counter()
            try:
                data = runtime_cache.to_tflite(tf_est.runtime, size, dynamic_range_int8=True)
            except Exception as exc:  # noqa: BLE001 - a model that does not convert is a table row, not a crash
                yield label, None, f"conversion failed: {str(exc).splitlines()[0][:80]}", False
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            log.info("converted %s -> %s in %.1f s", name, path, time.perf_counter() - t0)
        rt = TFLiteRuntime(path, threads=threads)
        yield label, PoseEstimator(rt, tf_est.preprocessor, tf_est.codec, name=name), "converted", False


def _max_diff(a, b, image) -> float:
    tensor, _ = a.preprocessor(image)
    return max(float(np.abs(x - y).max()) for x, y in zip(a.runtime(tensor[None]), b.runtime(tensor[None])))


class _Row:
    """One (model, runtime) variant's measurements."""

    def __init__(self, name, label, est, note, default=False):
        self.name, self.label, self.est, self.note, self.default = name, label, est, note, default
        self.network, self.decode, self.total, self.found, self.diff = [], [], [], {}, ""
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
        self.total.append(timing["total"])
        self.found[photo] = people

    def line(self, photos: list[str], expected: Photos) -> str:
        if self.error:
            return f"| {self.name} | {self.label} | | | | {self.error} | | | | | |"
        w, h = self.est.preprocessor.input_size
        counts = [len(self.found[p]) for p in photos]
        exact = sum(c == expected.people[p] for c, p in zip(counts, photos))
        ok = sum(bool(self.found[p]) and plausible(self.found[p][0], expected.regions[p])
                 for p in photos if p in expected.regions)
        return (f"| {self.name} | {self.label} | {w}x{h} | {statistics.median(self.network):.1f} | "
                f"{statistics.median(self.decode):.2f} | {' '.join(map(str, counts))} | {exact}/{len(photos)} | "
                f"{ok}/{len(expected.regions)} | {self.diff} | {statistics.median(self.total):.1f} | "
                f"{'**default**' if self.default else ''} |")


def run(models, images_dir: Path, models_dir: Path, cache: Path, repeat: int, threads: int,
        photos: Photos | None = None) -> str:
    """Load every variant first, then time them interleaved (round by round, photo by photo), so the
    load of a shared machine drifts over all variants alike instead of favouring whichever ran first.
    photos: default the photos file next to this script."""
    from pose_core.image_io import read_image

    photos = photos or load_photos(DEFAULT_PHOTOS)
    images = {p: read_image(images_dir / p) for p in photos.people if (images_dir / p).exists()}
    rows: list[_Row] = []
    for name in models:
        ref = None
        for label, est, note, default in variants(name, models_dir, cache, threads):
            row = _Row(name, label, est, note, default)
            rows.append(row)
            if est is None:
                continue
            for photo, image in images.items():   # warm-up: tracing, allocation
                row.measure(photo, image)
            for series in (row.network, row.decode, row.total):
                series.clear()
            if ref is None:
                ref = est
            elif not row.error:
                row.diff = f"{_max_diff(ref, est, images[photos.diff_photo]):.2g} ({note})"
    for _ in range(repeat):
        for photo, image in images.items():
            for row in rows:
                row.measure(photo, image)
    head = " ".join(f"{p.split('.')[0]}({photos.people[p]})" for p in images)
    lines = [f"| model | runtime | input | network ms | decode ms | people per photo: {head} | "
             f"count right | plausible ({len(photos.regions)}) | max abs diff vs source | total ms | "
             f"estimator default |",
             "|---|---|---|---:|---:|---|---:|---:|---|---:|---|"]
    lines += [row.line(list(images), photos) for row in rows]
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


def run_pipelines(pipelines, images_dir: Path, models_dir: Path, repeat: int, threads: int,
                  photos: Photos | None = None) -> str:
    """ms per frame of each top-down pipeline at 1, 3 and 6 people, with the pose model on the
    estimator's default runtime (the cached TFLite) and on its source, interleaved. Frames: the photos
    file's one_person and three_people photos (p1, p3), and the latter above its mirror image. A frame costs
    the detector on it plus the pose model on each person's box; the boxes are fixed (the detector's on p1
    and p3; for 6 people p3's and their mirror images - the detector alone finds 5 of those 6), so every
    row runs the pose model on exactly 1, 3 and 6 crops."""
    from pose_core import zoo
    from pose_core.detectors import PersonBox
    from pose_core.estimators import load_estimator
    from pose_core.image_io import read_image

    photos = photos or load_photos(DEFAULT_PHOTOS)
    p1, p3 = read_image(images_dir / photos.one_person), read_image(images_dir / photos.three_people)
    lines = ["| pipeline | pose runtime | " + " | ".join(f"{n} people: ms (detector + pose), people found"
                                                      for n in (1, 3, 6)) + " |", "|---|---|---|---|---|"]
    for name in pipelines:
        pose_spec = zoo.get_spec(zoo.get_pipeline(name).pose)
        variants = [load_estimator(name, runtime=runtime, models_dir=models_dir, threads=threads)
                    for runtime in (None, _source_kind(pose_spec))]
        h, w = p3.shape[:2]
        boxes3 = variants[0].detector(p3)
        six = np.ascontiguousarray(np.vstack([p3, p3[:, ::-1]]))
        frames = {1: (p1, variants[0].detector(p1)), 3: (p3, boxes3),
                  6: (six, boxes3 + [PersonBox(w - b.x1, b.y0 + h, w - b.x0, b.y1 + h, b.score) for b in boxes3])}
        times = {(i, n): ([], [], 0) for i in range(len(variants)) for n in frames}
        for rnd in range(repeat + 1):                    # round 0 is the warm-up
            for n, (image, boxes) in frames.items():
                for i, est in enumerate(variants):
                    t0 = time.perf_counter()
                    est.detector(image)
                    t1 = time.perf_counter()
                    people = est.estimate_in_boxes(image, boxes)
                    t2 = time.perf_counter()
                    if rnd:
                        det, pose, _ = times[(i, n)]
                        det.append((t1 - t0) * 1000.0)
                        pose.append((t2 - t1) * 1000.0)
                        times[(i, n)] = (det, pose, len(people))
        for i, est in enumerate(variants):
            cells = []
            for n in frames:
                det, pose, found = times[(i, n)]
                d, q = statistics.median(det), statistics.median(pose)
                cells.append(f"{d + q:.1f} ({d:.1f} + {q:.1f}), {found}")
            mode = "" if est.batched else ", crop by crop"
            default = " (default)" if i == 0 else ""
            lines.append(f"| {name} | {est.pose.runtime.kind}{mode}{default} | " + " | ".join(cells) + " |")
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--images", default=os.environ.get("POSE_TEST_IMAGES", ""))
    p.add_argument("--models-dir", default=None, help="default: $POSE_MODELS_DIR or the user cache")
    p.add_argument("--cache", default=None, help="where this benchmark's converted TFLite files go (default: "
                                                 "the user cache ~/.cache/pose_ros/bench)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per photo (after one warm-up)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for TensorFlow (intra-op) and TFLite alike")
    p.add_argument("--pipelines", default=",".join(PIPELINES), help="top-down pipelines ('' = none)")
    p.add_argument("--no-decode", action="store_true", help="skip the PAF decode table (pose_core.decoder_speed)")
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                   help="photos, people per photo and person regions (yaml; default %(default)s)")
    add_out_argument(p, "zoo_runtimes.md", Path("bench"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    photos = load_photos(args.photos)

    from pose_core import zoo

    models_dir = Path(args.models_dir) if args.models_dir else zoo.default_models_dir()
    cache = Path(args.cache) if args.cache else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
        / "pose_ros" / "bench"
    import tensorflow as tf

    # The same thread budget for both engines, set before TensorFlow runs anything.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load = [f"{os.getloadavg()[0]:.1f} at the start"]
    images = Path(args.images)
    models = [m for m in args.models.split(",") if m]
    table = run(models, images, models_dir, cache, args.repeat, args.threads, photos) if models else ""
    pipelines = [m for m in args.pipelines.split(",") if m]
    if pipelines:
        table += "\n\nTop-down pipelines, ms per frame (median):\n\n" + run_pipelines(
            pipelines, images, models_dir, args.repeat, args.threads, photos)
    if not args.no_decode:
        from pose_core.decoder_speed import decode_table
        table += "\n\n" + decode_table(repeat=max(20, 20 * args.repeat), images_dir=images)
    load.append(f"{os.getloadavg()[0]:.1f} at the end")
    header = (f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores (shared; load average "
              f"{', '.join(load)}), {args.threads} threads for TF and TFLite (XNNPACK); "
              f"median over {args.repeat} interleaved rounds x {len(photos.people)} photos after a warm-up.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "zoo_runtimes.md"
    out.write_text(header + "\n" + table + "\n")
    print(f"table written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
