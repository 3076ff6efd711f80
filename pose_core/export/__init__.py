"""Export a trained pose model (.keras from pose_core.models) for deployment, with a zoo entry beside it.

    result = export_model("run/model.keras", "out/", formats=["saved_model", "tflite_fp32", "tflite_int8"],
                          representative="data/images/")
    PoseEstimator.from_file("out/model.yaml")

What is exported is the INFERENCE view (pose_core.models.inference_model: one heatmaps+PAFs map, or
heatmaps [+ locref]) with every BatchNormalization that directly follows a convolution folded into that
convolution's kernel and bias (fold_batchnorm; outputs are checked equal). Normalisation stays inside the
model, so every file takes float32 RGB 0..255 NHWC.

Formats (files relative to `out`):
  keras           model.keras           folded inference model (dynamic H, W where the net allows)
  saved_model     saved_model/          serving_default signature, input "image", outputs output_0[, _1]
  tflite_fp32     model_fp32.tflite     fixed input size (the recipe's, or `input_size`)
  tflite_fp16     model_fp16.tflite     fp16 weights, fp32 compute/IO
  tflite_dynamic  model_dynamic.tflite  int8 weights, dynamic-range activations
  tflite_int8     model_int8.tflite     full-integer ops calibrated on representative images; float32 IO
  tftrt           tftrt/                TF-TRT FP16 SavedModel - only where TensorRT and a GPU exist;
                                        elsewhere skipped with the reason (not an error)
Zoo entries: `model.yaml` (files: keras, saved_model, tflite = the first tflite format exported) and one
`model_<format>.yaml` per tflite/tftrt format whose `tflite`/`tftrt` file is that variant, so any of them
loads with PoseEstimator.from_file. Each export's outputs are compared with the Keras model's on random
input; the max |difference| as a fraction of the output range is logged and written to the yaml
(`export.checks`).

Modules: model.py (export_model, the driver), batchnorm.py (folding), representative.py (calibration
images), formats.py (one writer per format), tflite_mixed.py (int8 with float layers kept), checks.py
(exported vs Keras), entries.py (the zoo entries, written through pose_core.zoo).
"""
from pose_core.errors import ExportError
from pose_core.export.batchnorm import fold_batchnorm
from pose_core.export.checks import keras_outputs, relative_error, run_tflite
from pose_core.export.entries import zoo_entry
from pose_core.export.formats import TFLITE_FILES, export_saved_model, export_tflite, export_tftrt, tftrt_available
from pose_core.export.model import FORMATS, ExportResult, export_model, load_model
from pose_core.export.representative import IMAGE_SUFFIXES, image_paths, representative_images
from pose_core.export.tflite_mixed import export_tflite_int8_mixed, float_layer_names

__all__ = ["ExportError", "ExportResult", "FORMATS", "IMAGE_SUFFIXES", "TFLITE_FILES", "export_model",
           "export_saved_model", "export_tflite", "export_tflite_int8_mixed", "export_tftrt", "float_layer_names",
           "fold_batchnorm", "image_paths", "keras_outputs", "load_model", "relative_error", "representative_images",
           "run_tflite", "tftrt_available", "zoo_entry"]
