"""TF.js graph-model runtime: model.json topology + binary weight shards -> a TF2 concrete function.

A TF.js graph model is a GraphDef written as JSON (`modelTopology.node`), with every Const node's value
stripped out and stored in weight shards described by `weightsManifest`. We rebuild a real GraphDef:
parse the nodes with protobuf's json_format, put the decoded weights back as Const tensors, replace the
TF.js-only fused ops with the stock TensorFlow ops they stand for, and import the graph with
tf.compat.v1.wrap_function, pruned to the signature's input and output. Nothing is converted on disk:
the function computes exactly what the TF.js graph computes (weights are decoded the way TF.js decodes them).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from pose_core.errors import ModelError
from pose_core.runtimes.base import Runtime

log = logging.getLogger(__name__)

# Bytes per stored element for each manifest dtype (the dtype actually in the shard bytes).
_STORED_DTYPES = {
    "float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1"),
    "float16": np.dtype("<f2"), "uint8": np.dtype("u1"), "uint16": np.dtype("<u2"),
}
_VALUE_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


# ---------------------------------------------------------------------------------------------- weights
def decode_weight(raw: bytes | memoryview, spec: dict) -> np.ndarray:
    """One manifest entry's bytes -> its array. `spec` is the entry: name, shape, dtype and an optional
    `quantization` {dtype, min, scale} (uint8/uint16: value = q * scale + min; float16: a plain cast)."""
    shape = [int(d) for d in spec.get("shape", [])]
    dtype = spec.get("dtype", "float32")
    if dtype not in _VALUE_DTYPES:
        raise ModelError(f"TF.js weight {spec.get('name')!r}: unsupported dtype {dtype!r}")
    quant = spec.get("quantization") or {}
    stored = quant.get("dtype", dtype)
    if stored not in _STORED_DTYPES:
        raise ModelError(f"TF.js weight {spec.get('name')!r}: unsupported quantization dtype {stored!r}")
    values = np.frombuffer(raw, dtype=_STORED_DTYPES[stored], count=int(np.prod(shape, dtype=np.int64)))
    if stored in ("uint8", "uint16"):
        if "scale" not in quant or "min" not in quant:
            raise ModelError(f"TF.js weight {spec.get('name')!r}: {stored} quantization without min/scale")
        values = values.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        if dtype == "int32":  # TF.js rounds dequantised integers back to int
            values = np.round(values)
    return values.astype(_VALUE_DTYPES[dtype]).reshape(shape)


def _byte_size(spec: dict) -> int:
    stored = (spec.get("quantization") or {}).get("dtype", spec.get("dtype", "float32"))
    if stored not in _STORED_DTYPES:
        raise ModelError(f"TF.js weight {spec.get('name')!r}: unsupported dtype {stored!r}")
    return int(np.prod([int(d) for d in spec.get("shape", [])], dtype=np.int64)) * _STORED_DTYPES[stored].itemsize


def read_weights(manifest: list[dict], base_dir: Path) -> dict[str, np.ndarray]:
    """All weights of a weightsManifest. Each group's shards (`paths`) are one byte stream, cut into
    weights in manifest order. A missing or short shard raises ModelError naming the file."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        chunks = []
        for rel in group.get("paths", []):
            shard = base_dir / rel
            if not shard.is_file():
                raise ModelError(f"TF.js weight shard missing: {shard}")
            chunks.append(shard.read_bytes())
        buffer = memoryview(b"".join(chunks))
        offset = 0
        for spec in group.get("weights", []):
            size = _byte_size(spec)
            if offset + size > len(buffer):
                raise ModelError(f"TF.js weight shards {group.get('paths')} in {base_dir} are too short: "
                                 f"{spec.get('name')!r} needs bytes {offset}..{offset + size}, "
                                 f"shards hold {len(buffer)}")
            weights[spec["name"]] = decode_weight(buffer[offset:offset + size], spec)
            offset += size
        if offset != len(buffer):
            log.warning("TF.js shards %s: %d trailing bytes not described by the manifest",
                        group.get("paths"), len(buffer) - offset)
    return weights


# ------------------------------------------------------------------------------------------------ graph
# TF.js's converter fuses Conv2D/DepthwiseConv2dNative/MatMul with their bias and activation into ops
# that either only exist in TF.js (FusedDepthwiseConv2dNative) or are TF-internal grappler ops
# (_FusedConv2D: no TFLite conversion, device-specific kernels). Splitting them back gives a portable graph.
_FUSED_BASE = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
               "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative", "_FusedMatMul": "MatMul"}
_BASE_ATTRS = {
    "Conv2D": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu"),
    "DepthwiseConv2dNative": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations"),
    "MatMul": ("T", "transpose_a", "transpose_b"),
}
_ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"}


