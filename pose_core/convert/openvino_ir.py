"""OpenVINO IR (.xml graph + .bin weights) of Intel's Lightweight OpenPose (Open Model Zoo
human-pose-estimation-0001) -> our Keras Lightweight OpenPose, without the openvino package.

The IR is read with xml.etree; every Const is a slice of the .bin (offset, size, element type). A
convolution's weights are whatever constant sub-graph feeds its port 1 - int8 Const -> Convert ->
Subtract(zero point) -> Multiply(scale) in the FP16-INT8 build, a FakeQuantize on a float Const in older
int8 builds, a plain fp16/fp32 Const in the FP16/FP32 builds - so that sub-graph is evaluated in numpy
(float32). FakeQuantize on activations (int8 inference) has no float twin and is skipped. Per-channel
Multiply/Add constants right after a convolution (folded batch norm, bias) fold into weights and bias.

The network is Intel's Caffe twin of the PyTorch model (lightweight_openpose cpm="icv"); layers are
matched by their Caffe names (IR_NAMES below) and copied through the PyTorch-state_dict loader of
pose_core.convert.lwopenpose, so BN/transform/BGR handling lives in one place. The refinement stages'
input concat is PAFs, heatmaps, features in the IR and features, heatmaps, PAFs in ours: the first 1x1
kernel's input channels are permuted by tracing each concat input to its producing convolution. The
input scaling folded into the IR ((x - 128) / 255 per its Model Optimizer arguments) is folded into the
stem kernel, since our model normalises (x - 128) / 256 inside.
"""
from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError

log = logging.getLogger(__name__)

_DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i8": np.int8, "u8": np.uint8,
           "i16": np.int16, "u16": np.uint16, "i32": np.int32, "u32": np.uint32, "i64": np.int64,
           "u64": np.uint64, "boolean": np.bool_}
_CONV_TYPES = ("Convolution", "GroupConvolution")
_PASS_THROUGH = ("FakeQuantize", "ReLU", "Elu", "Clamp", "Convert")   # when tracing activations back
_BN_EPS = 1e-5   # the Keras model's BatchNormalization epsilon (PyTorch's)
_OUR_MEAN, _OUR_SCALE = 128.0, 1.0 / 256.0   # pose_core.models.lightweight_openpose normalisation


# ---- reading the IR ----------------------------------------------------------------------------

@dataclass
class _Layer:
    id: str
    type: str
    name: str
    data: dict
    out_shapes: list


class IRGraph:
    """The IR's layers and edges, with numpy evaluation of constant sub-graphs."""

    def __init__(self, xml_path: str | Path, bin_path: str | Path | None = None):
        self.xml_path = Path(xml_path)
        self.bin_path = Path(bin_path) if bin_path else self.xml_path.with_suffix(".bin")
        src = str(self.xml_path)
        if not self.xml_path.is_file():
            raise CheckpointError(f"{src}: no such file")
        if not self.bin_path.is_file():
            raise CheckpointError(f"{src}: weights file {self.bin_path.name} is missing beside it")
        try:
            root = ET.parse(self.xml_path).getroot()
        except ET.ParseError as exc:
            raise CheckpointError(f"{src}: not a valid OpenVINO IR xml ({exc})") from None
        if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
            raise CheckpointError(f"{src}: not an OpenVINO IR (no <net> with <layers> and <edges>)")
        self.version = root.get("version", "")
        self.weights = np.memmap(self.bin_path, dtype=np.uint8, mode="r") if self.bin_path.stat().st_size \
            else np.zeros(0, np.uint8)
        self.layers: dict[str, _Layer] = {}
        for el in root.find("layers"):
            data = el.find("data")
            out = el.find("output")
            shapes = [tuple(int(d.text) for d in p.findall("dim")) for p in (out if out is not None else [])]
            self.layers[el.get("id")] = _Layer(el.get("id"), el.get("type", ""), el.get("name", ""),
                                               dict(data.attrib) if data is not None else {}, shapes)
        self.inputs: dict[str, dict[int, str]] = {}      # layer id -> {port: source layer id}
        self.consumers: dict[str, list[str]] = {}
        try:
            for e in root.find("edges"):
                src_id, dst_id = e.get("from-layer"), e.get("to-layer")
                self.inputs.setdefault(dst_id, {})[int(e.get("to-port"))] = src_id
                self.consumers.setdefault(src_id, []).append(dst_id)
        except (TypeError, ValueError):
            raise CheckpointError(f"{src}: malformed <edge> in the IR") from None
        dangling = sorted({i for i in (*self.inputs, *self.consumers) if i not in self.layers})
        if dangling:
            raise CheckpointError(f"{src}: an <edge> names layer id {dangling[0]}, which the IR does not have")
        self.inputs = {k: dict(sorted(v.items())) for k, v in self.inputs.items()}
        self._values: dict[str, np.ndarray | None] = {}

    def by_type(self, *types: str) -> list[_Layer]:
        return [layer for layer in self.layers.values() if layer.type in types]

    def input_ids(self, layer_id: str) -> list[str]:
        return list(self.inputs.get(layer_id, {}).values())

    def _const(self, layer: _Layer) -> np.ndarray:
        d = layer.data
        etype = d.get("element_type", "")
        if etype not in _DTYPES:
            raise CheckpointError(f"{self.xml_path}: layer {layer.name}: element type {etype!r} not supported")
        dtype = np.dtype(_DTYPES[etype])
        shape = tuple(int(v) for v in d.get("shape", "").split(",") if v.strip())
        offset, size = int(d.get("offset", 0)), int(d.get("size", 0))
        if offset + size > len(self.weights) or size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise CheckpointError(f"{self.bin_path}: constant {layer.name} (bytes {offset}..{offset + size}) "
                                  f"does not fit the {len(self.weights)}-byte weights file (truncated or "
                                  f"from another model?)")
        return np.frombuffer(self.weights[offset:offset + size].tobytes(), dtype).reshape(shape)

    def value(self, layer_id: str) -> np.ndarray | None:
        """The layer's output if it depends on constants only (float32 for float/decompressed data),
        else None."""
        if layer_id in self._values:
            return self._values[layer_id]
        layer = self.layers[layer_id]
        if layer.type == "Const":
            out = self._const(layer)
        else:
            args = [self.value(i) for i in self.input_ids(layer_id)]
            out = None if any(a is None for a in args) or not args else _evaluate(layer, args)
        self._values[layer_id] = out
        return out


