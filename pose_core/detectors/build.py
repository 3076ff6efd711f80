"""Zoo detector files that are built here rather than downloaded (`build:` in the entry).

yolox/nano-int8 has no usable published file, so its `tflite` file is built from the entry's source file
(the upstream ONNX, listed under `files` with url + sha256, and the calibration photos beside it as its
extra files) by a converter named in the entry:

    build:
      tflite: {converter: yolox_onnx, from: onnx, format: tflite_int8}

The result goes into the converted-model cache (pose_core.runtimes.cache: $POSE_CACHE_DIR, default
~/.cache/pose_ros/converted; written atomically, a corrupt file is rebuilt), never the models directory.
Key: the source's sha256, the calibration photos' sha256s, the format and BUILD_VERSION - the same
inputs give the same entry, whoever built it (load_detector on first use or `pose models fetch`).
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import tempfile
import time
from pathlib import Path

from pose_core import zoo
from pose_core.errors import ModelError, ModelFileMissingError

log = logging.getLogger(__name__)

# converter name -> "module:function(source_path, fmt, representative_paths, out_path) -> dict of checks"
BUILDERS = {"yolox_onnx": "pose_core.convert.yolox_export:build_tflite"}
# Bump when a builder's output changes for the same inputs (quantisation settings, graph changes).
BUILD_VERSION = 2


def recipe(spec, runtime: str | None = None) -> dict | None:
    """The entry's build recipe for this runtime kind, or None when the file is downloaded as usual."""
    builds = spec.extra.get("build") or {}
    kind = runtime or spec.default_runtime
    return builds.get(kind) if kind not in spec.files else None


def _key(spec, rec: dict, source_sha: str, calibration_shas: list[str]) -> str:
    text = "|".join([str(BUILD_VERSION), rec["converter"], rec["format"], source_sha, *sorted(calibration_shas)])
    return hashlib.sha256(text.encode()).hexdigest()


def _local_source(spec, f, models_dir: Path | None, download: bool) -> Path:
    """The source file itself (not its extras), downloaded when allowed, sha256-checked."""
    from pose_core import download as dl

    local = spec.local_path(f, models_dir)
    if not local.exists():
        if not (download and f.url):
            raise ModelFileMissingError(
                f"{spec.name} is built from {f.path}, which is missing from {local.parent}"
                + (f"; fetch it with `pose models fetch {spec.name}` or download {f.url}" if f.url else ""))
        dl.fetch(f.url, local, f.sha256)
    elif f.sha256:
        dl.verify(local, f.sha256)
    return local


def built_file(spec, runtime: str | None = None, models_dir: str | Path | None = None, *,
               download: bool = False, representative=None, directory: str | Path | None = None,
               force: bool = False) -> tuple[str, Path]:
    """(runtime kind, path) of the entry's built file: from the cache, else built now and cached.
    representative: calibration images to use instead of the entry's listed photos (a folder, COCO json,
    .txt list or list of paths); the key then holds their actual sha256s."""
    from pose_core.hashing import sha256_of
    from pose_core.runtimes.cache import CONVERTER_VERSION, Entry, cache_dir

    kind = runtime or spec.default_runtime
    rec = recipe(spec, kind)
    if rec is None:
        raise ModelError(f"{spec.name}: no build recipe for its {kind!r} file")
    if rec.get("converter") not in BUILDERS:
        raise ModelError(f"{spec.name}: unknown converter {rec.get('converter')!r}; known: {', '.join(BUILDERS)}")
    src = spec.files[rec["from"]]
    models_dir = Path(models_dir) if models_dir else None
    if representative is None:
        calibration = [spec.local_path(e, models_dir) for e in src.extra]
        calibration_shas = [e.sha256 for e in src.extra]
    else:
        from pose_core.convert.yolox_export import image_paths
        calibration = image_paths(representative)
        calibration_shas = [sha256_of(p) for p in calibration]
    source = None
    source_sha = src.sha256
    if not source_sha:
        source = _local_source(spec, src, models_dir, download)
        source_sha = sha256_of(source)
    entry = Entry(Path(directory) if directory else cache_dir(), spec.name,
                  _key(spec, rec, source_sha, calibration_shas), rec["format"])
    meta = None if force else entry.read()
    if meta and meta.get("ok"):
        return kind, entry.tflite

    source = source or _local_source(spec, src, models_dir, download)
    if representative is None:     # the listed photos: fetch/verify them like any model file
        zoo.resolve(spec, rec["from"], models_dir, download=download, verify=True)
    module, func = BUILDERS[rec["converter"]].split(":")
    build = getattr(importlib.import_module(module), func)
    log.info("building %s (%s) from %s; once, into %s", spec.name, rec["format"], source.name, entry.tflite.parent)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pose_build_") as tmp:
        out = Path(tmp) / "model.tflite"
        checks = build(source, rec["format"], calibration, out)
        data = out.read_bytes()
    meta = {"model": spec.name, "source_kind": rec["from"], "source_sha256": entry.source_sha,
            "source_file_sha256": source_sha,
            "converter_version": CONVERTER_VERSION, "build": dict(rec), "build_version": BUILD_VERSION,
            "calibration_sha256": sorted(calibration_shas), "checks": checks, "ok": True,
            "build_s": round(time.perf_counter() - start, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        entry.write(data, meta)
    except OSError as exc:
        raise ModelError(f"{spec.name}: cannot write the built file into {entry.tflite.parent} "
                         f"({exc.strerror or exc}); set POSE_CACHE_DIR to a writable folder") from None
    log.info("built %s in %.1f s -> %s", spec.name, meta["build_s"], entry.tflite)
    return kind, entry.tflite
