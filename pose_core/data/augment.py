"""Training augmentation in TensorFlow ops only (tf.data service workers run graphs: no py_function,
numpy or cv2): one random affine transform per sample - crop/pad around a random person, scale jitter,
rotation, horizontal flip - applied to the image, the ignore mask and the keypoints alike.

Randomness is stateless and keyed by (seed, element index), so a sample's augmentation does not depend on
which worker or thread computes it, or in what order.

Coordinates: pixel centres at integers (x right, y down), the convention of the readers and the codecs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Defaults follow the CMU/OpenPose recipe's published settings (person scaled to ~0.6 of the input
    height, scale x[0.5, 1.1] there; 40 degrees rotation; 40 px centre jitter at 368; flip 0.5)."""
    target_height: float = 0.6                   # chosen person's box height / input height before jitter
    scale_range: tuple[float, float] = (0.6, 1.2)  # multiplier on that scale
    max_rotation: float = 40.0                   # degrees, uniform in [-max, max]
    center_jitter: float = 0.1                   # fraction of the input size, uniform in [-j, j]
    flip_prob: float = 0.5
    fill_value: float = 128.0                    # grey padding, as the recipe uses


def _translate(tx, ty):
    return tf.stack([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _uniform(seed, i, lo, hi):
    """The i-th stateless uniform draw for this sample (draws are independent streams by i)."""
    return tf.random.stateless_uniform([], seed=tf.stack([seed[0], seed[1] * 16 + i]), minval=lo, maxval=hi)


def pick_person(seed, n):
    """Index of the person the crop centres on (0 when there is nobody), drawn from the sample's seed."""
    pick = tf.random.stateless_uniform([], seed=tf.stack([seed[0], seed[1] * 16]), minval=0,
                                       maxval=tf.maximum(n, 1), dtype=tf.int32)
    return tf.minimum(pick, tf.maximum(n - 1, 0))


def random_affine(seed, image_size, boxes, input_size, cfg: AugmentConfig = AugmentConfig()):
    """Random source->input 3x3 matrix and flip flag.

    seed: int64 (2,) tensor unique per element. image_size: float (w, h) tensor. boxes: (P, 4) float
    (x0, y0, x1, y1); the crop centres on one of them chosen at random (on the image centre if P == 0).
    input_size: python (w, h)."""
    w_in, h_in = float(input_size[0]), float(input_size[1])
    n = tf.shape(boxes)[0]
    whole = tf.stack([0.0, 0.0, image_size[0] - 1.0, image_size[1] - 1.0])
    box = tf.cond(n > 0, lambda: tf.gather(boxes, pick_person(seed, n)), lambda: whole)
    center = (box[:2] + box[2:]) / 2.0
    person_h = tf.maximum(box[3] - box[1], 8.0)
    scale = cfg.target_height * h_in / person_h * _uniform(seed, 1, *cfg.scale_range)
    angle = _uniform(seed, 2, -cfg.max_rotation, cfg.max_rotation) * (math.pi / 180.0)
    jx = _uniform(seed, 3, -cfg.center_jitter, cfg.center_jitter) * w_in
    jy = _uniform(seed, 4, -cfg.center_jitter, cfg.center_jitter) * h_in
    flip = _uniform(seed, 5, 0.0, 1.0) < cfg.flip_prob
    c, s = tf.cos(angle) * scale, tf.sin(angle) * scale
    rot_scale = tf.stack([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    m = _translate((w_in - 1) / 2 + jx, (h_in - 1) / 2 + jy) @ rot_scale @ _translate(-center[0], -center[1])
    mirror = tf.constant([[-1.0, 0.0, w_in - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m = tf.where(flip, mirror @ m, m)
    return m, flip


def letterbox_affine(image_size, input_size):
    """Deterministic source->input matrix for evaluation: scale to fit, centred, aspect kept."""
    w_in, h_in = float(input_size[0]), float(input_size[1])
    scale = tf.minimum(w_in / image_size[0], h_in / image_size[1])
    # Map pixel edges (-0.5 and size - 0.5) to edges, i.e. what an image resize does.
    tx = (w_in - image_size[0] * scale) / 2 + 0.5 * scale - 0.5
    ty = (h_in - image_size[1] * scale) / 2 + 0.5 * scale - 0.5
    return tf.stack([[scale, 0.0, tx], [0.0, scale, ty], [0.0, 0.0, 1.0]])


def warp(image, matrix, output_hw, fill_value=0.0, interpolation="BILINEAR"):
    """Resample `image` (H, W, C) so that output pixel p shows source pixel matrix^-1 p."""
    inv = tf.linalg.inv(matrix)
    inv = inv / inv[2, 2]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=tf.reshape(inv, [9])[None, :8],
        output_shape=tf.constant(output_hw, tf.int32), fill_value=tf.cast(fill_value, tf.float32),
        interpolation=interpolation, fill_mode="CONSTANT")
    return out[0]


def transform_keypoints(keypoints, matrix, flip, flip_permutation):
    """(P, K, 3) keypoints through the affine; when flipped, left/right channels swap so a left wrist
    that now appears where a right wrist would is labelled right wrist. Unlabelled stay (0, 0, 0)."""
    xy1 = tf.concat([keypoints[..., :2], tf.ones_like(keypoints[..., :1])], axis=-1)
    xy = tf.einsum("ij,pkj->pki", matrix, xy1)[..., :2]
    vis = keypoints[..., 2:3]
    out = tf.concat([xy * tf.cast(vis > 0, xy.dtype), vis], axis=-1)
    perm = tf.constant(flip_permutation, tf.int32)
    return tf.cond(flip, lambda: tf.gather(out, perm, axis=1), lambda: out)


def pixels_to_cells(stride: int):
    """3x3 matrix from input pixels to map cells: cell i's centre is pixel (i + 0.5) * stride - 0.5."""
    s = float(stride)
    off = 0.5 / s - 0.5
    return tf.constant([[1 / s, 0.0, off], [0.0, 1 / s, off], [0.0, 0.0, 1.0]])