def _evaluate(layer: _Layer, args: list[np.ndarray]) -> np.ndarray | None:
    """numpy twin of the few ops weight (de)compression uses; None for anything else."""
    t = layer.type
    f32 = lambda a: np.asarray(a, np.float32)   # noqa: E731
    if t == "Convert":
        dest = layer.data.get("destination_type", "f32")
        return f32(args[0]) if dest in ("f16", "f32", "f64") else args[0].astype(_DTYPES.get(dest, np.float32))
    if t == "Subtract":
        return f32(args[0]) - f32(args[1])
    if t == "Multiply":
        return f32(args[0]) * f32(args[1])
    if t == "Add":
        return f32(args[0]) + f32(args[1])
    if t == "Divide":
        return f32(args[0]) / f32(args[1])
    if t == "Reshape":
        return _reshape(args[0], args[1], layer.data.get("special_zero", "false") == "true")
    if t == "Transpose":
        return np.transpose(args[0], tuple(int(v) for v in args[1]))
    if t in ("Squeeze", "Unsqueeze") and len(args) == 2:
        axes = tuple(int(v) for v in np.atleast_1d(args[1]))
        return np.squeeze(args[0], axes) if t == "Squeeze" else np.expand_dims(args[0], axes)
    if t == "FakeQuantize":
        return fake_quantize(*(f32(a) for a in args[:5]), levels=int(layer.data["levels"]))
    return None


def _reshape(x: np.ndarray, shape: np.ndarray, special_zero: bool) -> np.ndarray:
    dims = [int(v) for v in np.atleast_1d(shape)]
    if special_zero:
        dims = [x.shape[i] if v == 0 else v for i, v in enumerate(dims)]
    return x.reshape(dims)


def fake_quantize(x, in_low, in_high, out_low, out_high, *, levels: int) -> np.ndarray:
    """OpenVINO FakeQuantize (opset1), elementwise with numpy broadcasting."""
    q = np.round((x - in_low) / (in_high - in_low) * (levels - 1))
    y = q / (levels - 1) * (out_high - out_low) + out_low
    y = np.where(x <= np.minimum(in_low, in_high), out_low, y)
    return np.where(x > np.maximum(in_low, in_high), out_high, y).astype(np.float32)


# ---- convolutions with their folded scale / bias -------------------------------------------------

