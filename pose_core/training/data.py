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


DECODE_CHECK_MAX = 20000   # data.check_images default: decode up to this many images, else "exists"


def read_training_samples(data: dict, layout=None, skipped: dict | None = None):
    """The recipe's samples: read, cut to max_images, image files checked (data.check_images: missing
    or corrupt files are named, skipped and counted into `skipped`), and - given the model's `layout` -
    keypoint names matched to it (data.keypoint_map, data.missing_keypoints)."""
    from pose_core.data.image_check import check_image_files
    from pose_core.data.keypoint_names import match_layout
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
    if layout is not None:
        samples = match_layout(samples, layout, data.get("keypoint_map"), data.get("missing_keypoints", "error"))
    mode = data.get("check_images")
    if mode is None:   # decoding every photo twice is cheap for a fine-tune set, minutes for COCO
        mode = "decode" if len(samples) <= DECODE_CHECK_MAX else "exists"
        if mode == "exists":
            log.info("data: %d images: checking that they exist, not decoding them (data.check_images: "
                     "decode to decode them too)", len(samples))
    try:
        samples, bad = check_image_files(samples, mode)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None
    if skipped is not None:
        skipped.update(bad)
    if not samples:
        raise RecipeError(f"data: no usable images in {data['annotations']}")
    return samples


def make_training_dataset(recipe: dict, metadata: dict, batch_size: int, seed: int,
                          data_service: str | None = None,
                          input_context: tf.distribute.InputContext | None = None,
                          skipped: dict | None = None) -> tf.data.Dataset:
    """Batches of (images, targets) from pose_core.data's pipeline (augmented, seeded by `seed`).

    recipe data block: format, annotations, images, input_size [w, h], codec {sigma, paf_width, ...},
    augment {AugmentConfig fields; false = no augmentation}, max_images, reader {reader options},
    check_images, keypoint_map, missing_keypoints (see read_training_samples). skipped: filled with the
    image files left out ({"missing": [paths], "corrupt": [...]})."""
    data = dict(recipe.get("data") or {})
    if not data:
        raise RecipeError("data: missing (the training set: format, annotations, images, ...)")
    from pose_core.data.augment import AugmentConfig
    from pose_core.data.pipeline import make_dataset

    codec = build_training_codec(recipe, metadata)
    samples = read_training_samples(data, codec.layout, skipped)
    if input_context is not None and input_context.num_input_pipelines > 1 and not data_service:
        samples = samples[input_context.input_pipeline_id::input_context.num_input_pipelines]
    aug = data.get("augment", {})
    if aug is False:   # no augmentation: the evaluation path (letterbox, in order), repeated
        # With a data service each pass is a new (unnamed) service job: the workers still do the work.
        ds = make_dataset(samples, codec.layout, codec, input_size_of(recipe, metadata), batch_size,
                          seed=seed, training=False, data_service=data_service)
        # Full batches only, so the step function is traced once.
        return ds.unbatch().repeat().batch(batch_size, drop_remainder=True)
    try:
        augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in (aug or {}).items()})
    except TypeError as exc:
        raise RecipeError(f"data.augment: {exc}") from None
    return make_dataset(samples, codec.layout, codec, input_size_of(recipe, metadata), batch_size, seed=seed,
                        training=True, data_service=data_service, augment=augment,
                        job_name=f"pose-train-{recipe['name']}" if data_service else None)


def unlabelled_channel_weights(recipe: dict, metadata: dict) -> dict | None:
    """{"heatmaps": [...], "pafs": [...]} with 0 for the channels of keypoints that NO training person
    labels (and the PAF limbs touching them), else None. Such keypoints (e.g. the face of COCO-17 labels
    converted from CrowdPose or AI Challenger) would otherwise be taught as absent everywhere, and a
    fine-tuned model would unlearn them. loss.unlabelled_keypoints: background keeps the old behaviour."""
    import numpy as np

    from pose_core.data.sample import to_layout

    if ((recipe["training"].get("loss") or {}).get("unlabelled_keypoints", "ignore") != "ignore"
            or not (recipe.get("data") or {}).get("annotations")):
        return None
    codec = build_training_codec(recipe, metadata)
    layout = codec.layout
    samples = to_layout(read_training_samples(dict(recipe["data"], check_images="off"), layout), layout)
    labelled = np.zeros(layout.num_keypoints, bool)
    for s in samples:
        if s.num_people:
            labelled |= (s.keypoints[..., 2] > 0).any(axis=0)
    if labelled.all():
        return None
    log.info("keypoints no training person labels, left out of the loss: %s",
             ", ".join(n for n, ok in zip(layout.keypoints, labelled) if not ok))
    outputs = metadata.get("outputs") or {}
    weights = {}
    heat_channels = max((c for n, c in outputs.items() if n.endswith("_heatmaps")), default=layout.num_keypoints)
    heat = np.ones(heat_channels, np.float32)
    heat[:layout.num_keypoints] = labelled.astype(np.float32)   # a background channel stays supervised
    weights["heatmaps"] = heat.tolist()
    paf_channels = max((c for n, c in outputs.items() if n.endswith("_pafs")), default=0)
    if paf_channels:
        paf = np.ones(paf_channels, np.float32)
        for (a, b), (cx, cy) in layout.paf_limbs:
            if not (labelled[a] and labelled[b]):
                paf[[cx, cy]] = 0.0
        weights["pafs"] = paf.tolist()
    return weights