def _split_fused(node, tf) -> list:
    """One fused node -> the equivalent chain of stock nodes; the last keeps the fused node's name so
    every consumer still finds it."""
    from tensorflow.core.framework import node_def_pb2

    base_op = _FUSED_BASE[node.op]
    fused = [s.decode() for s in node.attr["fused_ops"].list.s]
    x, w, *args = node.input
    dtype = node.attr["T"]
    chain = []

    def make(op, name, inputs, **attrs):
        n = node_def_pb2.NodeDef(name=name, op=op, input=list(inputs))
        n.attr["T"].CopyFrom(dtype)
        for k, v in attrs.items():
            n.attr[k].CopyFrom(v)
        chain.append(n)
        return name

    base_attrs = {k: node.attr[k] for k in _BASE_ATTRS[base_op] if k in node.attr and k != "T"}
    if "explicit_paddings" in base_attrs and node.attr["padding"].s != b"EXPLICIT":
        base_attrs.pop("explicit_paddings")
    out = make(base_op, f"{node.name}/_base", [x, w], **base_attrs)
    ops = list(fused)
    if ops and ops[0] == "BiasAdd":
        ops.pop(0)
        out = make("BiasAdd", f"{node.name}/_bias", [out, args.pop(0)],
                   **({"data_format": node.attr["data_format"]} if "data_format" in node.attr else {}))
    elif ops and ops[0] in ("FusedBatchNorm", "FusedBatchNormV3"):
        ops.pop(0)
        scale, offset, mean, var = args[:4]
        args = args[4:]
        eps = node.attr["epsilon"].f
        # y = (x - mean) * scale / sqrt(var + eps) + offset, in stock ops so nothing is device-specific
        eps_name = f"{node.name}/_bn_eps"
        chain.append(_const_node(eps_name, np.float32(eps), tf))
        inv_std = make("Rsqrt", f"{node.name}/_bn_inv_std", [make("AddV2", f"{node.name}/_bn_var_eps",
                                                                   [var, eps_name])])
        factor = make("Mul", f"{node.name}/_bn_factor", [inv_std, scale])
        centred = make("Sub", f"{node.name}/_bn_centred", [out, mean])
        out = make("AddV2", f"{node.name}/_bn", [make("Mul", f"{node.name}/_bn_scaled", [centred, factor]), offset])
    if ops and ops[0] == "Add":
        ops.pop(0)
        out = make("AddV2", f"{node.name}/_add", [out, args.pop(0)])
    if ops:
        act = ops.pop(0)
        if act in _ACTIVATIONS:
            attrs = {}
            if act == "LeakyRelu" and "leakyrelu_alpha" in node.attr:
                attrs["alpha"] = node.attr["leakyrelu_alpha"]
            out = make(act, f"{node.name}/_act", [out], **attrs)
        elif act == "Prelu":  # TF.js-only: relu(x) + alpha * min(x, 0), with min(x, 0) = x - relu(x)
            alpha = args.pop(0)
            pos = make("Relu", f"{node.name}/_prelu_pos", [out])
            neg = make("Sub", f"{node.name}/_prelu_neg", [out, pos])
            out = make("AddV2", f"{node.name}/_prelu", [pos, make("Mul", f"{node.name}/_prelu_scaled", [alpha, neg])])
        else:
            raise ModelError(f"TF.js node {node.name!r}: unsupported fused op {act!r} in {node.op}")
    if ops:
        raise ModelError(f"TF.js node {node.name!r}: unsupported fused ops {fused} in {node.op}")
    chain[-1].name = node.name
    # Control inputs of the fused node must still hold for the whole chain.
    chain[0].input.extend(i for i in node.input if i.startswith("^"))
    return chain


def _const_node(name: str, value: np.ndarray, tf):
    from tensorflow.core.framework import node_def_pb2

    n = node_def_pb2.NodeDef(name=name, op="Const")
    n.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return n


def build_graph_def(topology: dict, weights: dict[str, np.ndarray], tf):
    """modelTopology (JSON dict) + decoded weights -> tf.compat.v1.GraphDef with stock TF ops only."""
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2, node_def_pb2

    graph_def = graph_pb2.GraphDef()
    for raw in topology.get("node", []):
        try:
            node = json_format.ParseDict(raw, node_def_pb2.NodeDef(), ignore_unknown_fields=True)
        except json_format.ParseError as e:
            raise ModelError(f"TF.js node {raw.get('name')!r} is malformed: {e}") from None
        node.device = ""  # converter-time placement (e.g. /device:CPU:0) must not pin our graph
        if node.op == "Const":
            if node.name not in weights:
                raise ModelError(f"TF.js Const {node.name!r} has no weight in the manifest")
            value = weights[node.name]
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
            graph_def.node.append(node)
        elif node.op in _FUSED_BASE:
            graph_def.node.extend(_split_fused(node, tf))
        else:
            graph_def.node.append(node)
    if topology.get("library"):  # functions (control flow); empty for the MoveNets
        json_format.ParseDict(topology["library"], graph_def.library, ignore_unknown_fields=True)
    if topology.get("versions"):
        graph_def.versions.producer = int(topology["versions"].get("producer", 0))
    return graph_def


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"


def load_model_json(path: Path) -> dict:
    """Parse and sanity-check a TF.js model.json (ModelError on anything unusable)."""
    try:
        model = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"TF.js model not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"TF.js model {path} is not valid JSON: {e}") from None
    if not isinstance(model, dict) or not isinstance(model.get("modelTopology"), dict) \
            or "node" not in model["modelTopology"] or "weightsManifest" not in model:
        raise ModelError(f"TF.js model {path} has no graph-model modelTopology.node / weightsManifest "
                         "(layers-models are not supported)")
    return model


