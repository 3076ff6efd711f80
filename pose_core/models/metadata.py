"""Model metadata that travels INSIDE the .keras file: layout, stride, codec and the builder's params.

A `PoseMetadata` identity layer sits right after the input and carries a JSON-able dict in its config, so
`keras.saving.load_model` restores it with the model (export then writes a zoo entry without a side file).
It costs nothing at run time and disappears in SavedModel / TFLite graphs.
"""
from __future__ import annotations

import copy
import json

import keras

METADATA_LAYER = "pose_metadata"


@keras.saving.register_keras_serializable(package="pose_core")
class PoseMetadata(keras.layers.Layer):
    """Identity layer whose config is the model's metadata dict (see module doc)."""

    def __init__(self, metadata: dict | None = None, **kwargs):
        kwargs.setdefault("name", METADATA_LAYER)
        super().__init__(**kwargs)
        self.metadata = copy.deepcopy(metadata or {})

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "metadata": json.loads(json.dumps(self.metadata))}


def model_metadata(model: keras.Model) -> dict:
    """The metadata dict of a model built by pose_core.models (a copy); {} for foreign models."""
    for layer in model.layers:
        if isinstance(layer, PoseMetadata):
            # Keras wraps dict attributes in tracking containers: hand out plain JSON types.
            return json.loads(json.dumps(layer.metadata))
        if isinstance(layer, keras.Model):   # nested (e.g. an inference model wrapping a training one)
            found = model_metadata(layer)
            if found:
                return found
    return {}
