"""Lightweight OpenPose (Osokin, arXiv 1811.12004): MobileNetV1 to stride 8 (last block dilated), CPM
block, an initial stage (3x3 trunk + 1x1 heatmap / PAF heads) and N refinement stages made of residual
blocks (1x1 then 3x3 and 3x3 dilated 2 - a 7x7 receptive field per block).

Layer names mirror the published PyTorch model's state_dict: the Keras layer holding the tensors
`<prefix>.weight` / `.bias` / `.running_mean` ... is named `<prefix>` (dots kept), e.g. `model.7.0`
(depthwise conv of MobileNet block 7), `cpm.trunk.1.2`, `refinement_stages.0.trunk.3.trunk.1.1` (a BN).
`torch_key_map(model)` lists every state_dict key with its Keras layer, variable and tensor transform.
Padding is symmetric (PyTorch's) and BN epsilon 1e-5, so imported weights reproduce the original outputs.

Outputs (training model, dict): stage1_heatmaps, stage1_pafs (initial stage), stage2_... (refinement).
Heatmaps: layout.num_keypoints + background. PAFs: 2 channels per limb at the channel indices of
layout.paf_limbs; for openpose18 that table equals the published model's inference table
(BODY_PARTS_KPT_IDS / BODY_PARTS_PAF_IDS), i.e. tf-pose's CocoPairs / CocoPairsNetwork.
The published weights expect BGR input: a converter flips the input-channel axis of `model.0.0`.
"""
from __future__ import annotations

import numpy as np
from keras import layers

from pose_core.models import layers as L
from pose_core.models.common import finish_model, paf_channels, resolve_layout

_EPS = 1e-5          # PyTorch BatchNorm2d default
_PAD = "symmetric"   # PyTorch padding=k//2


def _conv(x, filters, kernel, name, *, dilation=1, strides=1, bn=False, bias=True, act="relu"):
    """PyTorch `conv()` helper: Sequential(Conv2d, [BatchNorm2d], [ReLU]) -> name.0, name.1."""
    return L.conv(x, filters, kernel, strides, dilation, name=f"{name}.0", use_bias=bias, bn=bn,
                  bn_name=f"{name}.1", activation=act, act_name=f"{name}.act", padding=_PAD,
                  bn_epsilon=_EPS)


def _conv_dw(x, filters, name, *, strides=1, dilation=1):
    """PyTorch `conv_dw()`: dw3x3(no bias)+BN+ReLU, pw1x1(no bias)+BN+ReLU -> name.0/.1/.3/.4."""
    x = L.depthwise(x, 3, strides, dilation, name=f"{name}.0", bn=True, bn_name=f"{name}.1",
                    act_name=f"{name}.2", padding=_PAD, bn_epsilon=_EPS)
    return L.conv(x, filters, 1, name=f"{name}.3", use_bias=False, bn=True, bn_name=f"{name}.4",
                  act_name=f"{name}.5", bn_epsilon=_EPS)


def _heads(x, trunk_channels, mid_channels, num_heatmaps, num_pafs, name):
    outs = []
    for head, n in (("heatmaps", num_heatmaps), ("pafs", num_pafs)):
        y = _conv(x, mid_channels, 1, f"{name}.{head}.0")
        outs.append(_conv(y, n, 1, f"{name}.{head}.1", act=None))
    return outs


def backbone(x, alpha: float = 1.0):
    """MobileNetV1 to stride 8 (conv4_2 ... conv5_5 at stride 8, block 7 dilated 2). Returns features."""
    c = lambda n: L.width(n, alpha)   # noqa: E731
    x = _conv(x, c(32), 3, "model.0", strides=2, bn=True, bias=False)
    plan = [(64, 1, 1), (128, 2, 1), (128, 1, 1), (256, 2, 1), (256, 1, 1), (512, 1, 1), (512, 1, 2),
            (512, 1, 1), (512, 1, 1), (512, 1, 1), (512, 1, 1)]
    for i, (ch, s, d) in enumerate(plan, start=1):
        x = _conv_dw(x, c(ch), f"model.{i}", strides=s, dilation=d)
    return x


def _cpm_trunk(x, num_channels, cpm):
    """CPM residual branch. "pytorch": 3 x (dw, pw) without biases. "icv": Intel's Caffe model
    (Open Model Zoo human-pose-estimation-0001) puts a 1x1 `cpm.reduce` (+ELU) first and gives the
    pointwise convs biases."""
    if cpm == "icv":
        x = L.conv(x, num_channels, 1, name="cpm.reduce.0", activation="elu", act_name="cpm.reduce.1")
    for j in range(3):
        name = f"cpm.trunk.{j}"
        x = L.depthwise(x, 3, name=f"{name}.0", bn=False, activation="elu", act_name=f"{name}.1",
                        padding=_PAD)
        x = L.conv(x, num_channels, 1, name=f"{name}.2", use_bias=cpm == "icv", activation="elu",
                   act_name=f"{name}.3")
    return x


