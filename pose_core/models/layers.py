"""Building blocks shared by the builders: model input with in-model normalisation, conv(+BN)(+act) with a
choice of padding convention, depthwise-separable and inverted-residual blocks.

Kernels start He-normal: with Keras' default Glorot init the activations of these deep ReLU stacks
shrink to ~1e-14 by the last stage.

Padding: "same" is TensorFlow's (asymmetric for stride 2: extra row/column at the bottom/right);
"symmetric" pads (k_eff - 1) // 2 on top/left and the rest on bottom/right, then convolves VALID - the
convention of PyTorch/Caffe and of slim's conv2d_same, so imported weights give identical outputs.
"""
from __future__ import annotations

import keras
from keras import layers

from pose_core.models.metadata import PoseMetadata

# He init for depthwise kernels (kh, kw, C, 1): Keras' fan_in would count C input channels, but each
# output sees only kh*kw inputs, which is what fan_OUT (kh*kw*1) counts here.
_DW_INIT = keras.initializers.VarianceScaling(2.0, "fan_out", "truncated_normal")


def model_input(metadata: dict, input_size: tuple[int, int] | None, normalisation: dict):
    """Float32 RGB 0..255 NHWC input -> (input tensor, normalised tensor). input_size (w, h) or None for
    dynamic H, W. normalisation: {"scale": s, "offset": o} (x*s+o) or {"mean": [3], "std": [3]}."""
    w, h = input_size if input_size else (None, None)
    inputs = keras.Input((h, w, 3), dtype="float32", name="image")
    x = PoseMetadata(metadata)(inputs)
    if "mean" in normalisation:
        std = [float(s) for s in normalisation.get("std", (1.0, 1.0, 1.0))]
        x = layers.Normalization(mean=list(normalisation["mean"]), variance=[s * s for s in std],
                                 name="normalise")(x)
    else:
        x = layers.Rescaling(normalisation["scale"], normalisation.get("offset", 0.0), name="normalise")(x)
    return inputs, x


def pad_symmetric(x, kernel: int, dilation: int = 1, name: str | None = None):
    k_eff = kernel + (kernel - 1) * (dilation - 1)
    beg = (k_eff - 1) // 2
    end = k_eff - 1 - beg
    if beg == end == 0:
        return x
    return layers.ZeroPadding2D(((beg, end), (beg, end)), name=name)(x)


def conv(x, filters: int, kernel: int = 3, strides: int = 1, dilation: int = 1, *, name: str,
         use_bias: bool = True, bn: bool = False, activation: str | None = "relu",
         padding: str = "same", bn_epsilon: float = 1e-3, bn_name: str | None = None,
         act_name: str | None = None, bn_gamma: str = "ones"):
    """Conv2D [+ BatchNormalization] [+ activation]. Layer names are given explicitly (converters rely
    on them): conv `name`, BN `bn_name` (default name + "_bn"), activation `act_name` (name + "_act").
    bn_gamma="zeros" starts a residual branch as identity (deep ResNets otherwise blow up at init)."""
    if padding == "symmetric" and (strides > 1 or kernel > 1):
        x = pad_symmetric(x, kernel, dilation, name=name + "_pad")
        pad = "valid"
    else:
        pad = padding if padding != "symmetric" else "same"
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding=pad,
                      use_bias=use_bias, kernel_initializer="he_normal", name=name)(x)
    if bn:
        x = layers.BatchNormalization(epsilon=bn_epsilon, gamma_initializer=bn_gamma,
                                      name=bn_name or name + "_bn")(x)
    if activation:
        x = layers.Activation(activation, name=act_name or name + "_act")(x)
    return x


def depthwise(x, kernel: int = 3, strides: int = 1, dilation: int = 1, *, name: str, use_bias=False,
              bn: bool = True, activation: str | None = "relu", padding: str = "same",
              bn_epsilon: float = 1e-3, bn_name: str | None = None, act_name: str | None = None):
    """DepthwiseConv2D [+ BN] [+ activation], same naming rules as conv()."""
    if padding == "symmetric" and (strides > 1 or kernel > 1):
        x = pad_symmetric(x, kernel, dilation, name=name + "_pad")
        pad = "valid"
    else:
        pad = padding if padding != "symmetric" else "same"
    x = layers.DepthwiseConv2D(kernel, strides=strides, dilation_rate=dilation, padding=pad,
                               use_bias=use_bias, depthwise_initializer=_DW_INIT, name=name)(x)
    if bn:
        x = layers.BatchNormalization(epsilon=bn_epsilon, name=bn_name or name + "_bn")(x)
    if activation:
        x = layers.Activation(activation, name=act_name or name + "_act")(x)
    return x


def separable(x, filters: int, kernel: int = 3, strides: int = 1, dilation: int = 1, *, name: str,
              bn: bool = True, activation: str | None = "relu", padding: str = "same",
              bn_epsilon: float = 1e-3):
    """Depthwise kxk (+BN+act) then pointwise 1x1 (+BN+act): MobileNetV1's block."""
    x = depthwise(x, kernel, strides, dilation, name=name + "_dw", bn=bn, activation=activation,
                  padding=padding, bn_epsilon=bn_epsilon)
    return conv(x, filters, 1, name=name + "_pw", use_bias=not bn, bn=bn, activation=activation,
                bn_epsilon=bn_epsilon)


def inverted_residual(x, filters: int, expansion: int, strides: int = 1, *, name: str,
                      dilation: int = 1, activation: str = "relu6"):
    """MobileNetV2 block: 1x1 expand (BN, relu6) -> 3x3 depthwise (BN, relu6) -> 1x1 project (BN, linear),
    residual add when shape allows."""
    in_ch = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv(y, in_ch * expansion, 1, name=name + "_expand", use_bias=False, bn=True,
                 activation=activation)
    y = depthwise(y, 3, strides, dilation, name=name + "_dw", activation=activation)
    y = conv(y, filters, 1, name=name + "_project", use_bias=False, bn=True, activation=None)
    if strides == 1 and in_ch == filters:
        y = layers.Add(name=name + "_add")([x, y])
    return y


def width(channels: int, alpha: float, minimum: int = 8, divisor: int = 8) -> int:
    """Channels scaled by a width multiplier, rounded to a multiple of `divisor` (MobileNet rule)."""
    scaled = channels * alpha
    out = max(minimum, int(scaled + divisor / 2) // divisor * divisor)
    if out < 0.9 * scaled:
        out += divisor
    return out


@keras.saving.register_keras_serializable(package="pose_core")
class ResizeToMatch(keras.layers.Layer):
    """Resize inputs[0] to the spatial size of inputs[1] (dynamic shapes: multi-resolution feature concat
    and hourglass skips work for any input size, where UpSampling2D would need multiples of 2^n)."""

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        import tensorflow as tf
        x, reference = inputs
        size = tf.shape(reference)[1:3]
        return tf.cast(tf.image.resize(x, size, method=self.interpolation), x.dtype)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="pose_core")
class FoldedBatchNorm(keras.layers.Layer):
    """Identity left where pose_core.export.fold_batchnorm merged a BatchNormalization into the
    preceding convolution (accepts BN's call arguments so the graph clones unchanged)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape
