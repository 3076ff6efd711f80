"""Training losses over every supervised output of a model (every stage, as OpenPose trains).

A training model returns a dict of outputs named `<where>_<kind>` (stage1_heatmaps, stage2_pafs,
stage1_locref, ...). The kind picks the target from the pipeline's targets dict and the loss:
  heatmaps / pafs   masked L2:  0.5 * sum(mask * (pred - target)^2) / global batch  (OpenPose's loss)
                    or masked sigmoid cross-entropy (loss.heatmap: sigmoid_ce, DeeperCut's scoremaps)
  locref            Huber on the offsets where the locref weights are nonzero, x locref_weight
                    (DeeperCut: 0.05), normalised by the number of weighted entries
Masks zero out crowds and people without keypoints. Dividing by the GLOBAL batch makes the per-replica
sums add up to the right total under tf.distribute.
"""
from __future__ import annotations

import tensorflow as tf

from pose_core.training.recipe import RecipeError

KINDS = ("heatmaps", "pafs", "locref")


def output_kind(name: str) -> str:
    kind = name.rsplit("_", 1)[-1]
    if kind not in KINDS:
        raise RecipeError(f"model output {name!r}: cannot tell which target supervises it "
                          f"(expected a name ending in {', '.join(KINDS)})")
    return kind


def _target(targets: dict, kind: str):
    if kind not in targets:
        raise RecipeError(f"the data pipeline yields no {kind!r} target (has: {', '.join(targets)}); "
                          f"the model and the data recipe disagree")
    return targets[kind]


def _mask(targets: dict, kind: str):
    """The loss mask for `kind`: targets['<kind>_mask'], targets['masks'][kind], targets['masks'] or 1."""
    if f"{kind}_mask" in targets:
        return targets[f"{kind}_mask"]
    masks = targets.get("masks", targets.get("mask"))
    if isinstance(masks, dict):
        return masks.get(kind)
    return masks


def _fit(t, like, method="bilinear"):
    """Resize a target/mask to a prediction's spatial size (outputs at another stride, e.g. a coarser
    intermediate-supervision head)."""
    if t is None:
        return None
    t = tf.cast(t, like.dtype)
    if t.shape[1:3] == like.shape[1:3] and t.shape[1] is not None:
        return t
    return tf.image.resize(t, tf.shape(like)[1:3], method=method)


class PoseLoss:
    """Callable (outputs dict, targets dict) -> (total scalar, {output name: scalar})."""

    def __init__(self, global_batch_size: int, stage_weights: dict | None = None, heatmap: str = "l2",
                 locref_weight: float = 0.05, locref_huber_delta: float = 1.0,
                 channel_weights: dict | None = None, **unused):
        """channel_weights: {kind: per-channel weights} (e.g. 0 for the heatmap and PAF channels of
        keypoints a dataset never labels: pose_core.training.data.unlabelled_channel_weights)."""
        if heatmap not in ("l2", "sigmoid_ce"):
            raise RecipeError(f"training.loss.heatmap: unknown {heatmap!r} (l2, sigmoid_ce)")
        self.global_batch_size = float(global_batch_size)
        self.stage_weights = dict(stage_weights or {})
        self.heatmap = heatmap
        self.locref_weight = float(locref_weight)
        self.huber = tf.keras.losses.Huber(delta=locref_huber_delta, reduction="none")
        self.channel_weights = {k: tf.constant(v, tf.float32) for k, v in (channel_weights or {}).items()}

    def term(self, name: str, pred, targets: dict):
        kind = output_kind(name)
        pred = tf.cast(pred, tf.float32)
        target = _fit(_target(targets, kind), pred)
        mask = _fit(_mask(targets, kind), pred, method="nearest")
        if kind == "locref":
            weights = _fit(targets.get("locref_weights", mask), pred, method="nearest")
            if weights is None:
                weights = tf.ones_like(pred)
            # Huber over the last axis per offset component: keep the component axis.
            per = self.huber(target[..., None], pred[..., None]) * tf.broadcast_to(weights, tf.shape(pred))
            denom = tf.maximum(tf.reduce_sum(tf.broadcast_to(weights, tf.shape(pred))), 1.0)
            # A per-replica mean: divide by the replica count so the cross-replica SUM is the mean.
            ctx = tf.distribute.get_replica_context()
            replicas = float(ctx.num_replicas_in_sync) if ctx is not None else 1.0
            return self.locref_weight * tf.reduce_sum(per) / denom / replicas
        if kind == "heatmaps" and self.heatmap == "sigmoid_ce":
            per = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=pred)
        else:
            per = 0.5 * tf.square(pred - target)
        if mask is not None:
            per = per * mask
        weights = self.channel_weights.get(kind)
        if weights is not None and pred.shape[-1] == weights.shape[0]:
            per = per * weights
        return tf.reduce_sum(per) / self.global_batch_size

    def __call__(self, outputs: dict, targets: dict):
        terms = {}
        for name, pred in outputs.items():
            w = float(self.stage_weights.get(name, self.stage_weights.get(name.split("_")[0], 1.0)))
            if w:
                terms[name] = w * self.term(name, pred, targets)
        if not terms:
            raise RecipeError("the model has no supervised outputs (all stage weights are 0)")
        return tf.add_n(list(terms.values())), terms
