"""Initial weights from a file, matched by LAYER NAME where every variable's shape matches.

Backbone weights cannot be downloaded on the training machines, so builders take `init_weights=PATH`:
  - `.keras`        a saved Keras model (any architecture; only same-named, same-shaped layers are used)
  - `.weights.h5`   Keras 3 weights file. Keras stores these by layer POSITION (groups named after the
                    layer class, not the layer name), so they load into the same architecture only;
                    variables with mismatched shapes are skipped (Keras' skip_mismatch)
  - `.npz`          arrays keyed `<layer name>/<i>` (variable index in layer.weights order) or
                    `<layer name>/<variable name>` (kernel, bias, gamma, beta, moving_mean, ...)
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError

log = logging.getLogger(__name__)


def _short(var_path: str) -> str:
    return var_path.rsplit("/", 1)[-1].split(":")[0]


def _from_keras(path: Path) -> dict[str, list[np.ndarray]]:
    import keras

    import pose_core.models  # noqa: F401  (registers the custom layers)
    src = keras.saving.load_model(path, compile=False)
    out = {}
    for layer in _all_layers(src):
        if layer.weights:
            out[layer.name] = [w.numpy() for w in layer.weights]
    return out


def _from_npz(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with np.load(path) as data:
        for key in data.files:
            layer, _, var = key.rpartition("/")
            if not layer:
                raise CheckpointError(f"{path}: npz key {key!r} is not '<layer>/<variable>'")
            out.setdefault(layer, {})[var] = data[key]
    return out


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers and layer is not model:
            yield from _all_layers(layer)
        else:
            yield layer


def load_init_weights(model, path: str | os.PathLike | None, *, what: str = "backbone") -> dict:
    """Copy same-named, same-shaped layer weights from `path` into `model`. Returns
    {"loaded": [...], "skipped": [...]} (layer names). None -> logs that training starts from random init."""
    if not path:
        log.warning("no init_weights: %s starts from random init", what)
        return {"loaded": [], "skipped": []}
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"init_weights file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith(".keras"):
            source = _from_keras(path)
        elif name.endswith(".h5"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # Keras warns per skipped variable
                model.load_weights(path, skip_mismatch=True)
            log.info("init_weights %s: loaded by position into %s (shape-mismatched variables skipped)",
                     path, model.name)
            return {"loaded": [layer.name for layer in _all_layers(model) if layer.weights],
                    "skipped": []}
        elif name.endswith(".npz"):
            source = _from_npz(path)
        else:
            raise CheckpointError(f"{path}: init_weights must be .keras, .weights.h5 or .npz")
    except CheckpointError:
        raise
    except Exception as exc:   # corrupt/unreadable file -> one typed line
        raise CheckpointError(f"{path}: cannot read init_weights ({type(exc).__name__}: {exc})") from exc
    loaded, skipped = [], []
    for layer in _all_layers(model):
        if not layer.weights or layer.name not in source:
            continue
        src = source[layer.name]
        if isinstance(src, dict):   # npz: by index or by variable name
            values = [src.get(str(i), src.get(_short(w.path))) for i, w in enumerate(layer.weights)]
        else:
            values = list(src)
        if len(values) == len(layer.weights) and all(
                v is not None and tuple(v.shape) == tuple(w.shape) for v, w in zip(values, layer.weights)):
            for v, w in zip(values, layer.weights):
                w.assign(np.asarray(v, dtype=w.dtype))
            loaded.append(layer.name)
        else:
            skipped.append(layer.name)
    if not loaded:
        raise CheckpointError(f"{path}: no layer of {model.name} matched by name and shape")
    log.info("init_weights %s: loaded %d layers, skipped %d with mismatched shapes%s", path, len(loaded),
             len(skipped), f" ({', '.join(skipped[:5])}...)" if skipped else "")
    return {"loaded": loaded, "skipped": skipped}
