"""PafCodec: synthetic maps rendered from known skeletons decode back to exactly those people; the limb
table matches the real tf-pose model's fields."""
from __future__ import annotations

import numpy as np
import pytest

from pose_core.codecs import build_codec
from pose_core.codecs.paf import PafCodec
from pose_core.errors import ModelError
from pose_core.layouts import OPENPOSE18

INPUT = (432, 368)          # tf-pose's default input: 54 x 46 maps at stride 8
K = OPENPOSE18.num_keypoints

# A standing person facing the camera (right side at smaller x), neck at the origin, height 1.
_TEMPLATE = {
    "nose": (0, -.15), "neck": (0, 0), "right_shoulder": (-.18, 0), "right_elbow": (-.25, .25),
    "right_wrist": (-.28, .48), "left_shoulder": (.18, 0), "left_elbow": (.25, .25), "left_wrist": (.28, .48),
    "right_hip": (-.1, .5), "right_knee": (-.11, .75), "right_ankle": (-.12, 1.0), "left_hip": (.1, .5),
    "left_knee": (.11, .75), "left_ankle": (.12, 1.0), "right_eye": (-.04, -.19), "left_eye": (.04, -.19),
    "right_ear": (-.08, -.17), "left_ear": (.08, -.17)}


def person(neck_x, neck_y, height=200.0, seed=0, **moved):
    """(K, 3) keypoints in input pixels; `moved` overrides joints (name=(x, y) absolute, or None to
    leave the joint unlabelled). Sub-pixel jitter keeps joints off the map grid."""
    rng = np.random.default_rng(seed)
    kps = np.zeros((K, 3), np.float32)
    for name, (x, y) in _TEMPLATE.items():
        kps[OPENPOSE18.index(name)] = (neck_x + x * height, neck_y + y * height, 1)
    kps[:, :2] += rng.uniform(-3, 3, (K, 2))
    for name, xy in moved.items():
        kps[OPENPOSE18.index(name)] = (0, 0, 0) if xy is None else (*xy, 1)
    return kps


@pytest.fixture(scope="module")
def codec():
    return build_codec("paf", OPENPOSE18, stride=8, heatmap_channels=19, paf_offset=19)


def match(decoded, truth):
    """Pair each true person with the decoded one nearest to its neck; return the pairs."""
    neck = OPENPOSE18.index("neck")
    pairs = []
    for t in truth:
        best = min(decoded, key=lambda p: np.hypot(*(p.keypoints[neck, :2] - t[neck, :2])))
        pairs.append((best.keypoints, t))
    return pairs


def assert_recovered(codec, truth, tol=0.1, input_size=INPUT):
    maps = codec.encode(np.stack(truth), input_size)
    people = codec.decode([maps], input_size)
    assert len(people) == len(truth)
    for kps, t in match(people, truth):
        labelled = t[:, 2] > 0
        np.testing.assert_array_equal(kps[:, 2] > 0, labelled)
        err = np.abs(kps[labelled, :2] - t[labelled, :2]).max()
        assert err < tol, f"keypoint error {err:.3f} px"
        assert np.all(kps[~labelled] == 0)
    return people


def test_codec_factory_and_geometry(codec):
    assert isinstance(codec, PafCodec)
    assert (codec.stride, codec.heatmap_channels, codec.paf_offset) == (8, 19, 19)
    assert codec.layout.paf_limbs is OPENPOSE18.paf_limbs
    maps = codec.encode(np.stack([person(200, 100)]), INPUT)
    assert maps.shape == (46, 54, 19 + 38)
    assert codec.encode(np.stack([person(200, 100)]), (433, 369)).shape[:2] == (47, 55)


def test_several_people_recovered_exactly(codec):
    truth = [person(80, 100, seed=1), person(215, 90, 180, seed=2), person(345, 110, 220, seed=3)]
    people = assert_recovered(codec, truth)
    assert all(p.score > 0.9 for p in people)
    assert all(p.layout is OPENPOSE18 for p in people)


