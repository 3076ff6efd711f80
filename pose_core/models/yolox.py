"""YOLOX person/object detector in Keras 3 (Megvii's YOLOX; nano = depth 0.33, width 0.25, depthwise).

Layout read off the published yolox_nano.onnx (opset 11, batch norms already folded into conv biases):

  Focus      four stride-2 pixel phases of the image stacked on channels, in the order
             (even row, even col), (odd row, even col), (even row, odd col), (odd row, odd col)
  stem       3x3 conv                                        -> 16 ch at /2
  dark2..5   depthwise down-sample (dw 3x3 s2 + pw 1x1), then a CSP block; dark5 has an SPP
             (max pools 5/9/13, stride 1) before its CSP block, which has no shortcut   -> 64/128/256 at /8,/16,/32
  PAFPN      top-down (1x1 reduce, nearest x2, concat, CSP) then bottom-up (depthwise s2, concat, CSP)
  head       per level: 1x1 stem to 64, two depthwise blocks for classes, two for boxes;
             predictions concatenated per cell as [box 4 (raw), sigmoid(objectness), sigmoid(80 classes)]

Every conv is followed by SiLU except the predictions. A CSP block: two 1x1 branches of half width, the
first through n bottlenecks (1x1, then depthwise block, + input when shortcut), concat [bottlenecks,
second branch], 1x1. PyTorch pads a stride-2 3x3 conv by one on EVERY side; TF's "same" would pad only
bottom/right, so stride-2 convs get explicit padding and run "valid".

Input: float32 BGR 0..255 NHWC (no normalisation; letterboxed top-left with 114 grey). Output:
[N, cells, 5 + classes], cells ordered stride 8, 16, 32 and row-major within a stride - the ONNX model's
layout, decoded by pose_core.detectors.yolox.YoloxDecoder.
"""
from __future__ import annotations

import math

import keras
from keras import layers

STRIDES = (8, 16, 32)