@dataclass
class IRConv:
    name: str              # Caffe layer name ("/WithoutBiases" dropped)
    layer_id: str          # the (Group)Convolution
    out_id: str            # the last op folded into it (its bias Add), what consumers see
    weight: np.ndarray     # float32, PyTorch layout: OIHW, depthwise (C, 1, kh, kw)
    bias: np.ndarray | None
    depthwise: bool
    strides: tuple
    dilations: tuple
    pads: tuple            # (begin, end) per spatial axis, as written in the IR


def _ints(text: str) -> tuple:
    return tuple(int(v) for v in text.split(",") if v.strip()) if text else ()


def _per_channel(value: np.ndarray | None, channels: int) -> np.ndarray | None:
    """A (1, C, 1, 1) / (C,) / scalar constant as a (C,) vector, or None if it is not per-channel."""
    if value is None or value.size not in (1, channels):
        return None
    if value.ndim == 4 and value.size == channels and value.shape[1] != channels:
        return None
    return np.broadcast_to(value.astype(np.float32).reshape(-1), (channels,)).copy()


def conv_layers(graph: IRGraph) -> dict[str, IRConv]:
    """Every convolution of the IR by Caffe name, weights evaluated, trailing per-channel
    Multiply/Add constants folded into weight and bias."""
    convs: dict[str, IRConv] = {}
    for layer in graph.by_type(*_CONV_TYPES):
        ids = graph.input_ids(layer.id)
        weight = graph.value(ids[1]) if len(ids) == 2 else None
        if weight is None:
            raise CheckpointError(f"{graph.xml_path}: layer {layer.name}: weights are not constant")
        weight = weight.astype(np.float32)
        depthwise = layer.type == "GroupConvolution"
        if depthwise:   # (G, O/G, I/G, kh, kw)
            g, o, i = weight.shape[:3]
            if o != 1 or i != 1:
                raise CheckpointError(f"{graph.xml_path}: layer {layer.name}: grouped convolution "
                                      f"{weight.shape} is not depthwise")
            weight = weight.reshape(g, 1, *weight.shape[3:])
        channels = weight.shape[0]
        bias = None
        out_id = layer.id
        while True:   # fold a chain of per-channel Multiply / Add constants (BN, bias)
            nxt = graph.consumers.get(out_id, [])
            if len(nxt) != 1 or graph.layers[nxt[0]].type not in ("Multiply", "Add"):
                break
            other = [i for i in graph.input_ids(nxt[0]) if i != out_id]
            vec = _per_channel(graph.value(other[0]), channels) if len(other) == 1 else None
            if vec is None:
                break
            if graph.layers[nxt[0]].type == "Multiply":
                weight = weight * vec[:, None, None, None]
                bias = None if bias is None else bias * vec
            else:
                bias = vec if bias is None else bias + vec
            out_id = nxt[0]
        d = layer.data
        pads_b, pads_e = _ints(d.get("pads_begin", "")), _ints(d.get("pads_end", ""))
        name = re.sub(r"/WithoutBiases$", "", layer.name)
        convs[name] = IRConv(name, layer.id, out_id, weight, bias, depthwise, _ints(d.get("strides", "")),
                             _ints(d.get("dilations", "")), tuple(zip(pads_b, pads_e)))
    if not convs:
        raise CheckpointError(f"{graph.xml_path}: the IR has no convolutions")
    return convs


