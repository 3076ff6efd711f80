"""tf-pose-estimation frozen graph (graph_opt.pb) -> our Keras tfpose_mobilenet_v2_small.

The graph's weights are Const nodes feeding Conv2D / DepthwiseConv2dNative / FusedBatchNorm ops; the op's
scope names the Keras layer (see pose_core.models.tfpose_mobilenet_v2). Conv kernels are already HWIO /
HWC1 in TF, so values copy as they are. Besides shapes, each conv's strides and padding and each batch
norm's mode and epsilon are checked against the Keras layer, so a graph of another architecture is refused
instead of producing a silently wrong model.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pose_core.errors import CheckpointError

log = logging.getLogger(__name__)

GRAPH_INPUT = "image:0"
GRAPH_OUTPUT = "Openpose/concat_stage7:0"
_SCOPE_ROOTS = ("MobilenetV2/", "Openpose/")


def read_graph_def(path: str | Path):
    import tensorflow as tf

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf raises DecodeError or RuntimeWarning-like errors
        raise CheckpointError(f"{path}: not a TensorFlow GraphDef ({type(exc).__name__})") from None
    if not graph_def.node:
        raise CheckpointError(f"{path}: empty graph")
    return graph_def


def _layer_name(op_name: str, batch_norm: bool) -> str:
    scope = op_name.rsplit("/", 1)[0]            # drop the op itself (Conv2D, depthwise, FusedBatchNorm)
    if batch_norm:
        scope = scope.rsplit("/", 1)[0] + "_bn"  # drop "BatchNorm"
    for root in _SCOPE_ROOTS:
        if scope.startswith(root):
            scope = scope[len(root):]
    return scope.replace("/", "_")


def graph_weights(graph_def) -> dict[str, dict]:
    """Keras layer name -> {"weights": [arrays in Keras order], "strides", "padding", "training", "epsilon"}."""
    import tensorflow as tf

    consts = {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"}
    identities = {n.name: n.input[0] for n in graph_def.node if n.op == "Identity" and n.input}

    def const(input_name: str, op_name: str) -> np.ndarray:
        key = input_name.split(":")[0].lstrip("^")
        for _ in range(8):   # frozen graphs may keep `weights/read` Identity ops in front of the Const
            if key not in identities:
                break
            key = identities[key].split(":")[0]
        if key not in consts:
            raise CheckpointError(f"{op_name}: input {key} is not a constant (graph not frozen?)")
        return consts[key]

    layers: dict[str, dict] = {}
    for node in graph_def.node:
        if node.op in ("Conv2D", "DepthwiseConv2dNative"):
            name = _layer_name(node.name, batch_norm=False)
            layers[name] = {"op": node.name, "weights": [const(node.input[1], node.name)],
                            "strides": tuple(node.attr["strides"].list.i[1:3]),
                            "padding": node.attr["padding"].s.decode().lower()}
        elif node.op in ("FusedBatchNorm", "FusedBatchNormV3"):
            name = _layer_name(node.name, batch_norm=True)
            gamma, beta, mean, variance = (const(i, node.name) for i in node.input[1:5])
            training = bool(node.attr["is_training"].b)
            if training:
                weights = [gamma, beta]
            else:
                if not np.all(gamma == 1.0):
                    raise CheckpointError(f"{node.name}: gamma is not all ones; the Keras head has no scale")
                weights = [beta, mean, variance]
            layers[name] = {"op": node.name, "weights": weights, "training": training,
                            "epsilon": float(node.attr["epsilon"].f)}
    return layers


def load_into(model, graph_def) -> int:
    """Copy the graph's constants into `model` (from build_tfpose_mobilenet_v2_small). Returns the number
    of layers set. Raises CheckpointError naming the layer on any mismatch."""
    import keras

    from pose_core.models.tfpose_mobilenet_v2 import BatchStatsNormalization

    source = graph_weights(graph_def)
    targets = {layer.name: layer for layer in model.layers if layer.weights}
    missing = sorted(set(targets) - set(source))
    unused = sorted(set(source) - set(targets))
    if missing:
        raise CheckpointError(f"graph has no weights for Keras layer(s) {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''}")
    if unused:
        raise CheckpointError(f"graph op(s) {', '.join(source[n]['op'] for n in unused[:5])} have no "
                              f"matching Keras layer")
    for name, layer in targets.items():
        entry = source[name]
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(w.shape) for w in entry["weights"]]
        if expected != got:
            raise CheckpointError(f"layer {name} ({entry['op']}): graph shapes {got}, Keras expects {expected}")
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            if tuple(layer.strides) != entry["strides"] or layer.padding != entry["padding"]:
                raise CheckpointError(f"layer {name}: graph strides/padding {entry['strides']}/{entry['padding']}, "
                                      f"Keras {tuple(layer.strides)}/{layer.padding}")
        else:
            batch_stats = isinstance(layer, BatchStatsNormalization)
            if batch_stats != entry["training"] or not np.isclose(layer.epsilon, entry["epsilon"]):
                raise CheckpointError(f"layer {name}: graph batch norm training={entry['training']} "
                                      f"eps={entry['epsilon']:g} does not match {type(layer).__name__}")
        layer.set_weights([w.astype(np.float32) for w in entry["weights"]])
    log.info("copied %d layers from the graph", len(targets))
    return len(targets)


def convert_tfpose_graph(graph_path: str | Path):
    """Build our Keras model and fill it from the frozen graph. Returns the training model (dict of every
    stage's maps, for fine-tuning); pose_core.models.inference_model() of it is the graph's equivalent."""
    from pose_core.models.tfpose_mobilenet_v2 import build

    graph_def = read_graph_def(graph_path)
    model = build()
    load_into(model, graph_def)
    return model


def run_frozen_graph(graph_def, batch: np.ndarray) -> np.ndarray:
    """The reference: the frozen graph itself on `batch` (N, H, W, 3 raw BGR float)."""
    import tensorflow as tf

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    fn = wrapped.prune(wrapped.graph.get_tensor_by_name(GRAPH_INPUT),
                       wrapped.graph.get_tensor_by_name(GRAPH_OUTPUT))
    return fn(tf.constant(batch, tf.float32)).numpy()


def parity_error(model, graph_def, images_bgr: list[np.ndarray]) -> float:
    """Max |keras - graph| over BGR images (each run alone, batch of one, as the estimator does).
    model: the inference model (one output); it gets the same pixels in RGB order."""
    worst = 0.0
    for image in images_bgr:
        batch = image[None].astype(np.float32)
        expected = run_frozen_graph(graph_def, batch)
        got = np.asarray(model(np.ascontiguousarray(batch[..., ::-1]), training=False))
        if got.shape != expected.shape:
            raise CheckpointError(f"output shape {got.shape} != graph's {expected.shape}")
        worst = max(worst, float(np.max(np.abs(got - expected))))
    return worst
