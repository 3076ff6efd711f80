"""Keras copy of tf-pose-estimation's `mobilenet_v2_small` OpenPose network, layer for layer.

Every fact below was read from the published frozen graph (graph_opt.pb), not from its source code:
- input: raw BGR 0..255 float, NHWC, any size (no normalisation op in the graph); our model takes RGB
  0..255 like every pose_core model and reverses the channels in its first layer;
- backbone: MobileNetV2 (width 0.5, min depth 8) cut after block 12: stem 3x3/2 conv (16), then inverted
  residuals [expand 1x1 -> depthwise 3x3 -> project 1x1 (linear)], ReLU6, residual add when shapes match;
  every backbone conv is followed by a batch norm with gamma+beta whose statistics are computed from the
  input itself (the graph was frozen in training mode: FusedBatchNorm is_training=True, eps 1e-3);
- features: block 5 output (stride 8, 16 ch) concatenated with block 12 output (stride 16, 48 ch) resized
  bilinearly to block 5's size with TF1's legacy sampling (align_corners=False, half_pixel_centers=False);
- head: 6 stages x 2 branches (L1 = 38 PAFs, L2 = 19 heatmaps) of 5 separable convs each
  (depthwise without BN/bias, pointwise 1x1 + inference-mode BN without gamma, ReLU except the last);
  stages 2..6 read concat([L1, L2, features]) (121 ch);
- output: concat([L2 heatmaps, L1 PAFs]) of stage 6 = 57 channels at stride 8 (ceil(H/8) x ceil(W/8)).

Layer names are the graph's scopes with '/' -> '_' (e.g. `expanded_conv_3_depthwise`, `..._bn`), which is
what pose_core.convert.tfpose uses to copy the constants.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from pose_core.errors import ModelError
from pose_core.models.common import finish_model, paf_channels, resolve_layout
from pose_core.models.layers import model_input

NUM_HEATMAPS = 19
NUM_PAFS = 38
STAGES = 6
BN_EPSILON = 1e-3

# Backbone blocks after the stem: (expansion, output channels, stride). Block 0 has no expand conv.
BLOCKS = (
    (1, 8, 1),
    (6, 16, 2), (6, 16, 1),
    (6, 16, 2), (6, 16, 1), (6, 16, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 32, 1),
    (6, 48, 1), (6, 48, 1), (6, 48, 1),
)
STEM_CHANNELS = 16
FINE_BLOCK = 5      # stride-8 features taken from here
COARSE_BLOCK = 12   # stride-16 features, upsampled to FINE_BLOCK's size
# Head branch: (kernel size, pointwise channels) of its 5 separable convs; the last is the branch output.
HEAD_CONVS = ((3, 64), (3, 64), (3, 64), (1, None), (1, None))
STAGE1_LAST_HIDDEN = 256   # stage 1's 4th pointwise conv is wider than later stages' (64)


@keras.saving.register_keras_serializable(package="pose_core")
class BatchStatsNormalization(keras.layers.Layer):
    """Batch norm that always normalises with the statistics of the input (mean/variance over H, W of
    each image), then applies gamma/beta. This is what the frozen graph's training-mode FusedBatchNorm
    computes for a batch of one; per-image statistics keep a batch's images independent of each other
    (the graph would mix them). There are no moving averages, so training and inference agree."""

    def __init__(self, epsilon: float = BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        # TF's own fused kernel, as in the graph: a hand-written moments formula differs from it by up to
        # 2e-4 on the output maps (the network amplifies float32 rounding in low-variance channels).
        # TFLite lowers it to builtin MEAN/SQUARED_DIFFERENCE/RSQRT ops.
        if x.shape[0] == 1:
            return self._normalize(x, self.gamma, self.beta)
        # Unknown or larger batch. (For a batch of one at run time Grappler drops these transposes of a
        # size-1 axis: measured no slower than the direct call.)
        return self._per_image(x)

    def _per_image(self, x):
        # Fold the batch into channels so each image keeps its own statistics.
        shape = tf.shape(x)
        channels = x.shape[-1]
        folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, shape[1], shape[2], shape[0] * channels])
        y = self._normalize(folded, tf.tile(self.gamma, [shape[0]]), tf.tile(self.beta, [shape[0]]))
        return tf.transpose(tf.reshape(y, [shape[1], shape[2], shape[0], channels]), [2, 0, 1, 3])

    def _normalize(self, x, gamma, beta):
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon, is_training=True)
        return y

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="pose_core")
class ReverseChannels(keras.layers.Layer):
    """RGB -> BGR. Reordering the stem kernel's input channels instead would be equivalent in exact
    arithmetic, but the changed summation order alone moves the output maps by ~2e-4 (see BatchStats-
    Normalization), so the graph's BGR kernel is kept as it is and the pixels are reordered."""

    def call(self, x):
        return tf.reverse(x, axis=[-1])


