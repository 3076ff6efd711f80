"""`pose models list|fetch|verify [NAME...]`"""
from __future__ import annotations

from pose_core import zoo
from pose_core.errors import ModelError


def add_arguments(p):
    p.add_argument("action", choices=("list", "fetch", "verify"))
    p.add_argument("names", nargs="*", help="zoo names (default: all)")
    p.add_argument("--models-dir", default=None, help="default: $POSE_MODELS_DIR or the user cache")
    p.add_argument("--convert", action="store_true",
                   help="fetch: also convert each model's source (frozen graph, TF.js, OpenVINO IR) to its checked "
                        "TFLite fp32 in the converted-model cache ($POSE_CACHE_DIR), as first use would")


def run(args) -> int:
    from pathlib import Path

    from pose_core import download

    models_dir = Path(args.models_dir) if args.models_dir else zoo.default_models_dir()
    entries = zoo.list_models()
    names = []
    for n in args.names or sorted(entries):
        pipeline = zoo.get_pipeline(n) if n not in entries else None
        parts = [pipeline.detector, pipeline.pose] if pipeline else [n]     # a pipeline = its two models
        for part in parts:
            if part not in entries:
                raise zoo.UnknownModelError(f"unknown model {part!r}; known models: "
                                            f"{', '.join(sorted(entries) + sorted(zoo.list_pipelines()))}")
            if part not in names:
                names.append(part)
    if args.action == "list":
        print(f"models directory: {models_dir}")
        for n in names:
            spec = entries[n]
            present = all(spec.local_path(f, models_dir).exists() for f in spec.files.values())
            print(f"{n:32s} {spec.layout or spec.task:12s} {','.join(spec.files):28s} "
                  f"{'present' if present else 'missing'}  {spec.description}")
        if not args.names:
            for n, pipe in sorted(zoo.list_pipelines().items()):
                print(f"{n:32s} {'pipeline':12s} {pipe.detector + ' + ' + pipe.pose:28s} {'':7s}  "
                      f"{pipe.description}")
        return 0
    failures = 0
    for n in names:
        spec = entries[n]
        for kind, f in spec.files.items():
            for item in (f, *f.extra):
                local = spec.local_path(item, models_dir)
                try:
                    if args.action == "fetch" and not local.exists():
                        download.fetch(item.url, local, item.sha256)
                    elif not local.exists():
                        raise ModelError(f"{local} is missing")
                    else:
                        download.verify(local, item.sha256)
                    print(f"ok       {n} [{kind}] {local}")
                except ModelError as exc:
                    print(f"FAILED   {n} [{kind}] {exc}")
                    failures += 1
        if args.action == "fetch" and getattr(args, "convert", False):
            failures += _convert(spec, models_dir)
        if args.action == "fetch" and spec.extra.get("build"):
            failures += _build(spec, models_dir)
    return 1 if failures else 0


def _build(spec, models_dir) -> int:
    """Build a zoo file made here from its source (yolox/nano-int8) into the cache; 1 on failure."""
    from pose_core.detectors import build

    try:
        kind, path = build.built_file(spec, None, models_dir)
    except (ModelError, OSError) as exc:
        print(f"FAILED   {spec.name} [built] {exc}")
        return 1
    print(f"ok       {spec.name} [{kind}, built from its source] {path}")
    return 0


def _convert(spec, models_dir) -> int:
    """Pre-convert one model into the converted-model cache; 1 on failure."""
    from pose_core.runtimes import cache

    try:
        done = cache.preconvert(spec, models_dir)
    except (ModelError, OSError) as exc:
        print(f"FAILED   {spec.name} [tflite, converted] {exc}")
        return 1
    if done is None:
        return 0                                   # its default runtime is already TFLite (or not a source)
    entry, meta = done
    if not meta.get("ok"):
        why = meta.get("error") or f"max |diff| {meta.get('max_abs_diff', float('nan')):.3g} > {meta.get('tolerance')}"
        print(f"FAILED   {spec.name} [tflite, converted] not used: {why}; the source runtime stays the default")
        return 1
    print(f"ok       {spec.name} [tflite, converted from {meta['source_kind']}, max |diff| "
          f"{meta['max_abs_diff']:.2g}] {entry.tflite}")
    return 0