def test_single_person_at_other_input_size(codec):
    truth = [person(150, 60, 300, seed=4)]
    assert_recovered(codec, truth, input_size=(300, 380))


def test_crossing_limbs(codec):
    # A's left arm reaches across B's left upper arm and B's right arm (same-channel fields cross).
    a = person(150, 100, seed=5, left_elbow=(300, 160), left_wrist=(340, 215))
    b = person(260, 100, seed=6, left_elbow=(250, 170), left_wrist=(200, 205),
               right_elbow=(170, 150), right_wrist=(120, 190))
    assert_recovered(codec, [a, b])


def test_people_close_together(codec):
    # Shoulders of neighbours 12 px apart, same joints 50 px (6 cells) apart.
    truth = [person(80 + 50 * i, 100, seed=10 + i) for i in range(6)]
    assert_recovered(codec, truth)


def test_missing_parts(codec):
    # Unlabelled leaves stay (0, 0, 0); a missing knee disconnects the ankle, which is then dropped.
    a = person(120, 100, seed=7, left_ear=None, right_ankle=None, right_wrist=None)
    b = person(300, 100, seed=8, left_knee=None)
    maps = codec.encode(np.stack([a, b]), INPUT)
    b_expected = b.copy()
    b_expected[OPENPOSE18.index("left_ankle")] = 0
    people = codec.decode([maps], INPUT)
    assert len(people) == 2
    for kps, t in match(people, [a, b_expected]):
        np.testing.assert_array_equal(kps[:, 2] > 0, t[:, 2] > 0)
        assert np.abs(kps[t[:, 2] > 0, :2] - t[t[:, 2] > 0, :2]).max() < 0.1


def test_min_parts_drops_fragments(codec):
    # A lone forearm (2 parts) is below min_parts=3.
    lone = np.zeros((K, 3), np.float32)
    lone[OPENPOSE18.index("left_elbow")] = (100, 100, 1)
    lone[OPENPOSE18.index("left_wrist")] = (110, 150, 1)
    maps = codec.encode(lone[None], INPUT)
    assert codec.decode([maps], INPUT) == []
    loose = PafCodec(OPENPOSE18, min_parts=2)
    assert len(loose.decode([maps], INPUT)) == 1


def test_empty_and_noise_maps_give_nobody(codec):
    maps = np.zeros((46, 54, 57), np.float32)
    maps[..., 18] = 1.0                         # background everywhere
    assert codec.decode([maps], INPUT) == []
    noise = np.random.default_rng(0).uniform(0, 0.04, maps.shape).astype(np.float32)
    assert codec.decode([noise], INPUT) == []


def test_wrong_map_shape_is_a_clear_error(codec):
    with pytest.raises(ModelError, match="expects"):
        codec.decode([np.zeros((46, 54, 19), np.float32)], INPUT)


def test_upsample_refinement_lands_on_the_upsampled_grid():
    truth = [person(150, 100, seed=9)]
    codec = PafCodec(OPENPOSE18, refine="upsample", upsample=4)
    maps = codec.encode(np.stack(truth), INPUT)
    (p,) = codec.decode([maps], INPUT)
    cells = (p.keypoints[:, :2] + 0.5) / 8 - 0.5
    np.testing.assert_allclose(cells * 4, np.round(cells * 4), atol=1e-4)
    # Within half a grid step (1 px) plus the bicubic interpolation's bias.
    assert np.abs(p.keypoints[:, :2] - truth[0][:, :2]).max() < 1.5


def mirror(kps, width):
    out = kps[OPENPOSE18.flip_permutation].copy()
    out[:, 0] = np.where(out[:, 2] > 0, width - 1 - out[:, 0], 0)
    return out


def test_flip_back_round_trip(codec):
    truth = [person(100, 100, seed=11), person(300, 120, 160, seed=12)]
    maps = codec.encode(np.stack(truth), INPUT)
    mirrored_maps = codec.encode(np.stack([mirror(t, INPUT[0]) for t in truth]), INPUT)
    (restored,) = codec.flip_back([mirrored_maps])
    np.testing.assert_allclose(restored[..., :19], maps[..., :19], atol=1e-5)
    # PAF bands are thresholded distances: allow cells exactly on a band edge to differ.
    assert np.mean(np.abs(restored[..., 19:] - maps[..., 19:]) > 1e-4) < 0.005
    for kps, t in match(codec.decode([restored], INPUT), truth):
        assert np.abs(kps[:, :2] - t[:, :2]).max() < 0.1


