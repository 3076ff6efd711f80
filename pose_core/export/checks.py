"""Checks of an exported file against the Keras model it came from."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_core.errors import ExportError


def run_tflite(path: Path, x: np.ndarray) -> list[np.ndarray]:
    from pose_core.runtimes.tflite import TFLiteRuntime
    return TFLiteRuntime(path, threads=2)(x)


def keras_outputs(model, x) -> list[np.ndarray]:
    out = model(x, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def relative_error(reference: list[np.ndarray], got: list[np.ndarray]) -> float:
    """max |got - reference| / (max - min of reference), worst output: comparable across models
    whose output magnitudes differ (a random-init net's maps span ~10, a trained one's ~1)."""
    if len(reference) != len(got) or any(x.shape != y.shape for x, y in zip(reference, got)):
        raise ExportError(f"exported outputs {[y.shape for y in got]} differ in shape from Keras "
                          f"{[x.shape for x in reference]}")
    return float(max(np.max(np.abs(x - y)) / max(float(np.ptp(x)), 1e-12)
                     for x, y in zip(reference, got)))
