"""Frozen TF1 GraphDef (.pb) imported into a TF2 function (no tf.compat.v1 sessions)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_core.errors import ModelError
from pose_core.runtimes.base import Runtime
from pose_core.runtimes.device import describe_tf_device, tf_device


def load_graph_def(path: Path):
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(path).read_bytes())
    except (DecodeError, OSError, RuntimeWarning) as exc:
        raise ModelError(f"{path} is not a readable TensorFlow GraphDef: {exc}") from None
    if not graph_def.node:
        raise ModelError(f"{path} holds an empty graph")
    return graph_def


class FrozenGraphRuntime(Runtime):
    kind = "frozen_graph"

    def __init__(self, path: Path, inputs: list[str], outputs: list[str], device: str = "cpu"):
        import tensorflow as tf

        graph_def = load_graph_def(path)
        wrapped = tf.compat.v1.wrap_function(
            lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        graph = wrapped.graph
        try:
            feeds = [graph.get_tensor_by_name(_tensor_name(n)) for n in inputs]
            fetches = [graph.get_tensor_by_name(_tensor_name(n)) for n in outputs]
        except KeyError as exc:
            raise ModelError(f"{path}: {exc}") from None
        self._fn = wrapped.prune(feeds=feeds, fetches=fetches)
        self._tf_device = tf_device(device)
        self.device = describe_tf_device(self._tf_device)
        self.input_dtype = np.dtype(feeds[0].dtype.as_numpy_dtype)
        shape = feeds[0].shape
        if shape.rank == 4 and shape[1] is not None and shape[2] is not None:
            self.fixed_input_size = (int(shape[2]), int(shape[1]))

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        with tf.device(self._tf_device):
            out = self._fn(tf.constant(batch, dtype=self.input_dtype))
        return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"
