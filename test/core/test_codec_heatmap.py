"""HeatmapCodec: sub-pixel recovery of synthetic Gaussian peaks and location-refinement offsets,
thresholds, flip_back; and the real pose-mobile models' channel order and input format."""
from __future__ import annotations

import numpy as np
import pytest

from pose_core.codecs import build_codec
from pose_core.codecs.heatmap import HeatmapCodec
from pose_core.errors import ModelError
from pose_core.layouts import AIC14

K = AIC14.num_keypoints
INPUT = (192, 192)


def random_keypoints(seed, margin=12):
    rng = np.random.default_rng(seed)
    kps = np.ones((K, 3), np.float32)
    kps[:, :2] = rng.uniform(margin, INPUT[0] - margin, (K, 2))
    return kps


@pytest.mark.parametrize("stride", [2, 4])
def test_gaussian_peaks_recovered_within_a_tenth_of_a_cell(stride):
    codec = build_codec("heatmap", AIC14, stride=stride, sigma=1.5 * stride)
    for seed in range(5):
        truth = random_keypoints(seed)
        heat, _ = codec.encode(truth, INPUT)
        (p,) = codec.decode([heat], INPUT)
        err_cells = np.abs(p.keypoints[:, :2] - truth[:, :2]).max() / stride
        assert err_cells < 0.1, f"error {err_cells:.3f} cells"
        assert p.score > 0.99                      # the fitted peak height, not the cell's value


def test_quadratic_beats_cell_centres():
    truth = random_keypoints(7)
    heat, _ = HeatmapCodec(AIC14, stride=4, sigma=6).encode(truth, INPUT)
    errs = {}
    for refine in ("quadratic", "none"):
        (p,) = HeatmapCodec(AIC14, stride=4, refine=refine).decode([heat], INPUT)
        errs[refine] = np.abs(p.keypoints[:, :2] - truth[:, :2]).mean()
    assert errs["quadratic"] < 0.05 < errs["none"]


def test_stride_derived_from_input_size():
    truth = random_keypoints(8)
    heat, _ = HeatmapCodec(AIC14, stride=4, sigma=6).encode(truth, INPUT)
    (p,) = HeatmapCodec(AIC14, stride=None).decode([heat], INPUT)
    assert np.abs(p.keypoints[:, :2] - truth[:, :2]).max() < 0.4


def test_offsets_refinement():
    codec = HeatmapCodec(AIC14, stride=8, refine="offsets", sigma=8)
    truth = random_keypoints(9)
    heat, offsets = codec.encode(truth, INPUT)
    (p,) = codec.decode([heat, offsets], INPUT)
    np.testing.assert_allclose(p.keypoints[:, :2], truth[:, :2], atol=1e-3)
    # Without the offsets the same maps only give cell centres, up to half a stride away.
    (coarse,) = HeatmapCodec(AIC14, stride=8, refine="none").decode([heat], INPUT)
    assert np.abs(coarse.keypoints[:, :2] - truth[:, :2]).max() > 0.5


def test_offsets_mode_needs_the_second_output():
    heat = np.zeros((24, 24, K), np.float32)
    with pytest.raises(ModelError, match="location-refinement"):
        HeatmapCodec(AIC14, stride=8, refine="offsets").decode([heat], INPUT)
    with pytest.raises(ValueError, match="refine"):
        HeatmapCodec(AIC14, refine="dark")


def test_threshold_marks_undetected_keypoints():
    codec = HeatmapCodec(AIC14, stride=4, threshold=0.3, sigma=6)
    truth = random_keypoints(10)
    heat, _ = codec.encode(truth, INPUT)
    heat[..., 3] *= 0.2                            # a weak keypoint
    heat[..., 12] = 0.0                            # an absent one
    (p,) = codec.decode([heat], INPUT)
    assert np.all(p.keypoints[[3, 12]] == 0)
    visible = np.ones(K, bool)
    visible[[3, 12]] = False
    np.testing.assert_array_equal(p.visible, visible)
    assert p.score == pytest.approx(p.keypoints[visible, 2].mean())
    assert codec.decode([np.zeros_like(heat)], INPUT) == []


def test_flip_back_round_trip():
    codec = HeatmapCodec(AIC14, stride=4, sigma=6)
    truth = random_keypoints(11)
    mirrored = truth[AIC14.flip_permutation].copy()
    mirrored[:, 0] = INPUT[0] - 1 - mirrored[:, 0]
    heat, offsets = codec.encode(truth, INPUT)
    back = codec.flip_back(codec.encode(mirrored, INPUT))
    np.testing.assert_allclose(back[0], heat, atol=1e-5)
    np.testing.assert_allclose(back[1], offsets, atol=1e-5)
    avg = codec.average([[heat], back[:1]])
    (p,) = codec.decode(avg, INPUT)
    assert np.abs(p.keypoints[:, :2] - truth[:, :2]).max() < 0.4


# --------------------------------------------------------------------------- the real models
# Facts established from the graphs and outputs (docs/decoders.md): raw 0..255 BGR input; channels in
# the order below - NOT the AI Challenger dataset's order.
OBSERVED_ORDER = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                  "left_knee", "left_ankle")


@pytest.mark.parametrize("model,stride", [("cpm", 2), ("hourglass", 4)])
def test_pose_mobile_channels_are_anatomical(models_dir, images_dir, model, stride):
    from conftest import require
    cv2 = pytest.importorskip("cv2")
    from ai_edge_litert.interpreter import Interpreter
    path = require(models_dir / f"pose-mobile/{model}/model.tflite", f"pose-mobile/{model}")
    image = cv2.imread(str(require(images_dir / "p1.jpg", "p1.jpg")))     # one man facing the camera
    h, w = image.shape[:2]
    r = 192 / max(h, w)
    x = np.zeros((192, 192, 3), np.uint8)
    small = cv2.resize(image, (round(w * r), round(h * r)))
    x[:small.shape[0], :small.shape[1]] = small                          # letterbox, BGR 0..255
    interp = Interpreter(str(path), num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x[None].astype(np.float32))
    interp.invoke()
    maps = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
    assert maps.shape == (192 // stride, 192 // stride, 14)
    (p,) = HeatmapCodec(AIC14, stride=stride, threshold=0.0).decode([maps], INPUT)
    kp = dict(zip(OBSERVED_ORDER, p.keypoints))
    for upper, lower in [("head_top", "neck"), ("neck", "right_hip"), ("right_hip", "right_knee"),
                         ("right_knee", "right_ankle"), ("left_hip", "left_knee"),
                         ("left_knee", "left_ankle")]:
        assert kp[upper][1] < kp[lower][1], f"{upper} not above {lower}"
    assert kp["right_shoulder"][0] < kp["neck"][0] < kp["left_shoulder"][0]
    assert kp["right_wrist"][0] < kp["right_shoulder"][0]      # his right arm stretched out (image left)


def test_training_targets_agree_with_encode():
    """pose_core.data.targets renders the same heatmaps and location-refinement offsets as encode()."""
    tf = pytest.importorskip("tensorflow")
    from pose_core.data.targets import TargetGeometry, render_targets
    codec = HeatmapCodec(AIC14, stride=8, sigma=8, refine="offsets")
    truth = random_keypoints(12)
    heat, offsets = codec.encode(truth, INPUT)
    targets = render_targets(truth[None], tf.ones((24, 24, 1)), TargetGeometry.from_codec(codec), INPUT)
    np.testing.assert_allclose(targets["heatmaps"].numpy(), heat, atol=1e-6)
    np.testing.assert_allclose(targets["locref"].numpy(), offsets, atol=1e-6)
