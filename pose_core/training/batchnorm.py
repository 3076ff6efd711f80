"""Precise batch-norm statistics before export.

Keras BN keeps moving averages with momentum 0.99, i.e. an average over the last ~100 steps of
CHANGING weights; after short or small-batch training they lag the final weights, and the exported
(inference-mode) model then disagrees with the trained (batch-statistics) one. Re-estimating them with
the final weights fixes that ("precise BN", Wu & Johnson 2021): a few forward passes in training mode
with the momentum set so each BN layer keeps the plain mean of the per-batch statistics.
"""
from __future__ import annotations

import logging

import keras

log = logging.getLogger(__name__)


def _bn_layers(model):
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            yield layer


def recalibrate_batch_norm(model, batches) -> int:
    """batches: an iterable of image batches (as the model takes them). Returns the number used.
    Only BN moving statistics change; trainable weights are untouched."""
    layers = list(_bn_layers(model))
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    n = 0
    try:
        for n, images in enumerate(batches, start=1):
            for layer in layers:
                # new = old * m + batch * (1 - m); m = (n-1)/n gives the running mean of n batches.
                layer.momentum = (n - 1) / n
            model(images, training=True)   # eager: the momentum change takes effect every call
    finally:
        for layer, m in zip(layers, saved):
            layer.momentum = m
    log.info("re-estimated batch-norm statistics of %d layers on %d batches", len(layers), n)
    return n
