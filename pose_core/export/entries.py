"""The zoo entries beside an export: `model.yaml` (keras, saved_model and the first tflite format) and one
`model_<format>.yaml` per tflite/tftrt format, in the zoo schema (pose_core.zoo writes them)."""
from __future__ import annotations

from pathlib import Path

from pose_core.hashing import sha256_of
from pose_core.zoo import ModelFile, ModelSpec, write_spec_file


def file_entry(path: Path, out_dir: Path) -> ModelFile:
    rel = path.relative_to(out_dir).as_posix()
    if path.is_dir():   # a folder: the runtime gets the folder; each file is listed with its sha256
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return ModelFile(path=rel, extra=tuple(
            ModelFile(path=p.relative_to(out_dir).as_posix(), sha256=sha256_of(p)) for p in files))
    return ModelFile(path=rel, sha256=sha256_of(path))


def zoo_entry(meta: dict, files: dict[str, ModelFile], *, name: str, input_size, fixed: bool,
              default_runtime: str, checks: dict) -> ModelSpec:
    return ModelSpec(
        name=name,
        description=f"{meta['architecture']} exported by pose export "
                    f"({', '.join(f'{k}={v}' for k, v in meta['params'].items())})",
        layout=meta["layout"],
        codec=dict(meta["codec"]),
        input_size=tuple(int(v) for v in input_size),
        fixed_input_size=bool(fixed),
        # The model normalises inside: it takes RGB 0..255 as is. Dynamic-size runtimes get inputs
        # rounded up to a multiple of the network's coarsest stride, so every map cell lines up.
        preprocess={"channel_order": "rgb", "scale": 1.0, "offset": 0.0, "resize": "letterbox",
                    **({} if fixed else {"size_multiple": size_multiple(meta)})},
        default_runtime=default_runtime,
        files=files,
        extra={"architecture": {"name": meta["architecture"], "params": meta["params"], "stride": meta["stride"]},
               "export": {"checks": {k: float(f"{v:.3g}") for k, v in checks.items()}}},
    )


def size_multiple(meta: dict) -> int:
    params = meta.get("params", {})
    if meta["architecture"].startswith("deepercut") and params.get("deconv", True):
        return int(params.get("output_stride", 16))   # x2 transposed conv over the stride-16 grid
    return int(meta["stride"])


def write_entries(out: Path, exported: dict[str, Path], checks: dict[str, float], meta: dict, input_size,
                  name: str) -> dict[str, Path]:
    """exported: format -> file or folder under out. Returns "model" / format -> yaml path."""
    files, variants = {}, {}
    for fmt, path in exported.items():
        if fmt in ("keras", "saved_model"):
            files[fmt] = file_entry(path, out)
        elif fmt.startswith("tflite_"):
            variants[fmt] = ("tflite", file_entry(path, out))
        elif fmt == "tftrt":
            variants[fmt] = ("tftrt", file_entry(path, out))
    tflite = [v for f, v in variants.items() if f.startswith("tflite_")]
    main_files = dict(files)
    if tflite:
        main_files["tflite"] = tflite[0][1]
    if not main_files:
        return {}
    dynamic_default = "saved_model" if "saved_model" in main_files else (
        "keras" if "keras" in main_files else None)
    default = dynamic_default or "tflite"
    fixed = default == "tflite" or bool(meta.get("fixed_input_size"))
    written = {"model": write_spec_file(zoo_entry(
        meta, main_files, name=name, input_size=input_size, fixed=fixed, default_runtime=default,
        checks=checks), out / "model.yaml")}
    for fmt, (kind, entry) in variants.items():
        written[fmt] = write_spec_file(zoo_entry(
            meta, {kind: entry}, name=f"{name}_{fmt}", input_size=input_size,
            fixed=kind == "tflite" or bool(meta.get("fixed_input_size")), default_runtime=kind,
            checks={k: v for k, v in checks.items() if k in ("bn_fold", fmt)}), out / f"model_{fmt}.yaml")
    return written