def test_flip_back_with_separate_heatmap_and_paf_outputs():
    codec = PafCodec(OPENPOSE18, paf_offset=0)
    full = PafCodec(OPENPOSE18).encode(np.stack([person(200, 100, seed=13)]), INPUT)
    heat, paf = full[..., :19], full[..., 19:]
    flipped = PafCodec(OPENPOSE18).flip_back([full])[0]
    h2, p2 = codec.flip_back([heat, paf])
    np.testing.assert_allclose(h2, flipped[..., :19])
    np.testing.assert_allclose(p2, flipped[..., 19:])
    assert len(codec.decode([heat, paf], INPUT)) == 1


def test_average_resizes_to_the_first(codec):
    maps = codec.encode(np.stack([person(200, 100, seed=14)]), INPUT)
    np.testing.assert_allclose(codec.average([[maps], [maps]])[0], maps, atol=1e-6)
    import cv2
    big = cv2.resize(maps, (108, 92), interpolation=cv2.INTER_LINEAR)
    avg = codec.average([[maps], [big]])[0]
    assert avg.shape == maps.shape
    assert len(codec.decode([avg], INPUT)) == 1


# --------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def tfpose_maps(models_dir, images_dir):
    """The real tf-pose mobilenet_v2_small output on p1.jpg at 432x368 (frozen graph run as is)."""
    from conftest import require
    cv2 = pytest.importorskip("cv2")
    tf = pytest.importorskip("tensorflow")
    graph_path = require(models_dir / "tf-pose/mobilenet_v2_small/graph_opt.pb", "tf-pose model")
    image = cv2.imread(str(require(images_dir / "p1.jpg", "p1.jpg")))
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_path.read_bytes())
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    run = wrapped.prune(wrapped.graph.get_tensor_by_name("image:0"),
                        wrapped.graph.get_tensor_by_name("Openpose/concat_stage7:0"))
    x = cv2.resize(image, INPUT).astype(np.float32)[None]          # raw BGR 0..255
    return run(tf.constant(x)).numpy()[0]


