"""The one interface every model runtime implements: a batch of input tensors in, raw output maps out."""
from __future__ import annotations

import abc

import numpy as np


class Runtime(abc.ABC):
    """A loaded network. Subclasses: frozen TF1 graph, TFLite (LiteRT), Keras/SavedModel, TF.js, TF-TRT."""

    #: short runtime name ("frozen_graph", "tflite", "keras", "saved_model", "tfjs", "tftrt")
    kind: str = ""
    #: what actually executes, e.g. "cpu", "gpu:0", "cpu (XNNPACK, 2 threads)"
    device: str = "cpu"
    #: dtype the network expects (float32 or int32/uint8 for quantised or MoveNet models)
    input_dtype: np.dtype = np.dtype(np.float32)
    #: (width, height) if the network only accepts one size, else None (any size)
    fixed_input_size: tuple[int, int] | None = None
    #: False when the graph itself is built for batch 1 (MoveNet unpacks its batch axis): a batch is then
    #: run image by image inside __call__
    batched: bool = True

    @abc.abstractmethod
    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """batch: (N, H, W, C) already preprocessed. Returns the outputs as numpy arrays, in the
        order the model's codec expects."""

    def describe(self) -> str:
        return f"{self.kind} on {self.device}"
