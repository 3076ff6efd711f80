"""TF target rendering agrees with the codecs: same maps as their numpy encode(), and decode() of the
rendered targets gives back the skeletons they were rendered from."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pose_core.codecs.heatmap import HeatmapCodec
from pose_core.codecs.paf import PafCodec
from pose_core.data.sample import convert_keypoints
from pose_core.data.synthetic import figure_keypoints
from pose_core.data.targets import TargetGeometry, render_targets
from pose_core.layouts import COCO17, OPENPOSE18

INPUT = (368, 320)   # (w, h); a non-square input catches x/y mix-ups


def _people(n, seed=0, occlude=False):
    rng = np.random.default_rng(seed)
    kps = []
    for i in range(n):
        kp = np.c_[figure_keypoints(rng, 220, (90 + 95 * i, 190)), np.full(17, 2.0)]
        if occlude:   # unlabelled leaves (ears, wrists, ankles): the limb tree stays connected
            kp[rng.choice([3, 4, 9, 10, 15, 16], 2, replace=False)] = 0
        kps.append(kp)
    return np.asarray(kps, np.float32)


def _render(codec, keypoints):
    geo = TargetGeometry.from_codec(codec)
    w, h = geo.map_size(INPUT)
    return {k: v.numpy() for k, v in render_targets(keypoints, tf.ones((h, w, 1)), geo, INPUT).items()}


def test_paf_targets_equal_codec_encode_and_decode_back():
    codec = PafCodec(OPENPOSE18, stride=8, sigma=7.0, paf_width=1.0)
    # Three overlapping people (figures 95 px apart, ~220 px tall) with a few unlabelled keypoints.
    kp = convert_keypoints(_people(3, occlude=True), COCO17, OPENPOSE18)
    t = _render(codec, kp)
    assert t["heatmaps"].shape == (40, 46, 19) and t["pafs"].shape == (40, 46, 38)
    assert t["masks"].shape == (40, 46, 1)
    ref = codec.encode(kp, INPUT)
    np.testing.assert_allclose(t["heatmaps"], ref[..., :19], atol=1e-5)
    np.testing.assert_allclose(t["pafs"], ref[..., 19:], atol=1e-5)
    assert np.hypot(t["pafs"][..., 0::2], t["pafs"][..., 1::2]).max() <= 1 + 1e-5

    people = codec.decode([np.concatenate([t["heatmaps"], t["pafs"]], -1)], INPUT)
    assert len(people) == 3
    for truth in kp:
        errors = [np.abs(p.keypoints[:, :2] - truth[:, :2])[truth[:, 2] > 0].max() for p in people]
        best = people[int(np.argmin(errors))]
        assert min(errors) < 0.5
        np.testing.assert_array_equal(best.keypoints[:, 2] > 0, truth[:, 2] > 0)


def test_crossing_limbs_of_two_people_average():
    codec = PafCodec(OPENPOSE18)
    kp = np.zeros((2, 18, 3), np.float32)
    e, w = OPENPOSE18.index("left_elbow"), OPENPOSE18.index("left_wrist")
    kp[0, e], kp[0, w] = (99.5, 99.5, 2), (199.5, 99.5, 2)      # horizontal forearm
    kp[1, e], kp[1, w] = (147.5, 51.5, 2), (147.5, 151.5, 2)    # vertical forearm crossing it
    t = _render(codec, kp)
    (_, (cx, cy)), = [limb for limb in OPENPOSE18.paf_limbs if limb[0] == (e, w)]
    # Cell 18 is centred on pixel 147.5 (x) and cell 12 on 99.5 (y): both limbs pass through it.
    np.testing.assert_allclose([t["pafs"][12, 18, cx], t["pafs"][12, 18, cy]], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose([t["pafs"][12, 22, cx], t["pafs"][12, 22, cy]], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose([t["pafs"][16, 18, cx], t["pafs"][16, 18, cy]], [0.0, 1.0], atol=1e-6)
    assert np.abs(t["pafs"][30:, :, :]).max() == 0


def test_paf_geometry_comes_from_the_codec():
    kp = convert_keypoints(_people(1), COCO17, OPENPOSE18)
    thin, wide = (_render(PafCodec(OPENPOSE18, sigma=s, paf_width=w), kp) for s, w in ((4.0, 0.5), (10.0, 2.0)))
    assert (np.abs(wide["pafs"]) > 0).sum() > 2 * (np.abs(thin["pafs"]) > 0).sum()
    assert wide["heatmaps"][..., :18].sum() > 3 * thin["heatmaps"][..., :18].sum()
    np.testing.assert_allclose(thin["heatmaps"][..., 18], 1 - thin["heatmaps"][..., :18].max(-1))
    coarse = TargetGeometry.from_codec(PafCodec(OPENPOSE18, stride=16))
    assert coarse.map_size(INPUT) == (23, 20)
    with pytest.raises(ValueError, match="multiple of the stride"):
        coarse.map_size((300, 300))


def test_heatmap_locref_targets_equal_encode_and_decode_back():
    codec = HeatmapCodec(COCO17, stride=8, refine="offsets")
    kp = _people(1)
    t = _render(codec, kp)
    heat, offsets = codec.encode(kp, INPUT)
    np.testing.assert_allclose(t["heatmaps"], heat, atol=1e-5)
    np.testing.assert_allclose(t["locref"], offsets, atol=1e-5)
    assert set(np.unique(t["locref_mask"])) == {0.0, 1.0}
    assert ((t["locref_mask"] > 0) == (np.abs(t["locref"]) > 0) | (t["locref_mask"] > 0)).all()
    person = codec.decode([t["heatmaps"], t["locref"]], INPUT)[0]
    np.testing.assert_allclose(person.keypoints[:, :2], kp[0, :, :2], atol=0.05)
    # Without offsets in the codec there are no locref targets.
    assert "locref" not in _render(HeatmapCodec(COCO17, stride=8), kp)


def test_image_without_people_gives_empty_targets():
    nobody = np.zeros((0, 17, 3), np.float32)
    t = _render(HeatmapCodec(COCO17, stride=8, refine="offsets"), nobody)
    assert t["heatmaps"].max() == 0 and t["locref_mask"].max() == 0 and np.isfinite(t["locref"]).all()
    t = _render(PafCodec(OPENPOSE18), np.zeros((0, 18, 3), np.float32))
    assert (t["heatmaps"][..., :18] == 0).all() and (t["heatmaps"][..., 18] == 1).all() and (t["pafs"] == 0).all()
