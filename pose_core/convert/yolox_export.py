"""YOLOX ONNX -> detector model folder: TFLite files + model.yaml (`task: detector`), loadable by
pose_core.detectors.load_detector(DIR).

    yaml_path = import_yolox("yolox_nano.onnx", "out/yolox", formats=("tflite_fp32", "tflite_int8"),
                             representative="photos/")

The TFLite files come from the exporters every model uses: fp32 from pose_core.export.export_tflite, int8
from its mixed path (pose_core.export.tflite_mixed): int8 weights and activations except the first two
stages, kept float32 (pose_core.models.yolox.INT8_FLOAT_PREFIXES says why), float32 input/output,
calibrated on real photos letterboxed exactly as at inference (pose_core.preprocess.Preprocessor with the
zoo's preprocess). Each
file is checked against the Keras model on the first image: the mean and largest |difference| of the box
terms and of the scores go into its yaml (`export.checks`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from pose_core.errors import ModelError
from pose_core.hashing import sha256_of
from pose_core.zoo import ModelFile, ModelSpec, get_spec, write_spec_file

log = logging.getLogger(__name__)

FORMATS = ("tflite_fp32", "tflite_int8")
FILES = {"tflite_fp32": "model_fp32.tflite", "tflite_int8": "model_int8.tflite"}
INPUT_SIZE = (416, 416)
# The zoo's yolox/nano input facts (pose_core/zoo/detectors.yaml), NHWC because our model is.
PREPROCESS = {"channel_order": "bgr", "resize": "letterbox", "anchor": "top_left", "pad_value": 114,
              "tensor_layout": "nhwc"}
SOURCE = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"


def preprocessor(input_size: tuple[int, int] = INPUT_SIZE):
    from pose_core.preprocess import Preprocessor
    return Preprocessor.from_spec(PREPROCESS, input_size, np.float32)


def image_paths(source) -> list[Path]:
    """Images of a representative source: a folder, COCO .json, .txt list or one image; or a list of paths."""
    from pose_core.export import ExportError
    from pose_core.export import image_paths as source_images
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        paths = source_images(Path(source))
    if not paths:
        raise ExportError(f"representative data {source}: no images found")
    return paths


def calibration_batches(paths: Iterable[Path], input_size: tuple[int, int] = INPUT_SIZE) -> Callable:
    """A callable yielding (1, h, w, 3) float32 BGR tensors letterboxed as at inference (what
    pose_core.export.representative_images takes; at the model's size its own letterbox is a no-op)."""
    from pose_core.export.representative import read_images

    pre, paths = preprocessor(input_size), list(paths)

    def batches():
        for bgr in read_images(paths):
            yield pre(bgr)[0][None]
    return batches


def output_difference(reference: np.ndarray, got: np.ndarray) -> dict:
    """Mean and max |difference| of the box terms (grid units / log-sizes) and of the sigmoid scores, over
    every cell (int8: the max comes from a few background cells; the mean is the typical error)."""
    d = np.abs(np.asarray(reference, np.float64) - np.asarray(got, np.float64))
    box, score = d[..., :4], d[..., 4:]
    return {"box_mean_abs": float(box.mean()), "box_max_abs": float(box.max()),
            "score_mean_abs": float(score.mean()), "score_max_abs": float(score.max())}


def export_yolox(model, out_dir: str | Path, formats: Iterable[str] = FORMATS, *, representative=None,
                 calibration: int = 100) -> dict[str, tuple[Path, dict]]:
    """{format: (file, checks)} for each TFLite format of the Keras YOLOX `model` (fixed input size)."""
    from pose_core.export import ExportError, export_tflite, export_tflite_int8_mixed, run_tflite
    from pose_core.models.yolox import int8_float_layers

    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    input_size = (int(model.input.shape[2]), int(model.input.shape[1]))
    paths = image_paths(representative) if representative is not None else []
    if "tflite_int8" in formats and not paths:
        raise ExportError("tflite_int8 needs representative images (--representative DIR)")
    batches = calibration_batches(paths[:calibration], input_size) if paths else None
    x = next(iter(batches()), None) if batches else None
    if x is None:
        x = np.random.default_rng(0).uniform(0, 255, (1, input_size[1], input_size[0], 3)).astype(np.float32)
    reference = np.asarray(model(x, training=False))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for fmt in formats:
        path, tmp = out / FILES[fmt], out / f".{FILES[fmt]}.part"
        try:
            if fmt == "tflite_int8":   # int8 except the first stages (pose_core.models.yolox.INT8_FLOAT_PREFIXES)
                export_tflite_int8_mixed(model, tmp, batches, input_size, calibration,
                                         float_layers=int8_float_layers(model))
            else:
                export_tflite(model, tmp, fmt.split("_", 1)[1], input_size, batches, calibration)
        except Exception as exc:   # converter failures: name the format, keep the cause
            tmp.unlink(missing_ok=True)
            raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from exc
        os.replace(tmp, path)
        checks = output_difference(reference, run_tflite(path, x)[0])
        log.info("exported %s -> %s (vs Keras, mean / max |diff|: box terms %.2g / %.2g, scores %.2g / %.2g)",
                 fmt, path, checks["box_mean_abs"], checks["box_max_abs"], checks["score_mean_abs"],
                 checks["score_max_abs"])
        done[fmt] = (path, checks)
    return done


def detector_entry(name: str, description: str, tflite: Path, checks: dict, *, input_size, source_sha256: str,
                   quantization: str) -> ModelSpec:
    codec = dict(get_spec("yolox/nano", task="detector").codec)    # decoding facts: the zoo entry is their home
    return ModelSpec(
        name=name, task="detector", layout="", description=description, codec=codec,
        input_size=tuple(int(v) for v in input_size), fixed_input_size=True, preprocess=dict(PREPROCESS),
        default_runtime="tflite", files={"tflite": ModelFile(path=tflite.name, sha256=sha256_of(tflite))},
        licence="Apache-2.0 (YOLOX, Megvii)", source=SOURCE,
        extra={"quantization": quantization,
               "imported_from": {"sha256": source_sha256, "converter": "pose import yolox"},
               "export": {"checks": {k: float(f"{v:.3g}") for k, v in checks.items()}}})


def import_yolox(onnx_path: str | Path, out_dir: str | Path, formats: Iterable[str] = ("tflite_fp32",), *,
                 representative=None, calibration: int = 100, name: str | None = None) -> Path:
    """ONNX -> out_dir/model_<fmt>.tflite + model_<fmt>.yaml each, and model.yaml = the first format's.
    Returns model.yaml's path."""
    from pose_core.convert.yolox_onnx import convert_yolox_onnx

    onnx_path = Path(onnx_path)
    model = convert_yolox_onnx(onnx_path)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create output folder {out}: {exc.strerror}") from None
    exported = export_yolox(model, out, formats, representative=representative, calibration=calibration)
    input_size = (int(model.input.shape[2]), int(model.input.shape[1]))
    source_sha = sha256_of(onnx_path)
    base = name or "yolox/nano-imported"
    first = None
    for fmt, (path, checks) in exported.items():
        quant = fmt.split("_", 1)[1]
        what = "int8 (stem and stride-4 stage float32)" if quant == "int8" else quant
        entry = detector_entry(f"{base}-{quant}", f"YOLOX-nano person detector imported from {onnx_path.name}, "
                               f"TFLite {what}", path, checks, input_size=input_size,
                               source_sha256=source_sha, quantization=quant)
        write_spec_file(entry, out / f"model_{fmt}.yaml")
        if first is None:
            first = dataclasses.replace(entry, name=base)
    return write_spec_file(first, out / "model.yaml")


def build_tflite(onnx_path: str | Path, fmt: str, representative, out_path: str | Path) -> dict:
    """The zoo build step (pose_core.detectors.build): one TFLite file of the ONNX at out_path; returns
    its checks against the Keras model."""
    from pose_core.convert.yolox_onnx import convert_yolox_onnx

    model = convert_yolox_onnx(onnx_path)
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="yolox_export_") as tmp:
        (path, checks), = export_yolox(model, tmp, [fmt], representative=representative).values()
        shutil.move(str(path), str(out_path))
    return checks
