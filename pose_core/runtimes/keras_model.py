"""Keras 3 `.keras` files and TF SavedModels (serving signature), run as TF functions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_core.errors import ModelError
from pose_core.runtimes.base import Runtime
from pose_core.runtimes.device import describe_tf_device, tf_device


class KerasRuntime(Runtime):
    kind = "keras"

    def __init__(self, path: Path, device: str = "cpu"):
        import keras
        import tensorflow as tf

        import pose_core.models  # noqa: F401  (registers the custom layers our architectures use)

        self._tf_device = tf_device(device)
        self.device = describe_tf_device(self._tf_device)
        try:
            with tf.device(self._tf_device):
                self.model = keras.saving.load_model(str(path), compile=False)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{path} is not a loadable Keras model: {exc}") from None
        # reduce_retracing: the node and CLI feed several input sizes; keep one generic trace.
        self._fn = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        self.input_dtype = np.dtype(self.model.inputs[0].dtype)
        shape = self.model.inputs[0].shape
        if shape[1] is not None and shape[2] is not None:
            self.fixed_input_size = (int(shape[2]), int(shape[1]))

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        with tf.device(self._tf_device):
            out = self._fn(tf.constant(batch, dtype=self.input_dtype))
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


class SavedModelRuntime(Runtime):
    kind = "saved_model"

    def __init__(self, path: Path, device: str = "cpu", signature: str = "serving_default"):
        import tensorflow as tf

        self._tf_device = tf_device(device)
        self.device = describe_tf_device(self._tf_device)
        try:
            with tf.device(self._tf_device):
                self._loaded = tf.saved_model.load(str(path))
            self._fn = self._loaded.signatures[signature]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path} is not a loadable SavedModel with signature {signature!r}: "
                             f"{exc}") from None
        spec = next(iter(self._fn.structured_input_signature[1].values()))
        self._input_name = next(iter(self._fn.structured_input_signature[1]))
        self.input_dtype = np.dtype(spec.dtype.as_numpy_dtype)
        if spec.shape.rank == 4 and spec.shape[1] is not None and spec.shape[2] is not None:
            self.fixed_input_size = (int(spec.shape[2]), int(spec.shape[1]))

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        with tf.device(self._tf_device):
            out = self._fn(**{self._input_name: tf.constant(batch, dtype=self.input_dtype)})
        return [out[k].numpy() for k in sorted(out)]
