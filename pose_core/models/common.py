"""What every builder does at the end: attach metadata, build the keras.Model, apply init_weights."""
from __future__ import annotations

import keras

from pose_core.errors import ModelError
from pose_core.layouts import KeypointLayout, get_layout
from pose_core.models.init_weights import load_init_weights
from pose_core.models.metadata import METADATA_LAYER


def resolve_layout(layout) -> KeypointLayout:
    if isinstance(layout, KeypointLayout):
        return layout
    try:
        return get_layout(layout)
    except KeyError as exc:
        raise ModelError(str(exc.args[0])) from None


def paf_channels(layout: KeypointLayout) -> int:
    """Number of PAF channels = 2 x limbs; the channel indices must cover 0..2L-1 exactly once."""
    if not layout.paf_limbs:
        raise ModelError(f"layout {layout.name!r} has no PAF limb table (paf_limbs); PAF models need one")
    channels = sorted(c for _, pair in layout.paf_limbs for c in pair)
    if channels != list(range(2 * len(layout.paf_limbs))):
        raise ModelError(f"layout {layout.name!r}: PAF channels are not a permutation of 0..2L-1")
    return len(channels)


def finish_model(architecture: str, inputs, outputs: dict, *, layout: KeypointLayout, stride: int,
                 params: dict, input_size, fixed_input_size: bool, normalisation: dict, codec: dict,
                 inference: dict | None = None, init_weights=None, backbone_prefix: str = "") -> keras.Model:
    """outputs: {name: tensor} in stage order. inference: how inference_model() reduces the outputs:
    {"outputs": [names], "concat": bool, "activation": {name: "sigmoid"}}; default = the last stage's
    heatmaps (+ pafs), concatenated (PAF codec) - see pose_core.models.inference_model."""
    if inference is None:
        last = max(int(k.split("_")[0][5:]) for k in outputs if k.startswith("stage"))
        names = [k for k in (f"stage{last}_heatmaps", f"stage{last}_pafs") if k in outputs]
        inference = {"outputs": names, "concat": len(names) > 1}
    meta = {
        "architecture": architecture,
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "layout": layout.name,
        "stride": stride,
        "codec": codec,
        "input_size": list(input_size) if input_size else None,   # (w, h): recipe / default size
        "fixed_input_size": bool(fixed_input_size),
        "normalisation": normalisation,
        "outputs": {name: int(t.shape[-1]) for name, t in outputs.items()},
        "inference": inference,
    }
    model = keras.Model(inputs, outputs, name=architecture)
    model.get_layer(METADATA_LAYER).metadata = meta
    load_init_weights(model, init_weights, what=f"{architecture} backbone")
    return model