@keras.saving.register_keras_serializable(package="pose_core")
class ResizeLike(keras.layers.Layer):
    """Bilinear resize of inputs[0] to the spatial size of inputs[1], with TF1's legacy pixel grid
    (half_pixel_centers=False), as the graph's ResizeBilinear; Keras' Resizing uses half-pixel centres."""

    def call(self, inputs):
        x, reference = inputs
        size = tf.shape(reference)[1:3]
        return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False,
                                         half_pixel_centers=False)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[3])


def _conv_bn(x, filters, kernel, stride, name, relu6=True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = BatchStatsNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x) if relu6 else x


def _depthwise_bn(x, stride, name):
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = BatchStatsNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)


def _inverted_residual(x, index, expansion, out_channels, stride):
    prefix = "expanded_conv" if index == 0 else f"expanded_conv_{index}"
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_channels * expansion, 1, 1, f"{prefix}_expand")
    y = _depthwise_bn(y, stride, f"{prefix}_depthwise")
    y = _conv_bn(y, out_channels, 1, 1, f"{prefix}_project", relu6=False)
    if stride == 1 and in_channels == out_channels:
        y = keras.layers.Add(name=f"{prefix}_add")([y, x])
    return y


def _head_branch(x, stage, branch, out_channels):
    for i, (kernel, channels) in enumerate(HEAD_CONVS, start=1):
        name = f"MConv_Stage{stage}_L{branch}_{i}"
        last = i == len(HEAD_CONVS)
        if channels is None:
            channels = out_channels if last else (STAGE1_LAST_HIDDEN if stage == 1 else 64)
        x = keras.layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_depthwise")(x)
        x = keras.layers.Conv2D(channels, 1, padding="same", use_bias=False, name=f"{name}_pointwise")(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, name=f"{name}_pointwise_bn")(x)
        if not last:
            x = keras.layers.ReLU(name=f"{name}_pointwise_relu")(x)
    return x


def build(layout="openpose18", *, input_size=(432, 368), fixed_input_size: bool = False,
          init_weights=None) -> keras.Model:
    """The network (registry name `tfpose_mobilenet_v2_small`); weights are random until
    pose_core.convert.tfpose copies the graph's constants in (or init_weights names an imported .keras).

    Input: float32 RGB 0..255 (the project's contract); a first layer reorders it to the graph's BGR.
    Training outputs: stage{1..6}_heatmaps (19) / stage{1..6}_pafs (38);
    inference_model() concatenates the last stage's [heatmaps, PAFs] = the graph's `Openpose/concat_stage7`.
    """
    layout = resolve_layout(layout)
    if layout.num_keypoints + 1 != NUM_HEATMAPS or paf_channels(layout) != NUM_PAFS:
        raise ModelError(f"tfpose_mobilenet_v2_small has {NUM_HEATMAPS} heatmaps / {NUM_PAFS} PAFs "
                         f"(openpose18); layout {layout.name!r} does not fit")
    norm = {"scale": 1.0, "offset": 0.0}   # the graph takes raw pixel values
    inputs, x = model_input({}, input_size if fixed_input_size else None, norm)
    x = ReverseChannels(name="rgb_to_bgr")(x)
    x = _conv_bn(x, STEM_CHANNELS, 3, 2, "Conv")
    fine = None
    for index, (expansion, out_channels, stride) in enumerate(BLOCKS):
        x = _inverted_residual(x, index, expansion, out_channels, stride)
        if index == FINE_BLOCK:
            fine = x
    coarse = ResizeLike(name="upsample")([x, fine])
    features = keras.layers.Concatenate(name="feat_concat")([fine, coarse])

    outputs = {}
    stage_input = features
    for stage in range(1, STAGES + 1):
        pafs = _head_branch(stage_input, stage, 1, NUM_PAFS)
        heatmaps = _head_branch(stage_input, stage, 2, NUM_HEATMAPS)
        outputs[f"stage{stage}_heatmaps"], outputs[f"stage{stage}_pafs"] = heatmaps, pafs
        if stage < STAGES:
            stage_input = keras.layers.Concatenate(name=f"MConv_Stage{stage + 1}_concat")(
                [pafs, heatmaps, features])
    return finish_model(
        "tfpose_mobilenet_v2_small", inputs, outputs, layout=layout, stride=8, params={},
        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=norm,
        codec={"name": "paf", "stride": 8, "heatmap_channels": NUM_HEATMAPS, "paf_offset": NUM_HEATMAPS},
        init_weights=init_weights, backbone_prefix="")
