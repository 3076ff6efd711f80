"""Batch-norm folding: every BatchNormalization that directly follows a convolution merged into that
convolution's kernel and bias, so exported files carry no training-only statistics."""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _producer(tensor):
    return tensor._keras_history.operation


def _foldable_pairs(model) -> dict[str, str]:
    """{conv layer name: BN layer name} for every BN whose only input is a Conv2D/DepthwiseConv2D output
    that nothing else consumes (then y = BN(conv(x)) is exactly a conv with rescaled kernel and a bias)."""
    import keras
    consumers: dict[int, int] = {}
    bn_inputs = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                consumers[id(_producer(t))] = consumers.get(id(_producer(t)), 0) + 1
            if isinstance(layer, keras.layers.BatchNormalization) and len(node.input_tensors) == 1:
                bn_inputs[layer.name] = _producer(node.input_tensors[0])
    pairs = {}
    for bn_name, conv in bn_inputs.items():
        bn = model.get_layer(bn_name)
        if (type(conv) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
                and consumers.get(id(conv)) == 1 and len(bn._inbound_nodes) == 1
                and len(conv._inbound_nodes) == 1 and bn.axis in (-1, 3, [3], [-1])):
            pairs[conv.name] = bn_name
    return pairs


def _folded_weights(conv, bn) -> tuple[np.ndarray, np.ndarray]:
    import keras
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    shift = beta - bn.moving_mean.numpy() * scale
    kernel = conv.kernel.numpy()
    bias = conv.bias.numpy() if conv.use_bias else np.zeros(scale.shape, np.float32)
    if isinstance(conv, keras.layers.DepthwiseConv2D):   # kernel (kh, kw, C, m); output channel c*m + j
        kh, kw, c, m = kernel.shape
        kernel = kernel * scale.reshape(c, m)[None, None]
    else:
        kernel = kernel * scale
    return kernel.astype(np.float32), (bias * scale + shift).astype(np.float32)


def fold_batchnorm(model):
    """A copy of `model` with each conv->BN pair fused into the conv (BN replaced by an identity layer).
    Training-only state (BN statistics) is baked in; the copy is for inference/export only."""
    import keras

    from pose_core.models.layers import FoldedBatchNorm
    pairs = _foldable_pairs(model)
    folded_bns = set(pairs.values())

    def clone(layer):
        config = layer.get_config()
        if layer.name in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        if layer.name in pairs:
            config["use_bias"] = True
            config["bias_initializer"] = "zeros"
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in folded.layers:
        src = model.get_layer(layer.name)
        if layer.name in pairs:
            layer.set_weights(list(_folded_weights(src, model.get_layer(pairs[layer.name]))))
        elif layer.name not in folded_bns and src.weights:
            layer.set_weights(src.get_weights())
    log.info("folded %d batch norms into their convolutions", len(pairs))
    return folded
