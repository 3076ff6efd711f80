"""The deployment formats of one model: SavedModel, TFLite (fp32 / fp16 / dynamic-range / int8) and TF-TRT.
Each takes the folded inference model (float32 RGB 0..255 NHWC in) and writes one file or folder."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pose_core.errors import ExportError
from pose_core.export.representative import representative_images
from pose_core.export.tflite_mixed import export_tflite_int8_mixed, float_layer_names

log = logging.getLogger(__name__)

TFLITE_FILES = {"tflite_fp32": "model_fp32.tflite", "tflite_fp16": "model_fp16.tflite",
                "tflite_dynamic": "model_dynamic.tflite", "tflite_int8": "model_int8.tflite"}


def concrete_function(model, input_size):
    import tensorflow as tf
    # Fixed-size models keep their size even where the caller leaves it open.
    w, h = input_size if input_size else (model.input.shape[2], model.input.shape[1])

    @tf.function(input_signature=[tf.TensorSpec((1 if input_size else None, h, w, 3), tf.float32,
                                                name="image")])
    def serve(image):
        out = model(image, training=False)
        return out if isinstance(out, (list, tuple)) else [out]
    return serve


def export_saved_model(model, path: Path) -> Path:
    """SavedModel with a `serving_default` signature: input `image` (N, H, W, 3) float32, outputs
    output_0[, output_1] (sorted names = the codec's output order)."""
    import tensorflow as tf
    fn = concrete_function(model, None)

    @tf.function(input_signature=fn.input_signature)
    def serving_default(image):
        return {f"output_{i}": t for i, t in enumerate(fn(image))}

    module = tf.Module()
    module.model = model
    module.serve = serving_default
    if path.exists():
        shutil.rmtree(path)
    tf.saved_model.save(module, str(path), signatures={"serving_default": serving_default})
    return path


def export_tflite(model, path: Path, mode: str, input_size, representative=None, calibration: int = 100):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if mode == "int8" and representative is not None and float_layer_names(model):
        # Per-image normalisation (imported tf-pose) cannot be one int8 scale: keep those ops float.
        log.info("tflite_int8: keeping %d per-image normalisation layers in float",
                 len(float_layer_names(model)))
        return export_tflite_int8_mixed(model, path, representative, input_size, calibration)
    # Frozen (weights as constants): the int8 calibrator cannot read resource variables.
    frozen = convert_variables_to_constants_v2(concrete_function(model, input_size).get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if representative is None:
            raise ExportError("tflite_int8 needs representative images (--representative DIR|COCO.json)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_images(representative, input_size, calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path.write_bytes(converter.convert())
    return path


def tftrt_available() -> tuple[bool, str]:
    """(True, "") where TF-TRT can run, else (False, why)."""
    import tensorflow as tf
    try:
        from tensorflow.python.compiler.tensorrt import trt_convert as trt
    except ImportError as exc:
        return False, f"TF-TRT is not in this TensorFlow build ({exc})"
    if not tf.config.list_physical_devices("GPU"):
        return False, "no GPU visible to TensorFlow"
    try:
        enabled = trt.is_tensorrt_enabled() if hasattr(trt, "is_tensorrt_enabled") else True
    except Exception as exc:   # missing libnvinfer surfaces as various errors
        return False, f"TensorRT libraries not loadable ({exc})"
    return (True, "") if enabled else (False, "this TensorFlow was built without TensorRT")


def export_tftrt(saved_model_dir: Path, path: Path) -> Path:
    from tensorflow.python.compiler.tensorrt import trt_convert as trt
    converter = trt.TrtGraphConverterV2(input_saved_model_dir=str(saved_model_dir),
                                        precision_mode=trt.TrtPrecisionMode.FP16)
    converter.convert()
    converter.save(str(path))
    return path
