"""Published YOLOX ONNX (e.g. Megvii's yolox_nano.onnx) -> our Keras YOLOX (pose_core.models.yolox).

The ONNX graph has its batch norms folded already, so each Conv node carries a kernel and a bias and maps
onto one Keras Conv2D/DepthwiseConv2D. Conv nodes are taken in graph order, which is the order the
PyTorch forward pass ran them and the order pose_core.models.yolox creates its convolutions; each pair
is checked (kernel shape, groups, stride) before any weight is set, and a mismatch is one
CheckpointError line naming the Keras layer, the ONNX node and both shapes (ONNX OIHW layout).

Needs the `onnx` package (protobuf reading only; imported lazily): `pip install onnx`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError, ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxConv:
    node: str
    weight: np.ndarray        # (O, I/groups, kh, kw)
    bias: np.ndarray | None
    groups: int
    strides: tuple[int, int]


def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError:
        raise ModelError("reading ONNX models needs the onnx package: pip install onnx") from None
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:   # protobuf DecodeError / RuntimeWarning-like errors for non-ONNX bytes
        raise ModelError(f"{path} is not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ModelError(f"{path} is not an ONNX model (no graph nodes)")
    return model


def read_yolox_onnx(path: str | Path) -> tuple[list[OnnxConv], tuple[int, int], tuple[int, ...]]:
    """(conv nodes in graph order, input (w, h), output shape) of a YOLOX ONNX file."""
    from onnx import numpy_helper

    path = Path(path)
    model = _load_onnx(path)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    # Small constants can also be Constant nodes.
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    inits[node.output[0]] = a.t
    if len(graph.input) < 1:
        raise CheckpointError(f"{path.name}: graph has no input")
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or not dims[2] or not dims[3]:
        raise CheckpointError(f"{path.name}: input {graph.input[0].name} has shape {dims}; "
                              f"a YOLOX export takes [1, 3, H, W]")
    out_dims = tuple(d.dim_value for d in graph.output[0].type.tensor_type.shape.dim)
    convs = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: a for a in node.attribute}
        weight = inits.get(node.input[1])
        if weight is None:
            raise CheckpointError(f"{path.name}: Conv {node.name} has a computed weight; not a plain export")
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        convs.append(OnnxConv(
            node=node.name or node.output[0],
            weight=numpy_helper.to_array(weight).astype(np.float32),
            bias=None if bias is None else numpy_helper.to_array(bias).astype(np.float32),
            groups=int(attrs["group"].i) if "group" in attrs else 1,
            strides=tuple(attrs["strides"].ints) if "strides" in attrs else (1, 1)))
    return convs, (int(dims[3]), int(dims[2])), out_dims


def _expected(layer) -> tuple[tuple[int, ...], int, tuple[int, int]]:
    """(ONNX-layout weight shape, groups, strides) a Keras conv layer needs."""
    import keras
    kh, kw = layer.kernel_size
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        c = int(layer.kernel.shape[2])
        return (c * layer.depth_multiplier, 1, kh, kw), c, tuple(layer.strides)
    c_in = int(layer.kernel.shape[2])
    return (layer.filters, c_in, kh, kw), 1, tuple(layer.strides)


def load_onnx_weights(model, convs: list[OnnxConv], source: str = "ONNX") -> int:
    """Copy every ONNX conv into the Keras model (strict: same count, shapes, groups, strides)."""
    import keras

    from pose_core.models.yolox import conv_layer_order

    names = conv_layer_order(model)
    if len(names) != len(convs):
        raise CheckpointError(f"{source}: graph has {len(convs)} convolutions, {model.name} has "
                              f"{len(names)}: not a {model.name} export")
    assignments = []
    for name, conv in zip(names, convs):
        layer = model.get_layer(name)
        shape, groups, strides = _expected(layer)
        got = tuple(conv.weight.shape)
        if got != shape or conv.groups != groups or tuple(conv.strides) != strides:
            raise CheckpointError(f"{source}: layer {name}: ONNX {conv.node} has weight {got} groups "
                                  f"{conv.groups} stride {tuple(conv.strides)}, the model expects {shape} "
                                  f"groups {groups} stride {strides}")
        if conv.bias is None or conv.bias.shape != (shape[0],):
            raise CheckpointError(f"{source}: layer {name}: ONNX {conv.node} has bias "
                                  f"{None if conv.bias is None else tuple(conv.bias.shape)}, the model "
                                  f"expects ({shape[0]},)")
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = conv.weight.transpose(2, 3, 0, 1)      # (C, 1, kh, kw) -> (kh, kw, C, 1)
        else:
            kernel = conv.weight.transpose(2, 3, 1, 0)      # OIHW -> HWIO
        assignments.append((layer, [kernel, conv.bias]))
    for layer, weights in assignments:
        layer.set_weights(weights)
    return len(assignments)


def convert_yolox_onnx(path: str | Path, *, num_classes: int | None = None):
    """Keras YOLOX-nano (NHWC, float32 BGR 0..255 in, [1, cells, 85] out) with the ONNX file's weights,
    built at the ONNX input size."""
    from pose_core.models.yolox import build_yolox, num_cells

    path = Path(path)
    convs, input_size, out_dims = read_yolox_onnx(path)
    if num_classes is None:     # a level's head ends cls_pred, 2 x (dw, pw) box convs, reg_pred, obj_pred
        num_classes = int(convs[-7].weight.shape[0]) if len(convs) >= 7 else 80
    expected_out = (1, num_cells(input_size), 5 + num_classes)
    if len(out_dims) == 3 and out_dims[1:] != expected_out[1:]:
        raise CheckpointError(f"{path.name}: output shape {list(out_dims)}, a YOLOX at "
                              f"{input_size[0]}x{input_size[1]} gives {list(expected_out)}")
    if input_size[0] % 32 or input_size[1] % 32:
        raise CheckpointError(f"{path.name}: input {input_size[0]}x{input_size[1]} is not a multiple of 32")
    model = build_yolox(input_size, num_classes=num_classes)
    n = load_onnx_weights(model, convs, source=path.name)
    log.info("loaded %d convolutions from %s into %s", n, path.name, model.name)
    return model
