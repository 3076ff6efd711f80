"""Keras 3 pose architectures: a name -> builder registry, metadata, and the inference view.

    model = build_model("lightweight_openpose", layout="openpose18", num_refinement_stages=1)
    model(images)                  # dict: stage1_heatmaps, stage1_pafs, stage2_heatmaps, ... (training)
    infer = inference_model(model) # one output [heatmaps (K+1), PAFs] for PafCodec, or
                                   # heatmaps [+ locref] for HeatmapCodec
    model_metadata(model)          # layout, stride, codec {name, options}, input size, params

Every model takes float32 RGB 0..255 NHWC and normalises inside (a Rescaling/Normalization layer), so
exported files carry their preprocessing. See docs/models.md.
"""
from __future__ import annotations

import importlib

import keras

from pose_core.errors import ModelError
from pose_core.models import layers as _layers  # noqa: F401  (registers ResizeToMatch for .keras loading)
from pose_core.models import tfpose_mobilenet_v2 as _tfpose  # noqa: E402,F401  (registers its custom layers)
from pose_core.models.metadata import PoseMetadata, model_metadata

# name -> "module:function"; each function takes (layout=..., **params) and returns a keras.Model.
MODELS = {
    "openpose_cmu": "pose_core.models.openpose:build_cmu",
    "openpose_mobilenet_thin": "pose_core.models.openpose:build_mobilenet_thin",
    "openpose_mobilenet_v2": "pose_core.models.openpose:build_mobilenet_v2",
    "lightweight_openpose": "pose_core.models.lightweight_openpose:build",
    "cpm_mobilenet_v2": "pose_core.models.mobile_single:build_cpm",
    "hourglass_mobilenet_v2": "pose_core.models.mobile_single:build_hourglass",
    "deepercut_resnet50": "pose_core.models.deepercut:build_resnet50",
    "deepercut_resnet101": "pose_core.models.deepercut:build_resnet101",
    "tfpose_mobilenet_v2_small": "pose_core.models.tfpose_mobilenet_v2:build",   # imported weights: docs/import.md
}

__all__ = ["MODELS", "build_model", "inference_model", "describe_outputs", "model_metadata",
           "PoseMetadata", "list_models"]


def list_models() -> list[str]:
    return list(MODELS)


def build_model(name: str, **params) -> keras.Model:
    """Build a training model (dict of every stage's outputs) by registry name."""
    if name not in MODELS:
        raise ModelError(f"unknown architecture {name!r}; known: {', '.join(MODELS)}")
    module, func = MODELS[name].split(":")
    try:
        return getattr(importlib.import_module(module), func)(**params)
    except TypeError as exc:   # unknown/missing parameter -> one readable line
        raise ModelError(f"{name}: {exc}") from None


def describe_outputs(model: keras.Model) -> dict:
    """{output name: channels} of a training model plus what inference_model() returns."""
    meta = model_metadata(model)
    if not meta:
        raise ModelError(f"{model.name}: not built by pose_core.models (no pose_metadata layer)")
    return {"outputs": meta["outputs"], "inference": meta["inference"], "codec": meta["codec"],
            "stride": meta["stride"], "layout": meta["layout"]}


def inference_model(model: keras.Model) -> keras.Model:
    """The model the runtimes/codecs consume: the last stage's heatmaps and PAFs concatenated into ONE
    map (PAF codec), or heatmaps [+ locref] as one or two outputs (heatmap codec). Shares weights."""
    meta = model_metadata(model)
    if not meta:
        raise ModelError(f"{model.name}: not built by pose_core.models (no pose_metadata layer)")
    outs = model.output
    if not isinstance(outs, dict):   # already an inference model (e.g. a reloaded export)
        return model
    spec = meta["inference"]
    tensors = []
    for name in spec["outputs"]:
        t = outs[name]
        act = spec.get("activation", {}).get(name)
        if act:
            t = keras.layers.Activation(act, name=f"{name}_{act}")(t)
        tensors.append(t)
    if spec.get("concat"):
        tensors = [keras.layers.Concatenate(name="heatmaps_pafs")(tensors)]
    # The PoseMetadata layer is shared with the training model, so the metadata travels along.
    return keras.Model(model.input, tensors if len(tensors) > 1 else tensors[0],
                       name=f"{model.name}_inference")