class TFJSRuntime(Runtime):
    """Runs a TF.js graph model (model.json + weight shards beside it) as a TF2 concrete function.

    inputs/outputs: tensor names; default: the model.json signature (outputs in signature order).
    `self.function` is the pruned TF2 concrete function (one input tensor -> list of outputs)."""

    kind = "tfjs"

    def __init__(self, path: str | Path, inputs: list[str] | None = None, outputs: list[str] | None = None,
                 device: str = "cpu"):
        import tensorflow as tf

        from pose_core.runtimes.device import describe_tf_device, tf_device

        self.path = Path(path)
        model = load_model_json(self.path)
        weights = read_weights(model["weightsManifest"], self.path.parent)
        graph_def = build_graph_def(model["modelTopology"], weights, tf)
        signature = model.get("signature") or model["modelTopology"].get("signature") or {}
        if not inputs:
            inputs = [v["name"] for v in signature.get("inputs", {}).values()] or \
                     [n.name for n in graph_def.node if n.op == "Placeholder"]
        if not outputs:
            outputs = [v["name"] for v in signature.get("outputs", {}).values()]
        if len(inputs) != 1 or not outputs:
            raise ModelError(f"TF.js model {self.path}: need exactly one input and at least one output "
                             f"(got inputs={inputs}, outputs={outputs})")
        self.input_name, self.output_names = _tensor_name(inputs[0]), [_tensor_name(o) for o in outputs]

        placeholder = next((n for n in graph_def.node if n.name == self.input_name.split(":")[0]), None)
        if placeholder is None or placeholder.op != "Placeholder":
            raise ModelError(f"TF.js model {self.path}: input {self.input_name} is not a Placeholder")
        self.input_dtype = np.dtype(tf.as_dtype(placeholder.attr["dtype"].type).as_numpy_dtype)
        dims = [d.size for d in placeholder.attr["shape"].shape.dim]
        self.input_shape = tuple(dims)  # e.g. (1, -1, -1, 3); -1 = any
        self.fixed_input_size = (dims[2], dims[1]) if len(dims) == 4 and dims[1] > 0 and dims[2] > 0 else None
        # Graphs exported with batch 1 (all MoveNets) are run image by image.
        self._batch_one = len(dims) == 4 and dims[0] == 1
        self.batched = not self._batch_one

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        try:
            wrapped = tf.compat.v1.wrap_function(_import, [])
            graph = wrapped.graph
            self.function = wrapped.prune(graph.get_tensor_by_name(self.input_name),
                                          [graph.get_tensor_by_name(o) for o in self.output_names])
        except (ValueError, KeyError, tf.errors.OpError) as e:
            raise ModelError(f"TF.js model {self.path} could not be rebuilt as a TF graph: "
                             f"{str(e).splitlines()[0]}") from None
        self._tf = tf
        self._tf_device = tf_device(device)
        self.device = describe_tf_device(self._tf_device)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.asarray(batch)
        if batch.ndim != 4:
            raise ModelError(f"TF.js runtime expects an NHWC batch, got shape {batch.shape}")
        if self.input_dtype.kind in "iu" and batch.dtype.kind == "f":
            batch = np.clip(np.rint(batch), 0, 255)  # int models take pixel values, not rescaled floats
        batch = batch.astype(self.input_dtype, copy=False)
        expected = self.input_shape
        if len(expected) == 4 and any(e > 0 and e != g for e, g in zip(expected[1:], batch.shape[1:])):
            want = ", ".join(str(e) if e > 0 else "any" for e in expected[1:])
            raise ModelError(f"{self.path.name} takes input (N, {want}), got {batch.shape}")
        if self._batch_one and len(batch) != 1:
            per_image = [self(batch[i:i + 1]) for i in range(len(batch))]
            return [np.concatenate(parts) for parts in zip(*per_image)]
        with self._tf.device(self._tf_device):
            outputs = self.function(self._tf.constant(batch))
        return [o.numpy() for o in outputs]

    def to_tflite(self, input_size: tuple[int, int] | None = None, dynamic_range_int8: bool = False) -> bytes:
        """The graph as a TFLite flatbuffer (fp32, or int8 weights with dynamic-range quantisation).
        input_size (w, h) fixes the spatial size: MultiPose's shape-dependent ops only convert to TFLite
        builtins once H and W are static. fp32 matches this runtime to ~1e-6 (tested)."""
        tf = self._tf
        if input_size is None:
            if self.fixed_input_size is None:
                raise ModelError(f"{self.path.name} accepts any input size: pass input_size=(w, h)")
            input_size = self.fixed_input_size
        w, h = input_size
        spec = tf.TensorSpec([1, int(h), int(w), 3], tf.as_dtype(self.input_dtype))
        fn = tf.function(lambda x: self.function(x)).get_concrete_function(spec)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
        if dynamic_range_int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()

    def describe(self) -> str:
        return f"tfjs graph model ({self.path.name}) as TF function on {self.device}"