def test_limb_table_matches_the_model_fields(tfpose_maps):
    """Along every limb of the single person in p1.jpg, the table's PAF channels point from part a
    to part b, and no other channel pair does better."""
    maps = tfpose_maps
    h, w, _ = maps.shape
    peaks = np.array([np.unravel_index(maps[..., k].argmax(), (h, w)) for k in range(K)], float)
    pafs = maps[..., 19:]
    t = np.linspace(0, 1, 10)
    face = {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}
    short = []
    for (a, b), (cx, cy) in OPENPOSE18.paf_limbs:
        d = peaks[b] - peaks[a]                                   # (dy, dx)
        n = np.hypot(*d)
        if n < 1.5:
            short.append((OPENPOSE18.keypoints[a], OPENPOSE18.keypoints[b]))
            continue                                              # too short to sample (face at 432)
        ys = np.round(peaks[a, 0] + t * d[0]).astype(int)
        xs = np.round(peaks[a, 1] + t * d[1]).astype(int)
        along = [float((pafs[ys, xs, 2 * j] * d[1] + pafs[ys, xs, 2 * j + 1] * d[0]).mean() / n)
                 for j in range(len(OPENPOSE18.paf_limbs))]
        name = f"{OPENPOSE18.keypoints[a]}->{OPENPOSE18.keypoints[b]}"
        assert along[cx // 2] > 0.3, f"{name}: field along the limb {along[cx // 2]:.2f}"
        assert cy == cx + 1 and int(np.argmax(along)) == cx // 2, name
    # Only face limbs (a few map cells long at this size) may be too short to check (3 of 19 on p1.jpg);
    # every body limb is checked.
    assert len(short) <= 4 and all(set(pair) <= face for pair in short), short


def test_real_model_person_is_anatomical(codec, tfpose_maps):
    people = codec.decode([tfpose_maps], INPUT)
    assert len(people) == 1
    kp = {n: people[0].keypoints[i] for i, n in enumerate(OPENPOSE18.keypoints)}
    assert kp["nose"][1] < kp["neck"][1] < kp["right_hip"][1] < kp["right_knee"][1] < kp["right_ankle"][1]
    assert kp["right_shoulder"][0] < kp["neck"][0] < kp["left_shoulder"][0]     # facing the camera


def test_decoder_speed_rows_recover_every_synthetic_person(tmp_path):
    """The decoder benchmark's synthetic cases decode every rendered person (timings are not asserted)."""
    from pose_core.decoder_speed import measure_decoders
    rows = measure_decoders(repeat=1, images_dir=tmp_path)      # no photos: synthetic rows only
    paf_rows = [r for r in rows if r["case"].startswith("PAF synthetic")]
    assert len(paf_rows) == 4
    for r in paf_rows:
        found, _, total = r["people"].partition(" of ")
        assert found == total, r
        assert r["ms"] > 0


def test_keypoints_exactly_between_cells_give_one_candidate(codec):
    # Cell centres are at 8i + 3.5 px: x = 7.5 + 8i lies exactly between two cells (a plateau).
    truth = person(200, 100, seed=15)
    truth[:, :2] = np.round((truth[:, :2] - 7.5) / 8) * 8 + 7.5
    people = assert_recovered(codec, [truth])
    assert len(people) == 1


def test_training_targets_agree_with_encode(codec):
    """The TF target generators (pose_core.data.targets) read their geometry off the codec and must
    render exactly what encode() renders - training and decoding share one definition of the maps."""
    tf = pytest.importorskip("tensorflow")
    from pose_core.data.targets import TargetGeometry, render_targets
    kps = np.stack([person(100, 100, seed=16), person(300, 120, 160, seed=17, left_ear=None)])
    mine = codec.encode(kps, INPUT)
    targets = render_targets(kps, tf.ones((46, 54, 1)), TargetGeometry.from_codec(codec), INPUT)
    np.testing.assert_allclose(targets["heatmaps"].numpy(), mine[..., :19], atol=1e-6)
    np.testing.assert_allclose(targets["pafs"].numpy(), mine[..., 19:], atol=1e-6)


def test_limb_table_with_non_adjacent_xy_channels():
    """Tables whose y channel does not follow the x channel (each limb's y channel looked up per pair);
    same people."""
    import dataclasses
    swapped = tuple((ab, (cy, cx)) for ab, (cx, cy) in OPENPOSE18.paf_limbs)
    layout = dataclasses.replace(OPENPOSE18, name="openpose18_swapped", paf_limbs=swapped)
    codec = PafCodec(layout)
    assert not codec._xy_adjacent
    truth = [person(100, 100, seed=18), person(300, 110, seed=19)]
    maps = codec.encode(np.stack(truth), INPUT)
    for kps, t in match(codec.decode([maps], INPUT), truth):
        assert np.abs(kps[:, :2] - t[:, :2]).max() < 0.1


def test_fast_paths_equal_their_reference_on_real_maps(codec, tfpose_maps, monkeypatch):
    """The speed paths (flat-index NMS, one-base-index bilinear, one-pass limb scoring) compute what the
    plain definitions compute, on the real model's maps."""
    from scipy.ndimage import maximum_filter

    from pose_core.codecs import paf as paf_module
    from pose_core.codecs.peaks import find_peaks

    heat = np.ascontiguousarray(tfpose_maps[..., :K])
    chans, ys, xs, values = find_peaks(heat, codec.peak_threshold, 3)
    # Definition: a 3x3 local maximum of its own channel above the threshold, strictly above its left
    # and upper neighbours (one candidate per plateau).
    local = maximum_filter(heat, size=(3, 3, 1), mode="constant", cval=-np.inf)
    mask = (heat >= local) & (heat > codec.peak_threshold)
    mask[:, 1:] &= heat[:, 1:] > heat[:, :-1]
    mask[1:] &= heat[1:] > heat[:-1]
    ry, rx, rc = np.nonzero(mask)
    assert len(chans) >= K // 2
    assert sorted(zip(chans.tolist(), ys.tolist(), xs.tolist())) == sorted(zip(rc.tolist(), ry.tolist(), rx.tolist()))
    np.testing.assert_array_equal(values, heat[ys, xs, chans])
    assert all(np.all(np.diff(values[chans == k]) <= 0) for k in range(K))      # best first per channel
    from pose_core.codecs import peaks as peaks_module
    monkeypatch.setattr(peaks_module, "_CANDIDATE_CHUNK", 7)   # candidates in many small gathers: same peaks
    for got, want in zip(find_peaks(heat, codec.peak_threshold, 3), (chans, ys, xs, values)):
        np.testing.assert_array_equal(got, want)

    # Limb fields sampled in place: scipy's linear interpolation (edge values beyond the border) of the
    # x and y channels is the reference.
    from scipy.ndimage import map_coordinates

    maps = np.ascontiguousarray(tfpose_maps)
    h, w, _ = maps.shape
    rng = np.random.default_rng(0)
    sx = rng.uniform(-1, w, (200, 10)).astype(np.float32)         # includes points beyond every border
    sy = rng.uniform(-1, h, (200, 10)).astype(np.float32)
    limbs = rng.integers(0, len(OPENPOSE18.paf_limbs), 200)
    chan_x = (codec.paf_offset + codec._paf_x[limbs])[:, None]
    fx, fy = paf_module._bilinear_xy(maps, sx, sy, chan_x, 1)
    for got, chans in ((fx, chan_x), (fy, chan_x + 1)):
        want = [map_coordinates(maps[..., ch], [y, x], order=1, mode="nearest")
                for ch, x, y in zip(chans[:, 0], sx, sy)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)

    one_pass = codec.decode([tfpose_maps], INPUT)
    monkeypatch.setattr(paf_module, "_SCREEN_FROM_PAIRS", 0)     # every pair through the 3-sample pre-screen
    monkeypatch.setattr(paf_module, "_MASK_PER_PAIR", 0)         # pairs enumerated, not masked
    screened = codec.decode([tfpose_maps], INPUT)
    assert len(one_pass) == len(screened) == 1
    np.testing.assert_array_equal(one_pass[0].keypoints, screened[0].keypoints)


def test_a_channel_full_of_noise_peaks_still_decodes_the_people(codec, monkeypatch):
    """Thousands of candidates in one channel take the enumerating pair path (a (limbs, m, m) mask would
    be huge); both paths give the same people."""
    from pose_core.codecs import paf as paf_module
    from pose_core.codecs.peaks import find_peaks

    truth = [person(120, 100, seed=20), person(320, 110, seed=21)]
    size = (656, 656)                                            # 82x82 maps: ~1000 noise peaks
    maps = codec.encode(np.stack([t * [1.5, 1.5, 1] for t in truth]), size)
    nose = OPENPOSE18.index("nose")
    maps[..., nose] += np.random.default_rng(0).uniform(0, 0.3, maps.shape[:2]).astype(np.float32)
    chans = find_peaks(maps, codec.peak_threshold, 3, channels=K)[0]
    assert np.count_nonzero(chans == nose) > 500
    people = codec.decode([maps], size)
    monkeypatch.setattr(paf_module, "_MASK_PER_PAIR", 10 ** 9)   # force the mask
    masked = codec.decode([maps], size)
    assert len(people) == len(masked) >= 2
    for p, q in zip(people, masked):
        np.testing.assert_array_equal(p.keypoints, q.keypoints)
    neck = OPENPOSE18.index("neck")
    for t in truth:
        assert min(np.hypot(*(p.keypoints[neck, :2] - 1.5 * t[neck, :2])) for p in people) < 1.0
