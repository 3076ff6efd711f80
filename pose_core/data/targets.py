"""Training targets rendered in TensorFlow ops from keypoints in network-input pixels.

The geometry comes from the codec (stride, sigma, PAF width, limb -> channel table) via TargetGeometry,
so targets are encoded exactly as PafCodec / HeatmapCodec decode them:
  heatmaps     (Hm, Wm, K [+1]) Gaussians exp(-d^2 / 2 sigma^2), max over people; + background = 1 - max
  pafs         (Hm, Wm, 2L) unit limb vectors on cells within paf_width cells of the limb segment,
               averaged over the people whose limbs overlap there; channels as layout.paf_limbs says
  masks        (Hm, Wm, 1) 1 where the loss applies, 0 in crowd / unlabelled-person regions
  locref       (Hm, Wm, 2K) DeeperCut location refinement: (keypoint - cell centre) / locref_stdev for
               cells within locref_radius pixels of the keypoint (nearest person), and locref_mask
A map cell i has its centre at input pixel (i + 0.5) * stride - 0.5 (pose_core.codecs.peaks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class TargetGeometry:
    stride: int
    sigma: float                   # Gaussian sigma in network-input pixels
    num_keypoints: int
    background: bool               # append a background channel (1 - max) to the heatmaps
    paf_limbs: tuple = ()          # ((a, b), (x_channel, y_channel)) per limb; empty = no PAFs
    paf_width: float = 1.0         # half-width of a limb's field, in map cells
    locref_stdev: float | None = None   # None = no location-refinement targets
    locref_radius: float = 17.0    # pixels around a keypoint that get offsets

    @classmethod
    def from_codec(cls, codec) -> "TargetGeometry":
        """Read the geometry off a codec object (PafCodec, HeatmapCodec) so encode and decode agree:
        PAFs when the codec has paf_width (layout.paf_limbs gives limbs and channels), a background
        channel when heatmap_channels exceeds the keypoint count, location-refinement targets when a
        HeatmapCodec decodes with refine="offsets"."""
        layout = codec.layout
        if not getattr(codec, "stride", None):
            raise ValueError(f"{type(codec).__name__} has no stride; training targets need one")
        k = layout.num_keypoints
        limbs = tuple(layout.paf_limbs) if hasattr(codec, "paf_width") else ()
        offsets = getattr(codec, "refine", None) == "offsets"
        return cls(stride=int(codec.stride), sigma=float(codec.sigma), num_keypoints=k,
                   background=int(getattr(codec, "heatmap_channels", k) or k) > k, paf_limbs=limbs,
                   paf_width=float(getattr(codec, "paf_width", 1.0)),
                   locref_stdev=float(codec.locref_stdev) if offsets else None,
                   locref_radius=float(getattr(codec, "locref_radius", 17.0)))

    def map_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        w, h = input_size
        if w % self.stride or h % self.stride:
            raise ValueError(f"input size {w}x{h} is not a multiple of the stride {self.stride}")
        return w // self.stride, h // self.stride


def _cell_centres(n: int, stride: int):
    return (tf.range(n, dtype=tf.float32) + 0.5) * stride - 0.5


def render_heatmaps(keypoints, geo: TargetGeometry, map_wh):
    """keypoints (P, K, 3) in input pixels -> (Hm, Wm, K [+1])."""
    wm, hm = map_wh
    xs, ys = _cell_centres(wm, geo.stride), _cell_centres(hm, geo.stride)
    kx, ky = keypoints[..., 0][..., None, None], keypoints[..., 1][..., None, None]   # (P, K, 1, 1)
    d2 = (xs[None, None, None, :] - kx) ** 2 + (ys[None, None, :, None] - ky) ** 2   # (P, K, Hm, Wm)
    g = tf.exp(-d2 / (2.0 * geo.sigma ** 2)) * tf.cast(keypoints[..., 2] > 0, tf.float32)[..., None, None]
    # max over people; with nobody labelled reduce_max gives -inf, hence the clamp at 0.
    heat = tf.transpose(tf.maximum(tf.reduce_max(g, axis=0), 0.0), [1, 2, 0])
    if geo.background:
        heat = tf.concat([heat, 1.0 - tf.reduce_max(heat, axis=-1, keepdims=True)], axis=-1)
    return heat


def _paf_channel_order(limbs) -> np.ndarray:
    """Index into the limb-major stack [l0x, l0y, l1x, ...] for each output PAF channel."""
    order = np.full(2 * len(limbs), -1, np.int64)
    for i, (_, (cx, cy)) in enumerate(limbs):
        order[cx], order[cy] = 2 * i, 2 * i + 1
    if (order < 0).any():
        raise ValueError("PAF channel table does not cover channels 0..2L-1")
    return order


def render_pafs(keypoints, geo: TargetGeometry, map_wh):
    """keypoints (P, K, 3) in input pixels -> (Hm, Wm, 2L) part affinity fields."""
    wm, hm = map_wh
    a_idx = [a for (a, _), _ in geo.paf_limbs]
    b_idx = [b for (_, b), _ in geo.paf_limbs]
    # Endpoints in map cells.
    cells = (keypoints[..., :2] + 0.5) / geo.stride - 0.5
    a, b = tf.gather(cells, a_idx, axis=1), tf.gather(cells, b_idx, axis=1)            # (P, L, 2)
    labelled = tf.gather(keypoints[..., 2], a_idx, axis=1) * tf.gather(keypoints[..., 2], b_idx, axis=1) > 0
    vec = b - a
    length = tf.norm(vec, axis=-1)                                                      # (P, L)
    valid = labelled & (length > 1e-3)
    u = vec / tf.maximum(length, 1e-3)[..., None]
    xs = tf.range(wm, dtype=tf.float32)[None, None, None, :]
    ys = tf.range(hm, dtype=tf.float32)[None, None, :, None]
    dx, dy = xs - a[..., 0][..., None, None], ys - a[..., 1][..., None, None]          # (P, L, Hm, Wm)
    ux, uy = u[..., 0][..., None, None], u[..., 1][..., None, None]
    along = dx * ux + dy * uy
    across = tf.abs(dx * uy - dy * ux)
    inside = ((along >= 0) & (along <= length[..., None, None]) & (across <= geo.paf_width)
              & valid[..., None, None])
    w = tf.cast(inside, tf.float32)
    count = tf.reduce_sum(w, axis=0)                                                    # (L, Hm, Wm)
    fx = tf.reduce_sum(w * ux, axis=0) / tf.maximum(count, 1.0)
    fy = tf.reduce_sum(w * uy, axis=0) / tf.maximum(count, 1.0)
    stack = tf.reshape(tf.transpose(tf.stack([fx, fy], axis=1), [2, 3, 0, 1]), [hm, wm, 2 * len(a_idx)])
    return tf.gather(stack, _paf_channel_order(geo.paf_limbs), axis=-1)


def render_locref(keypoints, geo: TargetGeometry, map_wh):
    """(locref (Hm, Wm, 2K), locref_mask (Hm, Wm, 2K)): offsets to the nearest labelled person's
    keypoint, divided by locref_stdev, on cells within locref_radius pixels of it."""
    wm, hm = map_wh
    xs, ys = _cell_centres(wm, geo.stride), _cell_centres(hm, geo.stride)
    dx = keypoints[..., 0][..., None, None] - xs[None, None, None, :]                  # (P, K, 1, Wm)
    dy = keypoints[..., 1][..., None, None] - ys[None, None, :, None]                  # (P, K, Hm, 1)
    dx, dy = dx + 0 * dy, dy + 0 * dx                                                   # (P, K, Hm, Wm)
    labelled = (keypoints[..., 2] > 0)[..., None, None]
    # A sentinel "person" at infinite distance keeps argmin defined when nobody is labelled.
    one = tf.concat([[1], tf.shape(dx)[1:]], 0)
    d2 = tf.concat([tf.where(labelled, dx * dx + dy * dy, np.inf), tf.fill(one, np.float32(np.inf))], 0)
    dx, dy = tf.concat([dx, tf.zeros(one)], 0), tf.concat([dy, tf.zeros(one)], 0)
    nearest = tf.argmin(d2, axis=0)[None]                                                # (1, K, Hm, Wm)
    take = lambda t: tf.experimental.numpy.take_along_axis(t, nearest, axis=0)[0]        # (K, Hm, Wm)
    ndx, ndy, nd2 = take(dx), take(dy), take(d2)
    near = tf.cast(nd2 <= geo.locref_radius ** 2, tf.float32)                            # (K, Hm, Wm)
    offsets = tf.stack([ndx, ndy], axis=1) / geo.locref_stdev * near[:, None]            # (K, 2, Hm, Wm)
    k = geo.num_keypoints
    locref = tf.reshape(tf.transpose(offsets, [2, 3, 0, 1]), [hm, wm, 2 * k])
    mask = tf.reshape(tf.transpose(tf.stack([near, near], 1), [2, 3, 0, 1]), [hm, wm, 2 * k])
    return locref, mask


def render_targets(keypoints, loss_mask, geo: TargetGeometry, input_size):
    """All targets for one sample: keypoints (P, K, 3) in input pixels, loss_mask (Hm, Wm, 1)."""
    map_wh = geo.map_size(input_size)
    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    out = {"heatmaps": render_heatmaps(keypoints, geo, map_wh)}
    if geo.paf_limbs:
        out["pafs"] = render_pafs(keypoints, geo, map_wh)
    out["masks"] = loss_mask
    if geo.locref_stdev:
        out["locref"], out["locref_mask"] = render_locref(keypoints, geo, map_wh)
    return out
