"""The tf.data input pipeline: Samples -> batches of (images, targets), locally or on tf.data service.

Element g of the stream (g = 0, 1, 2, ... across epochs) shows sample perm_e(g mod N) of epoch
e = g div N, where perm_e is a keyed pseudo-random permutation computed in TF ops per element (no shuffle
buffer); its augmentation is keyed by (seed, g). So every element is a pure function of (seed, g): the
stream can be split element by element across tf.data service workers (dynamic sharding) and each element
comes out identical wherever it is computed. Only the ORDER of elements served by several workers varies,
which is why batching happens on the consumer, after distribution.

Everything inside the per-element map is TensorFlow ops (file reads with tf.io.read_file), so the graph
can be shipped to remote workers that share the dataset's filesystem.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from pose_core.data.augment import (
    AugmentConfig,
    letterbox_affine,
    pick_person,
    pixels_to_cells,
    random_affine,
    transform_keypoints,
    warp,
)
from pose_core.data.sample import Sample, to_layout, write_ignore_masks
from pose_core.data.targets import TargetGeometry, render_targets
from pose_core.layouts import KeypointLayout

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
MAX_PEOPLE = 32     # size of the padded per-element keypoint array returned with return_meta=True


def default_mask_dir() -> Path:
    """Where rendered ignore masks are cached; must be on a filesystem remote workers share."""
    return Path(os.environ.get("POSE_MASK_CACHE", Path.home() / ".cache" / "pose_ros" / "masks"))


def _mix32(x):
    """A 32-bit integer hash on int64 tensors (multiply-xorshift; the products stay below 2^63)."""
    x = tf.bitwise.bitwise_and(x, 0xFFFFFFFF)
    x = tf.bitwise.bitwise_and(x * 0x5BD1E995 + 0x2545F491, 0xFFFFFFFF)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x2C1B3C6D, 0xFFFFFFFF)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13))


def keyed_permutation(position, n: int, key, rounds: int = 4):
    """A pseudo-random bijection of [0, n) evaluated at `position` (int64 scalar), keyed by `key`
    (int64 scalar): a balanced Feistel network on the next power of four with cycle walking."""
    half = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
    low = (1 << half) - 1

    def feistel(x):
        left, right = tf.bitwise.right_shift(x, half), tf.bitwise.bitwise_and(x, low)
        for r in range(rounds):
            f = tf.bitwise.bitwise_and(_mix32(right + _mix32(key * 4 + r)), low)
            left, right = right, tf.bitwise.bitwise_xor(left, f)
        return tf.bitwise.bitwise_or(tf.bitwise.left_shift(left, half), right)

    # Cycle walking: apply the bijection on [0, 4^half) until the value lands in [0, n).
    return tf.while_loop(lambda x: x >= n, lambda x: (feistel(x),), (feistel(position),))[0]


class _SampleTable:
    """The samples as constant tensors captured by the map function (variable people per image as a
    flat array + row splits)."""

    def __init__(self, samples: list[Sample], layout: KeypointLayout):
        k = layout.num_keypoints
        counts = [s.num_people for s in samples]
        self.n = len(samples)
        self.paths = tf.constant([s.image_path for s in samples])
        self.mask_paths = tf.constant([s.mask_path for s in samples])
        self.splits = tf.constant(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        kps = [s.keypoints for s in samples if s.num_people]
        boxes = [s.boxes for s in samples if s.num_people]
        self.keypoints = tf.constant(np.concatenate(kps) if kps else np.zeros((0, k, 3), np.float32))
        self.boxes = tf.constant(np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32))

    def people(self, i):
        start, end = self.splits[i], self.splits[i + 1]
        return self.keypoints[start:end], self.boxes[start:end]


def make_element_fn(table: _SampleTable, layout: KeypointLayout, geo: TargetGeometry, input_size,
                    seed: int, training: bool, augment: AugmentConfig, centre_person_only: bool = False):
    """(g, i) -> dict(image uint8 (H, W, 3) RGB, targets..., index, keypoints (MAX_PEOPLE, K, 3))."""
    w_in, h_in = input_size
    map_w, map_h = geo.map_size(input_size)
    to_cells = pixels_to_cells(geo.stride)
    flip_perm = layout.flip_permutation

    def element(g, i):
        image = tf.io.decode_image(tf.io.read_file(table.paths[i]), channels=3, expand_animations=False)
        size = tf.cast(tf.stack([tf.shape(image)[1], tf.shape(image)[0]]), tf.float32)
        keypoints, boxes = table.people(i)
        if training:
            key = tf.stack([tf.constant(seed, tf.int64), g])
            matrix, flip = random_affine(key, size, boxes, input_size, augment)
            fill = augment.fill_value
            if centre_person_only:   # single-person models: targets for the person the crop centres on
                keypoints = keypoints[pick_person(key, tf.shape(keypoints)[0]):][:1]
        else:
            matrix, flip, fill = letterbox_affine(size, input_size), tf.constant(False), 128.0
        image = warp(image, matrix, (h_in, w_in), fill_value=fill)
        image.set_shape((h_in, w_in, 3))
        keypoints = transform_keypoints(keypoints, matrix, flip, flip_perm)

        def mask():
            m = tf.io.decode_png(tf.io.read_file(table.mask_paths[i]), channels=1)
            m = tf.cast(m > 0, tf.float32)
            # Outside the source image there is nobody to ignore: fill with 1.
            return warp(m, to_cells @ matrix, (map_h, map_w), fill_value=1.0)

        loss_mask = tf.cond(tf.strings.length(table.mask_paths[i]) > 0, mask,
                            lambda: tf.ones((map_h, map_w, 1), tf.float32))
        loss_mask = tf.ensure_shape(tf.round(loss_mask), (map_h, map_w, 1))
        out = render_targets(keypoints, loss_mask, geo, input_size)
        out["image"] = image
        out["index"] = g
        padded = tf.pad(keypoints[:MAX_PEOPLE], [[0, MAX_PEOPLE - tf.minimum(tf.shape(keypoints)[0], MAX_PEOPLE)],
                                                  [0, 0], [0, 0]])
        out["keypoints"] = tf.ensure_shape(padded, (MAX_PEOPLE, layout.num_keypoints, 3))
        return out

    return element


def make_element_dataset(samples, layout: KeypointLayout, codec, input_size, seed: int = 0,
                         training: bool = True, epochs: int | None = None,
                         augment: AugmentConfig = AugmentConfig(), mask_dir=None,
                         start_element: int = 0, single_person: bool | None = None) -> tf.data.Dataset:
    """Unbatched elements (dicts) before any distribution; see make_dataset."""
    if codec.layout != layout:
        raise ValueError(f"codec layout {codec.layout.name} differs from the requested layout {layout.name}")
    geo = TargetGeometry.from_codec(codec)
    samples = to_layout(list(samples), layout)
    if not samples:
        raise ValueError("no samples to build a dataset from")
    samples = write_ignore_masks(samples, mask_dir or default_mask_dir())
    table = _SampleTable(samples, layout)
    n = table.n
    log.info("pipeline: %d images, %d people, %d with ignore masks; %s targets at %dx%d, stride %d, %s",
             n, sum(s.num_people for s in samples), sum(bool(s.mask_path) for s in samples), layout.name,
             *input_size, geo.stride, "augmented" if training else "letterboxed")
    if single_person is None:   # the single-person heatmap codec's models (CPM, Hourglass, DeeperCut)
        single_person = getattr(codec, "name", "") == "heatmap"
    element = make_element_fn(table, layout, geo, input_size, seed, training, augment, single_person)
    if training:
        total = 2 ** 62 if epochs is None else epochs * n
        ds = tf.data.Dataset.range(start_element, total)

        def index(g):
            key = tf.constant(seed, tf.int64) * 1000003 + g // n
            return g, keyed_permutation(g % n, n, key)
    else:
        ds = tf.data.Dataset.range(n)

        def index(g):
            return g, g
    return ds.map(index).map(element, num_parallel_calls=AUTOTUNE, deterministic=True)


def make_dataset(samples, layout: KeypointLayout, codec, input_size, batch_size: int, seed: int = 0,
                 training: bool = True, data_service: str | None = None, epochs: int | None = None,
                 augment: AugmentConfig = AugmentConfig(), mask_dir=None, return_meta: bool = False,
                 job_name: str | None = None, start_element: int = 0,
                 single_person: bool | None = None) -> tf.data.Dataset:
    """Batches of (images float32 RGB 0..255 (N, H, W, 3), targets dict) for training.

    samples: Samples or an AnnotatedDataset, in any layout convertible to `layout` (= codec.layout).
    codec: PafCodec / HeatmapCodec - stride, sigma, PAF width and limb table come from it.
    input_size: (w, h), multiples of the codec's stride. training=False: every sample once, in order,
    letterboxed, no augmentation. epochs=None: repeat forever (training only).
    data_service: "grpc://host:port" of a tf.data service dispatcher: the per-element work (read, decode,
    augment, render targets) runs on its workers; each element is computed once (dynamic sharding) and is
    identical to the local pipeline's element with the same index, while the order may differ.
    return_meta: also yield meta {index (N,), keypoints (N, MAX_PEOPLE, K, 3) in input pixels}.
    start_element: first element of the stream (training only), e.g. step * batch_size when a run resumes
    from a checkpoint: the resumed run then sees exactly the batches the uninterrupted run would have.
    single_person: render targets only for the person the crop centres on (training only; the others
    stay in the image). None = True for the single-person "heatmap" codec, False otherwise.
    """
    if start_element and not training:
        raise ValueError("start_element applies to the training stream only")
    ds = make_element_dataset(samples, layout, codec, input_size, seed, training, epochs, augment, mask_dir,
                              start_element, single_person)
    if data_service:
        ds = ds.apply(tf.data.experimental.service.distribute(
            processing_mode=tf.data.experimental.service.ShardingPolicy.DYNAMIC, service=data_service,
            job_name=job_name))

    def split(el):
        images = tf.cast(el.pop("image"), tf.float32)
        meta = {"index": el.pop("index"), "keypoints": el.pop("keypoints")}
        return (images, el, meta) if return_meta else (images, el)

    ds = ds.batch(batch_size, drop_remainder=training).map(split, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
