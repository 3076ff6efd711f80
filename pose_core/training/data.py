"""The trainer's view of the data pipeline: recipe `data:` block -> tf.data.Dataset of (images, targets).

The pipeline itself (readers, augmentation, target rendering, tf.data service) is pose_core.data's;
this module only maps recipe fields onto it.
"""
from __future__ import annotations

import logging

import tensorflow as tf

from pose_core.training.recipe import RecipeError

log = logging.getLogger(__name__)


def build_training_codec(recipe: dict, metadata: dict):
    """The model's codec (from its metadata) with the recipe's target geometry (data.codec: sigma,
    paf_width, locref_stdev, ...): training targets are encoded by the same object that decodes them."""
    from pose_core.codecs import build_codec
    from pose_core.layouts import get_layout

    codec_cfg = dict(metadata.get("codec") or {})
    if not codec_cfg.get("name"):
        raise RecipeError(f"model {recipe['model']['name']!r} carries no codec metadata")
    codec_cfg.update((recipe.get("data") or {}).get("codec") or {})
    name = codec_cfg.pop("name")
    return build_codec(name, get_layout(metadata["layout"]), **codec_cfg)


def input_size_of(recipe: dict, metadata: dict) -> tuple[int, int]:
    size = (recipe.get("data") or {}).get("input_size") or metadata.get("input_size")
    if not size:
        raise RecipeError("data.input_size: missing ([w, h], multiples of the model stride)")
    return int(size[0]), int(size[1])


def read_training_samples(data: dict):
    from pose_core.data.readers import read_dataset

    for key in ("format", "annotations"):
        if not data.get(key):
            raise RecipeError(f"data.{key}: missing")
    try:
        dataset = read_dataset(data["format"], data["annotations"], data.get("images"),
                               **(data.get("reader") or {}))
    except KeyError as exc:
        raise RecipeError(f"data.format: {exc.args[0]}") from None
    samples = list(dataset)
    if data.get("max_images"):
        samples = samples[:int(data["max_images"])]
    if not samples:
        raise RecipeError(f"data: no usable images in {data['annotations']}")
    return samples


def make_training_dataset(recipe: dict, metadata: dict, batch_size: int, seed: int,
                          data_service: str | None = None,
                          input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches of (images, targets) from pose_core.data's pipeline (augmented, seeded by `seed`).

    recipe data block: format, annotations, images, input_size [w, h], codec {sigma, paf_width, ...},
    augment {AugmentConfig fields; false = no augmentation}, max_images, reader {reader options}."""
    data = dict(recipe.get("data") or {})
    if not data:
        raise RecipeError("data: missing (the training set: format, annotations, images, ...)")
    from pose_core.data.augment import AugmentConfig
    from pose_core.data.pipeline import make_dataset

    codec = build_training_codec(recipe, metadata)
    samples = read_training_samples(data)
    if input_context is not None and input_context.num_input_pipelines > 1 and not data_service:
        samples = samples[input_context.input_pipeline_id::input_context.num_input_pipelines]
    aug = data.get("augment", {})
    if aug is False:   # no augmentation: the evaluation path (letterbox, in order), repeated
        ds = make_dataset(samples, codec.layout, codec, input_size_of(recipe, metadata), batch_size,
                          seed=seed, training=False)
        # Full batches only, so the step function is traced once.
        return ds.unbatch().repeat().batch(batch_size, drop_remainder=True)
    try:
        augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in (aug or {}).items()})
    except TypeError as exc:
        raise RecipeError(f"data.augment: {exc}") from None
    return make_dataset(samples, codec.layout, codec, input_size_of(recipe, metadata), batch_size, seed=seed,
                        training=True, data_service=data_service, augment=augment,
                        job_name=f"pose-train-{recipe['name']}" if data_service else None)