def input_scaling(graph: IRGraph, first_conv: IRConv) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, offset) the IR applies to its input before the stem convolution
    (x * scale + offset, in the IR's channel order)."""
    scale, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    current = graph.input_ids(first_conv.layer_id)[0]
    chain = []
    while graph.layers[current].type != "Parameter":
        layer = graph.layers[current]
        ids = graph.input_ids(current)
        if layer.type in ("FakeQuantize", "Convert"):
            current = ids[0]
            continue
        consts = [i for i in ids if graph.value(i) is not None]
        data = [i for i in ids if i not in consts]
        if layer.type not in ("Multiply", "Add", "Subtract") or len(data) != 1 or len(consts) != 1:
            raise CheckpointError(f"{graph.xml_path}: layer {layer.name} ({layer.type}) between the input "
                                  f"and {first_conv.name} is not a per-channel scale or offset")
        vec = _per_channel(graph.value(consts[0]), 3)
        if vec is None:
            raise CheckpointError(f"{graph.xml_path}: layer {layer.name}: constant is not per-channel")
        chain.append((layer.type, vec))
        current = data[0]
    for kind, vec in reversed(chain):   # from the input towards the conv
        if kind == "Multiply":
            scale, offset = scale * vec, offset * vec
        else:
            offset = offset + (vec if kind == "Add" else -vec)
    return scale, offset


def producer_conv(graph: IRGraph, layer_id: str, convs_by_out: dict[str, IRConv]) -> IRConv | None:
    """The convolution whose output reaches `layer_id` through activations / FakeQuantize only."""
    current = layer_id
    for _ in range(16):
        if current in convs_by_out:
            return convs_by_out[current]
        layer = graph.layers[current]
        if layer.type not in _PASS_THROUGH:
            return None
        current = graph.input_ids(current)[0]
    return None


# ---- IR names <-> our layers ----------------------------------------------------------------------

_MOBILENET = ["conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2", "conv5_1", "conv5_2",
              "conv5_3", "conv5_4", "conv5_5"]


def ir_names(num_refinement_stages: int) -> dict[str, str]:
    """{Caffe layer name in the IR: our conv layer prefix (PyTorch state_dict naming)}."""
    table = {"conv1": "model.0.0"}
    for i, block in enumerate(_MOBILENET, start=1):
        table[f"{block}/dw"] = f"model.{i}.0"
        table[f"{block}/sep"] = f"model.{i}.3"
    table.update({"conv4_3_CPM/al": "cpm.align.0", "conv4_3_CPM/red": "cpm.reduce.0",
                  "conv4_3_CPM/dw1": "cpm.trunk.0.0", "conv4_3_CPM/dw1/1x1": "cpm.trunk.0.2",
                  "conv4_3_CPM/dw2": "cpm.trunk.1.0", "conv4_3_CPM/dw2/1x1": "cpm.trunk.1.2",
                  "conv4_3_CPM/dw3": "cpm.trunk.2.0", "conv4_3_CPM/inc": "cpm.trunk.2.2",
                  "conv4_4_CPM": "cpm.conv.0"})
    for j in range(3):
        table[f"conv5_{j + 1}_CPM_L1"] = f"initial_stage.trunk.{j}.0"
    table.update({"conv5_4_CPM_L2": "initial_stage.heatmaps.0.0", "conv5_5_CPM_L2": "initial_stage.heatmaps.1.0",
                  "conv5_4_CPM_L1": "initial_stage.pafs.0.0", "conv5_5_CPM_L1": "initial_stage.pafs.1.0"})
    for s in range(num_refinement_stages):
        n, ours = s + 2, f"refinement_stages.{s}"
        for j in range(5):
            block = f"Mconv{j + 1}_stage{n}_L1"
            table[f"{block}/sq"] = f"{ours}.trunk.{j}.initial.0"
            table[f"{block}/3x3"] = f"{ours}.trunk.{j}.trunk.0.0"
            table[f"{block}/3x3/2"] = f"{ours}.trunk.{j}.trunk.1.0"
        table.update({f"Mconv6_stage{n}_L2": f"{ours}.heatmaps.0.0", f"Mconv7_stage{n}_L2": f"{ours}.heatmaps.1.0",
                      f"Mconv6_stage{n}_L1": f"{ours}.pafs.0.0", f"Mconv7_stage{n}_L1": f"{ours}.pafs.1.0"})
    return table


def refinement_stages(convs: dict[str, IRConv], source: str) -> int:
    stages = sorted({int(m.group(1)) for name in convs if (m := re.match(r"Mconv\d+_stage(\d+)_L[12]", name))})
    if stages and stages != list(range(2, 2 + len(stages))):
        raise CheckpointError(f"{source}: refinement stages {stages} are not numbered 2..N")
    return len(stages)


# ---- IR -> state_dict -> Keras --------------------------------------------------------------------

def _concat_permutation(graph: IRGraph, conv: IRConv, convs: dict[str, IRConv], roles: dict[str, str],
                        keras_order: list[tuple[str, int]], source: str) -> np.ndarray:
    """Input-channel index array turning the IR's concat order into ours. keras_order: [(role, channels)]."""
    concat = graph.input_ids(conv.layer_id)[0]
    if graph.layers[concat].type != "Concat":
        raise CheckpointError(f"{source}: layer {conv.name}: input is {graph.layers[concat].type}, not the "
                              f"stage input Concat")
    by_out = {c.out_id: c for c in convs.values()}
    start, ranges = 0, {}
    for part in graph.input_ids(concat):
        producer = producer_conv(graph, part, by_out)
        role = roles.get(producer.name) if producer else None
        if role is None:
            raise CheckpointError(f"{source}: {graph.layers[concat].name}: input "
                                  f"{graph.layers[part].name} is not features, heatmaps or PAFs")
        n = producer.weight.shape[0]
        ranges[role] = np.arange(start, start + n)
        start += n
    want = [r for r, _ in keras_order]
    if sorted(ranges) != sorted(want) or [len(ranges[r]) for r in want] != [n for _, n in keras_order]:
        raise CheckpointError(f"{source}: layer {conv.name}: stage input {[(r, len(v)) for r, v in ranges.items()]}"
                              f", the architecture expects {keras_order}")
    return np.concatenate([ranges[r] for r in want])


def ir_state_dict(graph: IRGraph, model, convs: dict[str, IRConv], stages: int) -> dict[str, np.ndarray]:
    """A PyTorch-style state_dict for `model` (lightweight_openpose, cpm="icv") from the IR's convolutions;
    shape, stride and dilation mismatches name the IR layer, our layer and both shapes."""
    from pose_core.convert.lwopenpose import _torch_shape
    from pose_core.models.lightweight_openpose import torch_key_map

    source = str(graph.xml_path)
    mapping = torch_key_map(model)
    table = ir_names(stages)
    keras_layers = {layer.name: layer for layer in model.layers}
    unused = [name for name in convs if name not in table]
    if unused:
        raise CheckpointError(f"{source}: IR layer {unused[0]} {convs[unused[0]].weight.shape} has no "
                              f"layer in the Keras model (not Lightweight OpenPose?)")
    roles = {"conv4_4_CPM": "features"}
    for n in range(1, stages + 2):
        heat = "conv5_5_CPM_L2" if n == 1 else f"Mconv7_stage{n}_L2"
        roles[heat], roles[heat.replace("_L2", "_L1")] = "heatmaps", "pafs"

    state: dict[str, np.ndarray] = {}
    for ir_name, ours in table.items():
        layer = keras_layers.get(ours)
        if layer is None:
            continue   # e.g. cpm.reduce in a "pytorch" build: caught as unused below
        if ir_name not in convs:
            raise CheckpointError(f"{source}: IR has no layer {ir_name} (for {ours})")
        conv = convs[ir_name]
        kind = mapping[f"{ours}.weight"][2]
        expected = _torch_shape(tuple(layer.weights[0].shape), kind)
        if conv.weight.shape != expected:
            raise CheckpointError(f"{source}: IR layer {ir_name} has weights {conv.weight.shape}, the "
                                  f"architecture's {ours} expects {expected}")
        ours_strides, ours_dil = tuple(layer.strides), tuple(layer.dilation_rate)
        if conv.strides != ours_strides or conv.dilations != ours_dil:
            raise CheckpointError(f"{source}: IR layer {ir_name} has strides {conv.strides} dilations "
                                  f"{conv.dilations}, the architecture's {ours} has {ours_strides} {ours_dil}")
        weight, bias = conv.weight, conv.bias
        if re.fullmatch(r"Mconv1_stage\d+_L1/sq", ir_name):   # a refinement stage's first conv
            n_heat, n_paf = (int(keras_layers[f"initial_stage.{h}.1.0"].weights[0].shape[-1])
                             for h in ("heatmaps", "pafs"))
            features = weight.shape[1] - n_heat - n_paf
            perm = _concat_permutation(graph, conv, convs, roles,
                                       [("features", features), ("heatmaps", n_heat), ("pafs", n_paf)], source)
            weight = weight[:, perm]
        if ours == "model.0.0":
            weight, bias = _fold_input_scaling(graph, conv, weight, bias)
        state[f"{ours}.weight"] = weight
        prefix, index = ours.rsplit(".", 1)
        bn = f"{prefix}.{int(index) + 1}"   # PyTorch Sequential: the BN right after its conv
        bn = bn if f"{bn}.running_mean" in mapping else None
        channels = weight.shape[0]
        bias = np.zeros(channels, np.float32) if bias is None else bias
        if f"{ours}.bias" in mapping:
            state[f"{ours}.bias"] = bias
            bias = np.zeros(channels, np.float32)
        if bn:   # the IR's batch norm is folded: ours becomes the identity plus what bias is left
            state.update({f"{bn}.weight": np.ones(channels, np.float32), f"{bn}.bias": bias,
                          f"{bn}.running_mean": np.zeros(channels, np.float32),
                          f"{bn}.running_var": np.full(channels, 1.0 - _BN_EPS, np.float32)})
        elif np.max(np.abs(bias)) > 1e-6:
            raise CheckpointError(f"{source}: IR layer {ir_name} has a bias (max {np.max(np.abs(bias)):.3g}); "
                                  f"the architecture's {ours} has none")
    missing = [k for k in mapping if k not in state]
    if missing:
        raise CheckpointError(f"{source}: no IR layer for {mapping[missing[0]][0]} (Keras) - not the "
                              f"Lightweight OpenPose the IR describes?")
    return state


def _fold_input_scaling(graph: IRGraph, stem: IRConv, weight: np.ndarray, bias):
    """Our model feeds the stem (x - 128) / 256; the IR feeds it x * scale + offset. Equal (padding
    included) when offset = -128 * scale: the kernel takes the ratio. A different mean leaves a constant
    that is exact inside the image and approximate on the border pixels (logged)."""
    scale, offset = input_scaling(graph, stem)
    ratio = scale / _OUR_SCALE                     # per input channel (IR order)
    constant = _OUR_MEAN * scale + offset          # what (x - 128) / 256 * ratio misses
    weight = weight * ratio[None, :, None, None]
    if np.max(np.abs(constant)) > 1e-6:
        log.warning("%s: the IR's input mean is not 128; border pixels of the stem differ slightly",
                    graph.xml_path)
        shift = np.einsum("oihw,i->o", stem.weight, constant)
        bias = shift if bias is None else bias + shift
    return weight, bias


@dataclass
class ImportedIR:
    model: object          # training model (dict of every stage's maps)
    params: dict
    input_scale: np.ndarray
    input_offset: np.ndarray
    quantized: bool        # the IR carried FakeQuantize (int8) nodes


def convert_openvino_ir(xml_path: str | Path, *, layout: str = "openpose18",
                        bin_path: str | Path | None = None) -> ImportedIR:
    """Build our Keras Lightweight OpenPose sized like the IR and load its weights."""
    graph = IRGraph(xml_path, bin_path)
    try:
        return _convert(graph, layout)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        # Well-formed xml whose edges / attributes do not describe a consistent graph.
        raise CheckpointError(f"{graph.xml_path}: malformed IR ({type(exc).__name__}: {exc})") from None


def _convert(graph: IRGraph, layout: str) -> ImportedIR:
    source = str(graph.xml_path)
    if not graph.by_type("Parameter"):
        raise CheckpointError(f"{source}: the IR has no input (Parameter) layer")
    convs = conv_layers(graph)
    for name in ("conv1", "conv4_3_CPM/al", "conv5_5_CPM_L1", "conv5_5_CPM_L2"):
        if name not in convs:
            raise CheckpointError(f"{source}: no layer {name}: not Open Model Zoo's Lightweight OpenPose")
    stages = refinement_stages(convs, source)
    params = {"num_refinement_stages": stages, "num_channels": int(convs["conv4_3_CPM/al"].weight.shape[0]),
              "alpha": convs["conv1"].weight.shape[0] / 32.0,
              "cpm": "icv" if "conv4_3_CPM/red" in convs else "pytorch"}

    from pose_core.convert.lwopenpose import load_state_dict_into
    from pose_core.layouts import get_layout
    from pose_core.models import build_model
    from pose_core.models.common import paf_channels

    target = get_layout(layout)
    heat, paf = convs["conv5_5_CPM_L2"].weight.shape[0], convs["conv5_5_CPM_L1"].weight.shape[0]
    if (heat, paf) != (target.num_keypoints + 1, paf_channels(target)):
        raise CheckpointError(f"{source}: IR has {heat} heatmaps / {paf} PAFs (conv5_5_CPM_L2 / _L1), layout "
                              f"{layout} needs {target.num_keypoints + 1} / {paf_channels(target)}")
    model = build_model("lightweight_openpose", layout=layout, **params)
    state = ir_state_dict(graph, model, convs, stages)
    load_state_dict_into(model, state, bgr_input=True, source=source)
    scale, offset = input_scaling(graph, convs["conv1"])
    quantized = bool(graph.by_type("FakeQuantize")) or any(
        graph.layers[i].data.get("element_type") in ("i8", "u8") for i in graph.layers
        if graph.layers[i].type == "Const")
    log.info("%s: %d convolutions, %d refinement stage(s), input x*%s%+.4f, %s", source, len(convs), stages,
             np.round(scale, 6).tolist(), float(offset[0]), "int8 weights" if quantized else "float weights")
    return ImportedIR(model, params, scale, offset, quantized)