@keras.saving.register_keras_serializable(package="pose_core")
class Focus(keras.layers.Layer):
    """Space-to-depth by 2 with the channel order of YOLOX's Focus module (see module docstring)."""

    def call(self, x):
        import tensorflow as tf
        return tf.concat([x[:, 0::2, 0::2, :], x[:, 1::2, 0::2, :],
                          x[:, 0::2, 1::2, :], x[:, 1::2, 1::2, :]], axis=-1)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        half = (lambda v: None if v is None else v // 2)
        return (n, half(h), half(w), 4 * c)


class _Builder:
    """Creates layers in the ONNX graph's node order (the converter maps weights in that order)."""

    def __init__(self):
        self.convs: list[str] = []          # names of every Conv2D / DepthwiseConv2D, creation order

    def conv(self, x, filters: int, kernel: int = 1, strides: int = 1, *, name: str, act: bool = True):
        if strides > 1:
            x = layers.ZeroPadding2D(kernel // 2, name=name + "_pad")(x)
        x = layers.Conv2D(filters, kernel, strides=strides, padding="valid" if strides > 1 else "same",
                          name=name)(x)
        self.convs.append(name)
        return layers.Activation("silu", name=name + "_silu")(x) if act else x

    def depthwise_block(self, x, filters: int, strides: int = 1, *, name: str):
        """dw 3x3 (+SiLU) then pw 1x1 (+SiLU): YOLOX's DWConv."""
        if strides > 1:
            x = layers.ZeroPadding2D(1, name=name + "_dw_pad")(x)
        x = layers.DepthwiseConv2D(3, strides=strides, padding="valid" if strides > 1 else "same",
                                   name=name + "_dw")(x)
        self.convs.append(name + "_dw")
        x = layers.Activation("silu", name=name + "_dw_silu")(x)
        return self.conv(x, filters, 1, name=name + "_pw")

    def csp(self, x, filters: int, n: int, shortcut: bool, *, name: str):
        hidden = filters // 2
        a = self.conv(x, hidden, name=name + "_conv1")
        b = self.conv(x, hidden, name=name + "_conv2")
        for i in range(n):
            y = self.conv(a, hidden, name=f"{name}_m{i}_conv1")
            y = self.depthwise_block(y, hidden, name=f"{name}_m{i}_conv2")
            a = layers.Add(name=f"{name}_m{i}_add")([y, a]) if shortcut else y
        x = layers.Concatenate(name=name + "_cat")([a, b])
        return self.conv(x, filters, name=name + "_conv3")

    def spp(self, x, filters: int, *, name: str):
        hidden = x.shape[-1] // 2
        x = self.conv(x, hidden, name=name + "_conv1")
        pools = [layers.MaxPooling2D(k, strides=1, padding="same", name=f"{name}_pool{k}")(x)
                 for k in (5, 9, 13)]
        x = layers.Concatenate(name=name + "_cat")([x, *pools])
        return self.conv(x, filters, name=name + "_conv2")


def build_yolox(input_size: tuple[int, int] | None = (416, 416), depth: float = 0.33, width: float = 0.25,
                num_classes: int = 80, head_width: int = 256, name: str = "yolox_nano") -> keras.Model:
    """YOLOX with depthwise convolutions (the nano/tiny-style variants). input_size (w, h), multiples of
    32, or None for any such size. Weights start random: load them with
    pose_core.convert.yolox_onnx.convert_yolox_onnx."""
    w, h = input_size if input_size else (None, None)
    ch = [int(c * width) for c in (64, 128, 256, 512, 1024)]      # 16, 32, 64, 128, 256 for nano
    n = max(round(3 * depth), 1)                                    # bottlenecks per CSP block: 1 (x3 in dark3/4)
    hw = int(head_width * width)                                    # head channels: 64
    b = _Builder()

    inputs = keras.Input((h, w, 3), dtype="float32", name="image")
    x = Focus(name="focus")(inputs)
    x = b.conv(x, ch[0], 3, name="stem")
    x = b.depthwise_block(x, ch[1], 2, name="dark2_down")
    x = b.csp(x, ch[1], n, True, name="dark2_csp")
    x = b.depthwise_block(x, ch[2], 2, name="dark3_down")
    c3 = b.csp(x, ch[2], 3 * n, True, name="dark3_csp")
    x = b.depthwise_block(c3, ch[3], 2, name="dark4_down")
    c4 = b.csp(x, ch[3], 3 * n, True, name="dark4_csp")
    x = b.depthwise_block(c4, ch[4], 2, name="dark5_down")
    x = b.spp(x, ch[4], name="dark5_spp")
    c5 = b.csp(x, ch[4], n, False, name="dark5_csp")

    # PAFPN: top-down
    p5 = b.conv(c5, ch[3], name="fpn_lateral5")
    x = layers.UpSampling2D(2, interpolation="nearest", name="fpn_up5")(p5)
    x = layers.Concatenate(name="fpn_cat4")([x, c4])
    x = b.csp(x, ch[3], n, False, name="fpn_p4")
    p4 = b.conv(x, ch[2], name="fpn_reduce4")
    x = layers.UpSampling2D(2, interpolation="nearest", name="fpn_up4")(p4)
    x = layers.Concatenate(name="fpn_cat3")([x, c3])
    out3 = b.csp(x, ch[2], n, False, name="pan_p3")
    # bottom-up
    x = b.depthwise_block(out3, ch[2], 2, name="pan_down3")
    x = layers.Concatenate(name="pan_cat4")([x, p4])
    out4 = b.csp(x, ch[3], n, False, name="pan_n4")
    x = b.depthwise_block(out4, ch[3], 2, name="pan_down4")
    x = layers.Concatenate(name="pan_cat5")([x, p5])
    out5 = b.csp(x, ch[4], n, False, name="pan_n5")

    rows = []
    for level, feat in zip(("p3", "p4", "p5"), (out3, out4, out5)):
        s = b.conv(feat, hw, name=f"head_{level}_stem")
        c = b.depthwise_block(s, hw, name=f"head_{level}_cls0")
        c = b.depthwise_block(c, hw, name=f"head_{level}_cls1")
        cls = b.conv(c, num_classes, name=f"head_{level}_cls_pred", act=False)
        r = b.depthwise_block(s, hw, name=f"head_{level}_reg0")
        r = b.depthwise_block(r, hw, name=f"head_{level}_reg1")
        box = b.conv(r, 4, name=f"head_{level}_reg_pred", act=False)
        obj = b.conv(r, 1, name=f"head_{level}_obj_pred", act=False)
        obj = layers.Activation("sigmoid", name=f"head_{level}_obj_sigmoid")(obj)
        cls = layers.Activation("sigmoid", name=f"head_{level}_cls_sigmoid")(cls)
        y = layers.Concatenate(name=f"head_{level}_out")([box, obj, cls])
        rows.append(layers.Reshape((-1, 5 + num_classes), name=f"head_{level}_rows")(y))
    outputs = layers.Concatenate(axis=1, name="detections")(rows)
    model = keras.Model(inputs, outputs, name=name)
    model.conv_order = tuple(b.convs)     # not saved with the model; conv_layer_order() recomputes it
    return model


# Layers an int8 export keeps float32: the stem and the stride-4 stage. Their activations' channel ranges
# differ by ~100x (stem output: max |x| 0.3 in some channels, 72 in others), so one int8 scale per tensor
# wipes out the small channels and the error compounds (relative error ~1.0 by dark2, objectness off by
# up to 0.97 on confident cells). Float there: worst person-box IoU vs the ONNX 0.95 instead of 0.74, at
# the same speed (the float layers are thin). Measured: docs/import.md.
INT8_FLOAT_PREFIXES = ("stem", "dark2_")


def int8_float_layers(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.name.startswith(INT8_FLOAT_PREFIXES)]


def conv_layer_order(model: keras.Model) -> list[str]:
    """Names of the model's Conv2D/DepthwiseConv2D layers in the order the ONNX graph runs them."""
    order = getattr(model, "conv_order", None)
    if order:
        return list(order)
    return [layer.name for layer in model.layers
            if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]


def num_cells(input_size: tuple[int, int]) -> int:
    w, h = input_size
    return sum(math.ceil(h / s) * math.ceil(w / s) for s in STRIDES)