CPM_VARIANTS = ("pytorch", "icv")


def build(layout="openpose18", *, num_refinement_stages: int = 1, num_channels: int = 128,
          alpha: float = 1.0, input_size=(368, 368), fixed_input_size: bool = False,
          init_weights=None, cpm: str = "pytorch"):
    """Lightweight OpenPose. alpha: MobileNet width multiplier; num_channels: CPM/stage width
    (128 published); num_refinement_stages: 1 published (the paper also evaluates up to 5).
    cpm: "pytorch" (the published PyTorch model) or "icv" (Intel's Caffe twin, ELU after cpm.align,
    see _cpm_trunk)."""
    if cpm not in CPM_VARIANTS:
        raise ValueError(f"cpm must be one of {CPM_VARIANTS}, not {cpm!r}")
    layout = resolve_layout(layout)
    num_heatmaps, num_pafs = layout.num_keypoints + 1, paf_channels(layout)
    params = dict(layout=layout.name, num_refinement_stages=num_refinement_stages,
                  num_channels=num_channels, alpha=alpha)
    if cpm != "pytorch":   # only when set: existing models' metadata stays as it was
        params["cpm"] = cpm
    norm = {"scale": 1 / 256, "offset": -128 / 256}   # (x - 128) / 256, as published
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, norm)
    features = backbone(x, alpha)

    # CPM: align 1x1, 3 x (dw+pw, ELU) residual trunk, 3x3 conv.
    aligned = _conv(features, num_channels, 1, "cpm.align", act="elu" if cpm == "icv" else "relu")
    x = layers.Add(name="cpm.residual")([aligned, _cpm_trunk(aligned, num_channels, cpm)])
    features = _conv(x, num_channels, 3, "cpm.conv")

    outputs = {}
    t = features
    for j in range(3):
        t = _conv(t, num_channels, 3, f"initial_stage.trunk.{j}")
    heat, paf = _heads(t, num_channels, 512, num_heatmaps, num_pafs, "initial_stage")
    outputs["stage1_heatmaps"], outputs["stage1_pafs"] = heat, paf

    for s in range(num_refinement_stages):
        name = f"refinement_stages.{s}"
        t = layers.Concatenate(name=f"{name}.input")([features, heat, paf])
        for j in range(5):
            block = f"{name}.trunk.{j}"
            init = _conv(t, num_channels, 1, f"{block}.initial")
            y = _conv(init, num_channels, 3, f"{block}.trunk.0", bn=True)
            y = _conv(y, num_channels, 3, f"{block}.trunk.1", dilation=2, bn=True)
            t = layers.Add(name=f"{block}.residual")([init, y])
        heat, paf = _heads(t, num_channels, num_channels, num_heatmaps, num_pafs, name)
        outputs[f"stage{s + 2}_heatmaps"], outputs[f"stage{s + 2}_pafs"] = heat, paf

    return finish_model(
        "lightweight_openpose", inputs, outputs, layout=layout, stride=8, params=params,
        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=norm,
        codec={"name": "paf", "stride": 8, "heatmap_channels": num_heatmaps, "paf_offset": num_heatmaps},
        init_weights=init_weights, backbone_prefix="model.")


# ---- PyTorch state_dict <-> Keras mapping --------------------------------------------------------

# How a PyTorch tensor becomes the Keras variable: conv OIHW -> HWIO; depthwise (C,1,kh,kw) -> (kh,kw,C,1).
TRANSFORMS = {
    "conv": lambda w: np.transpose(w, (2, 3, 1, 0)),
    "depthwise": lambda w: np.transpose(w, (2, 3, 0, 1)),
    "identity": lambda w: w,
}
_BN_VARS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
            "running_var": "moving_variance"}


def torch_key_map(model) -> dict[str, tuple[str, str, str]]:
    """{state_dict key: (keras layer name, keras variable name, transform name in TRANSFORMS)} for every
    tensor of `model` (a lightweight_openpose build). BN's `num_batches_tracked` has no Keras twin and is
    absent. The published checkpoint wraps this under "state_dict" with no "module." prefix expected."""
    out = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "DepthwiseConv2D":
            out[f"{layer.name}.weight"] = (layer.name, "kernel", "depthwise")
        elif kind == "Conv2D":
            out[f"{layer.name}.weight"] = (layer.name, "kernel", "conv")
            if layer.use_bias:
                out[f"{layer.name}.bias"] = (layer.name, "bias", "identity")
        elif kind == "BatchNormalization":
            for t, k in _BN_VARS.items():
                out[f"{layer.name}.{t}"] = (layer.name, k, "identity")
    return out
