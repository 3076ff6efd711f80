"""OpenVINO IR files (.xml + .bin beside it) run without OpenVINO: the IR is imported into our Keras
Lightweight OpenPose in memory (pose_core.convert.openvino_ir) and served like a `.keras` file - a TF
function with a dynamic input size, on the requested device with the keras runtime's fallback."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError, ModelError
from pose_core.runtimes.device import describe_tf_device, tf_device
from pose_core.runtimes.keras_model import KerasRuntime

log = logging.getLogger("pose_core.device")


class OpenVinoIRRuntime(KerasRuntime):
    kind = "openvino_ir"

    def __init__(self, path: Path, device: str = "cpu"):   # no super().__init__: it loads .keras files
        import tensorflow as tf

        from pose_core.convert.openvino_ir import convert_openvino_ir
        from pose_core.models import inference_model

        self._tf_device = tf_device(device)
        self.device = describe_tf_device(self._tf_device)
        start = time.perf_counter()
        try:
            with tf.device(self._tf_device):
                imported = convert_openvino_ir(path)
                self.model = inference_model(imported.model)
        except CheckpointError as exc:
            raise ModelError(str(exc)) from None
        log.info("%s: imported into Keras in %.1f s", Path(path).name, time.perf_counter() - start)
        self._fn = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        self.input_dtype = np.dtype(np.float32)
