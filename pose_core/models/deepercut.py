"""DeeperCut / pose-tensorflow style single-scale part detector: ResNet-v1 (50 or 101) with atrous
convolution to `output_stride` 16 or 8, transposed-conv (x2) heads for part heatmaps and location
refinement offsets, and an optional intermediate-supervision head on a block3 unit.

The ResNet follows TF-slim's resnet_v1 (the layout of the published pose-tensorflow checkpoints):
stride on the LAST unit of blocks 1-3 (3x3 conv, "conv2d_same" symmetric padding), max-pool 1x1
subsampled shortcut, BN eps 1e-5 with scale. Layer names are the slim scopes with '/' -> '.', e.g.
`resnet_v1_50.block3.unit_2.bottleneck_v1.conv2` and its `....conv2.BatchNorm`; heads
`pose.part_pred.block4`, `pose.locref_pred.block4`, `pose.part_pred.block3` (intermediate).
Input: RGB 0..255, ImageNet mean pixel subtracted inside the model (as pose-tensorflow does).

Outputs (training): heatmaps (K, logits: train with sigmoid cross-entropy), locref (2K: dx, dy per
keypoint interleaved, in units of locref_stdev pixels; Huber loss), intermediate_heatmaps (K logits,
if enabled). The intermediate head's name is ours; check it against a checkpoint before importing.
Inference: [sigmoid(heatmaps), locref] - two outputs for the heatmap codec with
{stride, refine: offsets, locref_stdev: 7.2801}.
"""
from __future__ import annotations

from keras import layers

from pose_core.models import layers as L
from pose_core.models.common import finish_model, resolve_layout

_EPS = 1e-5
LOCREF_STDEV = 7.2801   # pose-tensorflow's published locref scaling
# (base depth, units, stride) per block, slim resnet_v1.
_BLOCKS = {50: ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)),
           101: ((64, 3, 2), (128, 4, 2), (256, 23, 2), (512, 3, 1))}
_NORM = {"mean": [123.68, 116.779, 103.939], "std": [1.0, 1.0, 1.0]}


def _cbn(x, filters, kernel, strides, rate, name, activation="relu", gamma="ones"):
    return L.conv(x, filters, kernel, strides, rate, name=name, use_bias=False, bn=True, bn_gamma=gamma,
                  bn_name=f"{name}.BatchNorm", activation=activation, act_name=f"{name}.relu",
                  padding="symmetric" if strides > 1 else "same", bn_epsilon=_EPS)


def _bottleneck(x, depth, bottleneck, stride, rate, name):
    if x.shape[-1] == depth:
        shortcut = x if stride == 1 else layers.MaxPooling2D(1, stride, name=f"{name}.shortcut")(x)
    else:
        shortcut = _cbn(x, depth, 1, stride, 1, f"{name}.shortcut", activation=None)
    y = _cbn(x, bottleneck, 1, 1, 1, f"{name}.conv1")
    y = _cbn(y, bottleneck, 3, stride, rate, f"{name}.conv2")
    y = _cbn(y, depth, 1, 1, 1, f"{name}.conv3", activation=None, gamma="zeros")
    y = layers.Add(name=f"{name}.add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}.relu")(y)


def _build(depth_variant, layout, output_stride, deconv, intermediate_supervision, intermediate_unit,
           alpha, input_size, fixed_input_size, init_weights):
    if output_stride not in (8, 16):
        from pose_core.errors import ModelError
        raise ModelError(f"deepercut output_stride must be 8 or 16, not {output_stride}")
    layout = resolve_layout(layout)
    k = layout.num_keypoints
    scope = f"resnet_v1_{depth_variant}"
    c = lambda n: max(8, int(round(n * alpha)))   # noqa: E731
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, _NORM)
    x = _cbn(x, c(64), 7, 2, 1, f"{scope}.conv1")
    x = layers.MaxPooling2D(3, 2, padding="same", name=f"{scope}.pool1")(x)
    current, rate, mid = 4, 1, None
    blocks = _BLOCKS[depth_variant]
    if intermediate_unit is None:
        intermediate_unit = 12 if depth_variant == 101 else 4
    for b, (base, units, block_stride) in enumerate(blocks, start=1):
        for u in range(1, units + 1):
            stride = block_stride if u == units else 1
            name = f"{scope}.block{b}.unit_{u}.bottleneck_v1"
            if current == output_stride:     # atrous from here on
                x = _bottleneck(x, c(base * 4), c(base), 1, rate, name)
                rate *= stride
            else:
                x = _bottleneck(x, c(base * 4), c(base), stride, 1, name)
                current *= stride
            if b == 3 and u == min(intermediate_unit, units):
                mid = x

    def head(x, channels, name):
        if deconv:
            return layers.Conv2DTranspose(channels, 3, strides=2, padding="same", name=name)(x)
        return layers.Conv2D(channels, 1, name=name)(x)

    outputs = {"heatmaps": head(x, k, "pose.part_pred.block4"),
               "locref": head(x, 2 * k, "pose.locref_pred.block4")}
    if intermediate_supervision:
        outputs["intermediate_heatmaps"] = head(mid, k, "pose.part_pred.block3")
    stride = output_stride // 2 if deconv else output_stride
    return finish_model(
        f"deepercut_resnet{depth_variant}", inputs, outputs, layout=layout, stride=stride,
        params=dict(layout=layout.name, output_stride=output_stride, deconv=deconv, alpha=alpha,
                    intermediate_supervision=intermediate_supervision,
                    intermediate_unit=intermediate_unit),
        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=_NORM,
        codec={"name": "heatmap", "stride": stride, "refine": "offsets", "locref_stdev": LOCREF_STDEV},
        inference={"outputs": ["heatmaps", "locref"], "concat": False,
                   "activation": {"heatmaps": "sigmoid"}},
        init_weights=init_weights, backbone_prefix=scope)


def build_resnet50(layout="mpii16", *, output_stride: int = 16, deconv: bool = True,
                   intermediate_supervision: bool = False, intermediate_unit: int | None = None,
                   alpha: float = 1.0, input_size=(400, 400), fixed_input_size: bool = False,
                   init_weights=None):
    return _build(50, layout, output_stride, deconv, intermediate_supervision, intermediate_unit, alpha,
                  input_size, fixed_input_size, init_weights)


def build_resnet101(layout="mpii16", *, output_stride: int = 16, deconv: bool = True,
                    intermediate_supervision: bool = True, intermediate_unit: int | None = None,
                    alpha: float = 1.0, input_size=(400, 400), fixed_input_size: bool = False,
                    init_weights=None):
    return _build(101, layout, output_stride, deconv, intermediate_supervision, intermediate_unit, alpha,
                  input_size, fixed_input_size, init_weights)
