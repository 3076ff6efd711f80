"""The tf.data pipeline end to end on real files: augmentation keeps labels on the figure and swaps
left/right on flips, loss masks land on the ignored regions, everything is reproducible per seed."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf

from pose_core.codecs.heatmap import HeatmapCodec
from pose_core.codecs.paf import PafCodec
from pose_core.data.augment import AugmentConfig, letterbox_affine
from pose_core.data.pipeline import keyed_permutation, make_dataset
from pose_core.data.readers import read_dataset
from pose_core.data.sample import ignore_mask
from pose_core.data.synthetic import _draw_figure, figure_keypoints, generate_dataset
from pose_core.layouts import COCO17, OPENPOSE18

# pycocotools (not our code) warns about numpy 2 copy semantics on every mask decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

INPUT = (184, 184)
BACKGROUND = (60, 60, 60)
FIGURE_BGR = (0, 200, 0)
LEFT_BGR, RIGHT_BGR = (0, 0, 255), (255, 0, 0)     # red left wrist, blue right wrist


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    """One green figure with a red left-wrist and a blue right-wrist disc on a flat background."""
    root = tmp_path_factory.mktemp("figure")
    kp = figure_keypoints(np.random.default_rng(4), 180, (160, 130))
    img = np.full((240, 320, 3), BACKGROUND, np.uint8)
    _draw_figure(img, kp, 180, FIGURE_BGR)
    for name, color in (("left_wrist", LEFT_BGR), ("right_wrist", RIGHT_BGR)):
        x, y = kp[COCO17.index(name)]
        cv2.circle(img, (int(round(x)), int(round(y))), 7, color, -1)
    cv2.imwrite(str(root / "figure.png"), img)
    spec = {"layout": "coco17", "images": [{"file": "figure.png", "width": 320, "height": 240, "people": [
        {"keypoints": {name: [float(x), float(y)] for name, (x, y) in zip(COCO17.keypoints, kp)}}]}]}
    (root / "figure.json").write_text(json.dumps(spec))
    return read_dataset("own", root / "figure.json")


def _elements(samples, n, mask_dir, **kw):
    kw.setdefault("seed", 3)
    ds = make_dataset(samples, OPENPOSE18, PafCodec(OPENPOSE18), INPUT, batch_size=1, return_meta=True,
                      mask_dir=mask_dir, **kw)
    return [(im[0].numpy(), {k: v[0].numpy() for k, v in t.items()}, {k: v[0].numpy() for k, v in m.items()})
            for im, t, m in ds.take(n)]


def _rgb_at(image, x, y):
    return image[int(round(y)), int(round(x))]


def test_flip_mirrors_image_and_relabels_left_as_right(figure, tmp_path):
    (plain, _, mp), = _elements(figure, 1, tmp_path, augment=AugmentConfig(flip_prob=0.0))
    (flipped, _, mf), = _elements(figure, 1, tmp_path, augment=AugmentConfig(flip_prob=1.0))
    assert np.abs(flipped - plain[:, ::-1]).max() <= 1.0       # same draw, mirrored
    lw, rw = OPENPOSE18.index("left_wrist"), OPENPOSE18.index("right_wrist")
    kp_plain, kp_flip = mp["keypoints"][0], mf["keypoints"][0]
    # The left wrist reappears at the mirrored position, now labelled right wrist (and vice versa).
    np.testing.assert_allclose(kp_flip[rw, :2], [INPUT[0] - 1 - kp_plain[lw, 0], kp_plain[lw, 1]], atol=1e-3)
    np.testing.assert_allclose(kp_flip[lw, :2], [INPUT[0] - 1 - kp_plain[rw, 0], kp_plain[rw, 1]], atol=1e-3)
    red, blue = np.array(LEFT_BGR[::-1]), np.array(RIGHT_BGR[::-1])      # images come out RGB
    assert np.abs(_rgb_at(plain, *kp_plain[lw, :2]) - red).max() < 40
    assert np.abs(_rgb_at(flipped, *kp_flip[rw, :2]) - red).max() < 40    # "right wrist" is the red disc
    assert np.abs(_rgb_at(flipped, *kp_flip[lw, :2]) - blue).max() < 40


def test_rotation_and_scale_keep_keypoints_on_the_figure(figure, tmp_path):
    elements = _elements(figure, 8, tmp_path, augment=AugmentConfig(max_rotation=40, scale_range=(0.5, 1.3)))
    checked = 0
    shapes = set()
    for image, targets, meta in elements:
        kp = meta["keypoints"][0]
        assert (meta["keypoints"][1:] == 0).all()
        inside = (kp[:, 2] > 0) & (kp[:, 0] >= 1) & (kp[:, 1] >= 1) & (kp[:, 0] <= INPUT[0] - 2) & \
                 (kp[:, 1] <= INPUT[1] - 2)
        for x, y in kp[inside, :2]:
            pixel = _rgb_at(image, x, y)
            assert np.abs(pixel - np.array(BACKGROUND)).max() > 60, (x, y, pixel)   # on the figure
            checked += 1
        # The heatmap peak of every labelled keypoint inside the map is at the keypoint.
        j = int(np.argmax(inside))
        peak = np.unravel_index(targets["heatmaps"][..., j].argmax(), targets["heatmaps"].shape[:2])
        assert np.abs((np.array(peak[::-1]) + 0.5) * 8 - 0.5 - kp[j, :2]).max() <= 4.0
        shapes.add(tuple(np.round(kp[0, :2])))
    assert checked > 60 and len(shapes) == 8          # every element is a different augmentation


def test_same_seed_same_batches_other_seed_differs(tmp_path):
    samples = read_dataset("coco", generate_dataset(tmp_path / "d", images=4, seed=1))
    a, b = (_elements(samples, 3, tmp_path, seed=7) for _ in range(2))
    c = _elements(samples, 3, tmp_path, seed=8)
    for (ia, ta, ma), (ib, tb, mb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        for key in ta:
            np.testing.assert_array_equal(ta[key], tb[key])
    assert all(np.abs(ia - ic).mean() > 1 for (ia, _, _), (ic, _, _) in zip(a, c))


def test_loss_mask_covers_crowds_in_eval_letterbox(tmp_path):
    samples = read_dataset("coco", generate_dataset(tmp_path / "d", images=3, seed=2, crowd_prob=1.0))
    elements = _elements(samples, 3, tmp_path / "masks", training=False)
    assert [m["index"] for _, _, m in elements] == [0, 1, 2]
    for sample, (image, targets, meta) in zip(samples, elements):
        w, h = sample.image_size
        matrix = letterbox_affine(tf.constant([w, h], tf.float32), INPUT).numpy()
        # Each map cell's centre maps back to a source pixel: the loss mask must equal the ignore mask there.
        keep = ignore_mask(sample)
        cells = (np.stack(np.meshgrid(np.arange(23), np.arange(23)), -1) + 0.5) * 8 - 0.5
        src = (np.linalg.inv(matrix) @ np.c_[cells.reshape(-1, 2), np.ones(23 * 23)].T)[:2].T
        sx, sy = np.round(src[:, 0]).astype(int), np.round(src[:, 1]).astype(int)
        ok = (sx >= 0) & (sy >= 0) & (sx < w) & (sy < h)
        expected = np.ones(23 * 23)
        expected[ok] = keep[sy[ok], sx[ok]]
        got = targets["masks"][..., 0].reshape(-1)
        assert (got == 0).any() and (got == 1).any()
        assert (got == expected).mean() > 0.95
        labelled = sample.keypoints[0][:, 2] > 0
        coco_in_input = (matrix @ np.c_[sample.keypoints[0][:, :2], np.ones(17)].T)[:2].T
        op = meta["keypoints"][0][[OPENPOSE18.index(n) for n in COCO17.keypoints]]
        np.testing.assert_allclose(op[labelled, :2], coco_in_input[labelled], atol=1e-3)   # letterboxed


def _permutation(n, key):
    ds = tf.data.Dataset.range(n).map(lambda i: keyed_permutation(i, n, tf.constant(key, tf.int64)))
    return [int(v) for v in ds.as_numpy_iterator()]


def test_keyed_permutation_is_a_permutation():
    for n in (1, 7, 1000):
        perms = [_permutation(n, key) for key in (0, 12345)]
        assert all(sorted(p) == list(range(n)) for p in perms), n
        if n >= 100:   # keys give different, non-trivial orders
            assert perms[0] != perms[1] and perms[0] != list(range(n))


def test_codec_layout_must_match(figure, tmp_path):
    with pytest.raises(ValueError, match="codec layout openpose18 differs"):
        make_dataset(figure, COCO17, PafCodec(OPENPOSE18), INPUT, 1, mask_dir=tmp_path)


def test_image_without_people_trains_on_background(tmp_path):
    cv2.imwrite(str(tmp_path / "empty.jpg"), np.full((90, 120, 3), 200, np.uint8))
    (tmp_path / "empty.json").write_text(json.dumps(
        {"layout": "coco17", "images": [{"file": "empty.jpg", "people": []}]}))
    samples = read_dataset("own", tmp_path / "empty.json", skip_empty=False)
    (image, targets, meta), = _elements(samples, 1, tmp_path)
    assert (targets["heatmaps"][..., :18] == 0).all() and (targets["heatmaps"][..., 18] == 1).all()
    assert (targets["pafs"] == 0).all() and (meta["keypoints"] == 0).all()
    assert np.abs(image - 200).min() < 2 and image.shape == (184, 184, 3)   # the crop shows the image


def test_start_element_resumes_the_same_stream(figure, tmp_path):
    full = _elements(figure, 5, tmp_path, seed=5)
    resumed = _elements(figure, 2, tmp_path, seed=5, start_element=3)
    for (image, targets, meta), (r_image, r_targets, r_meta) in zip(full[3:], resumed):
        assert meta["index"] == r_meta["index"]
        np.testing.assert_array_equal(image, r_image)
        np.testing.assert_array_equal(targets["pafs"], r_targets["pafs"])


def test_single_person_models_get_targets_for_the_centred_person_only(tmp_path):
    samples = read_dataset("coco", generate_dataset(tmp_path / "d", images=2, seed=3, people=(3, 3), size=(320, 240),
                                                    crowd_prob=0, unlabelled_person_prob=0))
    codec = HeatmapCodec(COCO17, stride=8)
    ds = make_dataset(samples, COCO17, codec, INPUT, 1, seed=1, return_meta=True, mask_dir=tmp_path)
    several = 0
    for _, targets, meta in ds.take(4):
        kp = meta["keypoints"][0].numpy()
        assert (kp[1:] == 0).all() and (kp[0, :, 2] > 0).any()       # one person kept
        heat = targets["heatmaps"][0].numpy()
        person = codec.decode([heat], INPUT)[0]
        # Keypoints at least a cell inside the input (at the border the Gaussian is cut off).
        labelled = (kp[0, :, 2] > 0) & (kp[0, :, :2] >= 8).all(-1) & (kp[0, :, :2] < INPUT[0] - 8).all(-1)
        np.testing.assert_allclose(person.keypoints[labelled, :2], kp[0, labelled, :2], atol=1.0)
        several += 1
    assert several == 4
    # The PAF (multi-person) pipeline keeps everyone in the crop.
    (_, _, meta), = _elements(samples, 1, tmp_path, seed=1)
    assert (meta["keypoints"][:, :, 2] > 0).any(-1).sum() >= 2
