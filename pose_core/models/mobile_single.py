"""Single-person heatmap networks on MobileNetV2 inverted residuals, PoseEstimationForMobile style
(default 192x192 input, AI Challenger 14 keypoints; any layout works - no PAFs needed).

- cpm_mobilenet_v2: backbone to stride 8 with taps at strides 2, 4, 8 resized to stride 2 and fused by a
  1x1 conv; then `stages` CPM stages of inverted residuals, each ending in a 1x1 heatmap conv; stage t > 1
  reads concat([features, heatmaps of t-1]). Output stride 2 (the published model's 96x96 for 192 input).
- hourglass_mobilenet_v2: backbone to stride 4, then `stacks` hourglasses of `depth` levels (inverted
  residual down, recurse, resize back up, add the skip) with a 1x1 heatmap head after each (intermediate
  supervision); stacks after the first read features + remapped heatmaps. Output stride 4.

Outputs: stage{t}_heatmaps (num_keypoints channels, linear; train with L2 on Gaussian targets).
Inference: the last stage's heatmaps -> the heatmap codec (codec options: stride).
"""
from __future__ import annotations

from keras import layers

from pose_core.models import layers as L
from pose_core.models.common import finish_model, resolve_layout

_NORM = {"scale": 1 / 127.5, "offset": -1.0}


def _stem(x, alpha):
    """conv 3x3/2 + MobileNetV2 blocks; returns taps {stride: tensor} up to stride 8."""
    x = L.conv(x, L.width(32, alpha), 3, 2, name="Conv", use_bias=False, bn=True, activation="relu6")
    x = L.inverted_residual(x, L.width(16, alpha), 1, name="expanded_conv_0")
    taps = {2: x}
    block = 1
    for ch, repeats, stride_out in ((24, 2, 4), (32, 3, 8)):
        for r in range(repeats):
            x = L.inverted_residual(x, L.width(ch, alpha), 6, 2 if r == 0 else 1,
                                    name=f"expanded_conv_{block}")
            block += 1
        taps[stride_out] = x
    return taps


def build_cpm(layout="aic14", *, alpha: float = 1.0, stages: int = 4, stage_channels: int = 64,
              input_size=(192, 192), fixed_input_size: bool = True, init_weights=None):
    layout = resolve_layout(layout)
    k = layout.num_keypoints
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, _NORM)
    taps = _stem(x, alpha)
    fused = [taps[2]] + [L.ResizeToMatch(name=f"tap{s}_to_stride2")([taps[s], taps[2]]) for s in (4, 8)]
    x = layers.Concatenate(name="feat_concat")(fused)
    width = L.width(stage_channels, alpha)
    features = L.conv(x, width, 1, name="feat_fuse", use_bias=False, bn=True, activation="relu6")
    outputs, heat = {}, None
    for t in range(1, stages + 1):
        x = features
        if heat is not None:
            x = layers.Concatenate(name=f"stage{t}_concat")([features, heat])
            x = L.conv(x, width, 1, name=f"stage{t}_in", use_bias=False, bn=True, activation="relu6")
        for i in range(3):
            x = L.inverted_residual(x, width, 2, name=f"stage{t}_ir{i}")
        heat = L.conv(x, k, 1, name=f"stage{t}_heatmaps", activation=None)
        outputs[f"stage{t}_heatmaps"] = heat
    return finish_model("cpm_mobilenet_v2", inputs, outputs, layout=layout, stride=2,
                        params=dict(layout=layout.name, alpha=alpha, stages=stages,
                                    stage_channels=stage_channels),
                        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=_NORM,
                        codec={"name": "heatmap", "stride": 2}, init_weights=init_weights)


def _hourglass(x, depth, width, name):
    skip = L.inverted_residual(x, width, 2, name=f"{name}_skip")
    y = L.inverted_residual(x, width, 2, strides=2, name=f"{name}_down")
    y = L.inverted_residual(y, width, 2, name=f"{name}_pre")
    if depth > 1:
        y = _hourglass(y, depth - 1, width, f"{name}_inner")
    else:
        y = L.inverted_residual(y, width, 2, name=f"{name}_bottom")
    y = L.inverted_residual(y, width, 2, name=f"{name}_post")
    y = L.ResizeToMatch("nearest", name=f"{name}_up")([y, skip])
    return layers.Add(name=f"{name}_merge")([skip, y])


def build_hourglass(layout="aic14", *, alpha: float = 1.0, stacks: int = 4, depth: int = 4,
                    hourglass_channels: int = 64, input_size=(192, 192), fixed_input_size: bool = True,
                    init_weights=None):
    layout = resolve_layout(layout)
    k = layout.num_keypoints
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, _NORM)
    taps = _stem(x, alpha)
    width = L.width(hourglass_channels, alpha)
    features = L.conv(taps[4], width, 1, name="feat_fuse", use_bias=False, bn=True, activation="relu6")
    outputs, x = {}, features
    for s in range(1, stacks + 1):
        y = _hourglass(x, depth, width, f"hourglass{s}")
        y = L.conv(y, width, 1, name=f"hourglass{s}_out", use_bias=False, bn=True, activation="relu6")
        heat = L.conv(y, k, 1, name=f"stage{s}_heatmaps", activation=None)
        outputs[f"stage{s}_heatmaps"] = heat
        if s < stacks:   # next stack: features + this stack's features and remapped heatmaps
            back = L.conv(heat, width, 1, name=f"hourglass{s}_remap", activation=None)
            x = layers.Add(name=f"hourglass{s + 1}_in")([x, y, back])
    return finish_model("hourglass_mobilenet_v2", inputs, outputs, layout=layout, stride=4,
                        params=dict(layout=layout.name, alpha=alpha, stacks=stacks, depth=depth,
                                    hourglass_channels=hourglass_channels),
                        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=_NORM,
                        codec={"name": "heatmap", "stride": 4}, init_weights=init_weights)
