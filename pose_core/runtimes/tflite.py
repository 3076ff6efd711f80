"""TFLite models through the LiteRT interpreter (ai-edge-litert): XNNPACK on the CPU with a thread count,
an optional GPU delegate that falls back to the CPU with a log line."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pose_core.errors import ModelError
from pose_core.runtimes.base import Runtime
from pose_core.runtimes.device import parse_device

log = logging.getLogger("pose_core.device")
GPU_DELEGATE_LIBS = ("libtensorflowlite_gpu_delegate.so", "libtensorflowlite_gpu_gl.so")


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
    except ImportError:  # field installs with only TensorFlow (Jetson): its bundled interpreter
        import tensorflow as tf
        Interpreter, load_delegate = tf.lite.Interpreter, tf.lite.experimental.load_delegate
    return Interpreter, load_delegate


class TFLiteRuntime(Runtime):
    kind = "tflite"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None):
        Interpreter, load_delegate = _interpreter_class()
        threads = threads or min(4, os.cpu_count() or 1)
        delegates, self.device = [], f"cpu (XNNPACK, {threads} threads)"
        if parse_device(device)[0] in ("gpu", "auto"):
            for lib in GPU_DELEGATE_LIBS:
                try:
                    delegates = [load_delegate(lib)]
                    self.device = f"gpu (TFLite delegate {lib})"
                    break
                except (ValueError, OSError):
                    continue
            else:
                if parse_device(device)[0] == "gpu":
                    log.warning("TFLite GPU delegate not available; falling back to CPU (XNNPACK, %d threads)",
                                threads)
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=threads,
                                       experimental_delegates=delegates or None)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path} is not a loadable TFLite model: {exc}") from None
        self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()
        self.input_dtype = np.dtype(self._input["dtype"])
        _, h, w, _ = self._input["shape"]
        dynamic = (self._input.get("shape_signature") is not None
                   and (np.asarray(self._input["shape_signature"])[1:3] < 0).any())
        self.fixed_input_size = None if dynamic else (int(w), int(h))

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        if tuple(self._input["shape"]) != batch.shape:
            self._resize(batch.shape)
        self._interp.set_tensor(self._input["index"], _quantize(batch, self._input))
        self._interp.invoke()
        return [_dequantize(self._interp.get_tensor(o["index"]), o) for o in self._outputs]


    def _resize(self, shape: tuple[int, ...]) -> None:
        old = tuple(self._input["shape"])
        try:
            self._interp.resize_tensor_input(self._input["index"], shape)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            # Some graphs fix their batch inside (MoveNet unpacks exactly one image): restore the old
            # shape so the interpreter stays usable, and say so.
            self._interp.resize_tensor_input(self._input["index"], old)
            self._interp.allocate_tensors()
            if shape[0] != old[0]:
                self.batched = False
            raise ModelError(f"TFLite model does not take input shape {tuple(shape)}: "
                             f"{str(exc).splitlines()[0]}") from None
        self._input = self._interp.get_input_details()[0]
        self._outputs = self._interp.get_output_details()


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer) and scale and not np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if np.issubdtype(x.dtype, np.integer) and scale:
        return (x.astype(np.float32) - zero) * scale
    return x.copy()
