"""Runtime factory: (runtime kind, model file) -> a loaded Runtime. TF-TRT plugs in here as one more kind."""
from __future__ import annotations

import logging
from pathlib import Path

from pose_core.errors import ModelError
from pose_core.runtimes.base import Runtime

log = logging.getLogger("pose_core.device")
RUNTIME_KINDS = ("frozen_graph", "tflite", "keras", "saved_model", "tfjs", "tftrt", "openvino_ir")


def load_runtime(kind: str, path: Path, *, inputs=(), outputs=(), device: str = "cpu",
                 threads: int | None = None) -> Runtime:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} does not exist")
    try:
        return _load(kind, path, inputs, outputs, device, threads)
    except ModuleNotFoundError as e:
        if e.name != "tensorflow":
            raise
        # A serving install (pip install .[serve]) has no TensorFlow on purpose: say what to do instead.
        raise ModelError(f"{path.name}: the {kind} runtime needs TensorFlow, which is not installed (a serving "
                         f"install): use a TFLite model, or convert this one on a machine with pose_ros[train] "
                         f"(pose models fetch NAME --convert) and copy its converted-model cache "
                         f"($POSE_CACHE_DIR) here") from None


def _load(kind: str, path: Path, inputs, outputs, device: str, threads: int | None) -> Runtime:
    if kind == "frozen_graph":
        from pose_core.runtimes.frozen_graph import FrozenGraphRuntime
        return FrozenGraphRuntime(path, list(inputs), list(outputs), device=device)
    if kind == "tflite":
        from pose_core.runtimes.tflite import TFLiteRuntime
        return TFLiteRuntime(path, device=device, threads=threads)
    if kind == "keras":
        from pose_core.runtimes.keras_model import KerasRuntime
        return KerasRuntime(path, device=device)
    if kind == "saved_model":
        from pose_core.runtimes.keras_model import SavedModelRuntime
        return SavedModelRuntime(path, device=device)
    if kind == "tfjs":
        from pose_core.runtimes.tfjs import TFJSRuntime
        return TFJSRuntime(path, device=device)
    if kind == "tftrt":
        # A TF-TRT converted SavedModel is a SavedModel whose engines need TensorRT at run time.
        from pose_core.runtimes.keras_model import SavedModelRuntime
        return SavedModelRuntime(path, device=device)
    if kind == "openvino_ir":   # Lightweight OpenPose IR imported into Keras in memory (no openvino)
        from pose_core.runtimes.openvino_ir import OpenVinoIRRuntime
        return OpenVinoIRRuntime(path, device=device)
    raise ModelError(f"unknown runtime {kind!r}; known: {', '.join(RUNTIME_KINDS)}")
