"""Write an imported model in the zoo format: `model.keras` + `model.yaml` (files relative to the yaml),
so PoseEstimator.from_file(DIR) and the node load it like any zoo model, and `pose export` / `pose train`
(init_weights: DIR/model.keras) can take it further."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from pose_core.errors import ModelError
from pose_core.hashing import sha256_of
from pose_core.zoo import ModelFile, ModelSpec, load_spec_file, write_spec_file

log = logging.getLogger(__name__)


def write_imported_model(training_model, out_dir: str | Path, *, name: str, description: str,
                         input_size: tuple[int, int], resize: str, licence: str, source: str,
                         imported_from: dict) -> Path:
    """Save the inference view of `training_model` and its zoo entry in out_dir. Returns the yaml path.
    Files are written under temporary names and renamed, so a failed import leaves no half-written model."""
    from pose_core.models import inference_model, model_metadata

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create output folder {out_dir}: {exc.strerror}") from None
    infer = inference_model(training_model)
    meta = json.loads(json.dumps(model_metadata(training_model)))   # plain types (Keras tracks dicts)
    keras_path, tmp_keras = out_dir / "model.keras", out_dir / ".model.tmp.keras"
    infer.save(tmp_keras)
    tmp_keras.replace(keras_path)
    spec = ModelSpec(
        name=name, description=description, layout=meta["layout"], codec=meta["codec"],
        input_size=tuple(int(v) for v in input_size), fixed_input_size=False,
        # The model normalises inside (pose_core.models contract): it takes RGB 0..255 as is.
        preprocess={"channel_order": "rgb", "scale": 1.0, "offset": 0.0, "resize": resize,
                    "size_multiple": int(meta["stride"])},
        default_runtime="keras", files={"keras": ModelFile(path=keras_path.name, sha256=sha256_of(keras_path))},
        licence=licence, source=source,
        extra={"architecture": {"name": meta["architecture"], "params": meta["params"]},
               "imported_from": imported_from})
    yaml_path = write_spec_file(spec, out_dir / "model.yaml")
    log.info("wrote %s and %s", keras_path, yaml_path)
    return yaml_path


def write_tflite_entry(model_yaml: str | Path, tflite_path: str | Path, *, input_size: tuple[int, int],
                       quantization: str) -> Path:
    """A zoo entry beside model.yaml for a TFLite file of the same model (fixed input size):
    `<tflite stem>.yaml`, same layout/codec/preprocess, runtime tflite."""
    tflite_path = Path(tflite_path)
    spec = load_spec_file(model_yaml)
    spec = dataclasses.replace(
        spec, name=f"{spec.name}-{quantization}", input_size=tuple(int(v) for v in input_size),
        fixed_input_size=True, default_runtime="tflite",
        files={"tflite": ModelFile(path=tflite_path.name, sha256=sha256_of(tflite_path))},
        extra={**spec.extra, "quantization": quantization})
    return write_spec_file(spec, tflite_path.with_suffix(".yaml"))
