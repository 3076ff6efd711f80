"""MoveNet end to end on the shared photos: zoo entries, codecs, estimator, crop-and-track on a stream."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_core import zoo
from pose_core.codecs import build_codec
from pose_core.crop_tracking import MoveNetCropTracker, crop_input, cut_square_crop, uncrop_people
from pose_core.estimator import PoseEstimator
from pose_core.layouts import COCO17
from pose_core.people import Person

from conftest import PERSON_PHOTOS, benchmark_module, require

MOVENETS = ("movenet/multipose-lightning", "movenet/lightning", "movenet/thunder")
# Hand-judged (x0, y0, x1, y1) around the one whole, upright person in these photos (generous margins).
PERSON_REGION = {"p1.jpg": (40, 5, 178, 218), "apink1.jpg": (110, 30, 370, 730), "golf.jpg": (200, 200, 620, 960)}
K = {name: COCO17.index(name) for name in COCO17.keypoints}


@pytest.fixture(scope="module")
def estimators(models_dir):
    require(models_dir / "movenet", "MoveNet TF.js models")
    return {name: PoseEstimator.from_zoo(name, models_dir=models_dir) for name in MOVENETS}


def _read(images_dir, name):
    return cv2.imread(str(require(images_dir / name, f"photo {name}")))


# ------------------------------------------------------------------------------------------------- zoo
@pytest.mark.parametrize("name", MOVENETS)
def test_zoo_entries_resolve_and_verify_every_file(models_dir, name):
    spec = zoo.get_spec(name)
    assert spec.layout == "coco17" and spec.default_runtime == "tfjs"
    kind, path = zoo.resolve(spec, models_dir=models_dir, verify=True)   # sha256 of .json AND .bin
    assert kind == "tfjs" and path.suffix == ".json"
    assert [f.path.endswith(".bin") for f in spec.files["tfjs"].extra] == [True]


# ------------------------------------------------------------------------------------------ codecs (unit)
def test_multipose_codec_converts_sorts_and_thresholds():
    codec = build_codec("movenet_multipose", COCO17, score_threshold=0.2, keypoint_threshold=0.2)
    rows = np.zeros((6, 56), np.float32)
    rows[:, 55] = [0.1, 0.9, 0.5, 0.0, 0.19, 0.3]
    rows[1, :51] = np.tile([0.25, 0.5, 0.8], 17)                  # y=0.25, x=0.5, score 0.8
    rows[1, 3 * 4 + 2] = 0.1                                      # one weak keypoint
    rows[1, 51:55] = [0.1, 0.2, 0.9, 0.6]                         # ymin, xmin, ymax, xmax
    people = codec.decode([rows], (320, 160))
    assert [round(p.score, 2) for p in people] == [0.9, 0.5, 0.3]
    best = people[0]
    np.testing.assert_allclose(best.keypoints[0], [159.5, 39.5, 0.8], rtol=1e-6)   # pixel centres at integers
    assert best.keypoints[4].tolist() == [0, 0, 0]                # below keypoint_threshold: undetected
    np.testing.assert_allclose(best.box, (63.5, 15.5, 191.5, 143.5), rtol=1e-6)


def test_singlepose_codec_person_score_and_flip_back():
    codec = build_codec("movenet_singlepose", COCO17, score_threshold=0.3)
    out = np.zeros((1, 17, 3), np.float32)
    out[0, :, 2] = 0.25
    assert codec.decode([out], (192, 192)) == []                   # mean score 0.25 < 0.3
    out[0, :, :] = [0.5, 0.1, 0.6]
    out[0, K["left_eye"]] = [0.2, 0.3, 0.9]
    (p,) = codec.decode([out], (192, 192))
    np.testing.assert_allclose(p.keypoints[K["left_eye"]], [0.3 * 192 - 0.5, 0.2 * 192 - 0.5, 0.9], rtol=1e-6)
    flipped = codec.flip_back([out])[0]
    np.testing.assert_allclose(flipped[0, K["right_eye"]], [0.2, 0.7, 0.9], rtol=1e-6)
    np.testing.assert_allclose(flipped[0, K["nose"]], [0.5, 0.9, 0.6], rtol=1e-6)


# ------------------------------------------------------------------------------------------ real photos
@pytest.mark.parametrize("photo", PERSON_PHOTOS)
def test_multipose_finds_people_inside_the_image(estimators, images_dir, photo):
    image = _read(images_dir, photo)
    h, w = image.shape[:2]
    people = estimators["movenet/multipose-lightning"](image)
    assert len(people) >= {"p2.jpg": 2, "p3.jpg": 3}.get(photo, 1)
    for p in people:
        x0, y0, x1, y1 = p.box
        assert -0.02 * w <= x0 < x1 <= 1.02 * w and -0.02 * h <= y0 < y1 <= 1.02 * h
        assert p.visible.sum() >= 5


def test_multipose_finds_nobody_on_the_cat(estimators, images_dir):
    est = estimators["movenet/multipose-lightning"]
    assert est(_read(images_dir, "cat.jpg")) == []
    tensor, _ = est.preprocessor(_read(images_dir, "cat.jpg"))
    assert est.runtime(tensor[None])[0][0, :, 55].max() < est.min_person_score


@pytest.mark.parametrize("model", MOVENETS)
@pytest.mark.parametrize("photo", sorted(PERSON_REGION))
def test_keypoints_in_person_region_in_anatomical_order(estimators, images_dir, model, photo):
    people = estimators[model](_read(images_dir, photo))
    assert people, f"{model} found nobody on {photo}"
    p = people[0]
    x0, y0, x1, y1 = PERSON_REGION[photo]
    kps = p.keypoints[p.visible]
    assert len(kps) >= 12
    assert ((kps[:, 0] >= x0) & (kps[:, 0] <= x1) & (kps[:, 1] >= y0) & (kps[:, 1] <= y1)).all()

    def y(*names):
        pts = [p.keypoints[K[n]] for n in names if p.keypoints[K[n], 2] > 0]
        assert pts, f"none of {names} seen"
        return float(np.mean([q[1] for q in pts]))

    nose, shoulders = y("nose"), y("left_shoulder", "right_shoulder")
    hips, knees, ankles = y("left_hip", "right_hip"), y("left_knee", "right_knee"), y("left_ankle", "right_ankle")
    assert nose < shoulders < hips < knees < ankles


def test_singlepose_sees_nobody_on_the_cat(estimators, images_dir):
    for name in ("movenet/lightning", "movenet/thunder"):
        assert estimators[name](_read(images_dir, "cat.jpg")) == [], name


# ------------------------------------------------------------------------------------------ crop and track
def _shifted_frames(photo: np.ndarray, n: int, step: int):
    """A 'video': the photo sliding right across a wider grey canvas, `step` pixels per frame."""
    h, w = photo.shape[:2]
    canvas_w = w + step * (n - 1) + w // 2
    for i in range(n):
        frame = np.full((h, canvas_w, 3), 90, np.uint8)
        frame[:, i * step:i * step + w] = photo
        yield i * step, frame


def test_crop_tracker_follows_a_person_across_a_shifted_sequence(estimators, images_dir):
    est = estimators["movenet/lightning"]
    photo = _read(images_dir, "apink1.jpg")
    ref = estimators["movenet/thunder"](photo)[0]               # where the person is in the photo
    ref_hips = ref.keypoints[[K["left_hip"], K["right_hip"]], :2].mean(0)
    size = est.runtime.fixed_input_size[0]
    tracker = MoveNetCropTracker()
    crop_sides = []
    for shift, frame in _shifted_frames(photo, n=8, step=60):
        box = tracker.crop_for(frame.shape)
        tensor, transform = crop_input(est.preprocessor, frame, box)    # the estimator's hook
        people = est.codec.decode([o[0] for o in est.runtime(tensor[None])], (size, size))
        assert people, f"lost the person at shift {shift}"
        people[0].keypoints[:, :2] = transform.to_image(people[0].keypoints[:, :2])
        hips = people[0].keypoints[[K["left_hip"], K["right_hip"]], :2].mean(0)
        # The hips move with the photo (tolerance: 5% of the person's height).
        np.testing.assert_allclose(hips, ref_hips + (shift, 0), atol=0.05 * photo.shape[0])
        tracker.update(people[0])
        crop_sides.append(box[2] - box[0])
    assert tracker.tracking
    # After the first (full-frame) step the crops are real crops, much smaller than the frame.
    assert crop_sides[0] == max(frame.shape[:2]) and max(crop_sides[1:]) < 0.95 * crop_sides[0]


def test_crop_tracker_falls_back_to_the_full_frame():
    tracker = MoveNetCropTracker()
    assert tracker.crop_for((480, 640, 3)) == (0, -80, 640, 560)     # square, padded top and bottom
    kps = np.zeros((17, 3), np.float32)
    for name, xy in {"left_shoulder": (330, 200), "right_shoulder": (290, 200),
                     "left_hip": (325, 280), "right_hip": (295, 280)}.items():
        kps[K[name]] = (*xy, 0.9)
    tracker.update(Person(kps, 0.9, COCO17))
    x0, y0, x1, y1 = tracker.crop_for((480, 640, 3))
    assert x1 - x0 == y1 - y0 and x0 < 290 and x1 > 330 and y0 < 200 < 280 < y1
    assert (x0 + x1) / 2 == pytest.approx(310, abs=1) and (y0 + y1) / 2 == pytest.approx(280, abs=1)
    kps[[K["left_hip"], K["right_hip"]], 2] = 0.05                   # torso no longer trustworthy
    tracker.update(Person(kps, 0.5, COCO17))
    assert not tracker.tracking and tracker.crop_for((480, 640, 3)) == (0, -80, 640, 560)
    tracker.update(None)
    assert tracker.crop_for((100, 50)) == (-25, 0, 75, 100)


def test_cut_square_crop_maps_back_exactly():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40, 150] = 255                                             # one bright pixel at x=150, y=40
    crop, transform = cut_square_crop(image, (130, 20, 170, 60), 80)   # 2x zoom
    yy, xx = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    kps = np.zeros((17, 3), np.float32)
    kps[0] = (xx, yy, 1.0)
    (p,) = uncrop_people([Person(kps, 1.0, COCO17, box=(0, 0, 79, 79))], transform)
    np.testing.assert_allclose(p.keypoints[0, :2], (150, 40), atol=0.5)   # half a crop pixel = 1/4 frame px
    assert p.keypoints[1].tolist() == [0, 0, 0]                           # undetected stays undetected
    np.testing.assert_allclose(p.box, (129.75, 19.75, 169.25, 59.25), atol=1e-4)   # crop's edge pixels


def test_crop_input_matches_the_preprocessor_and_the_crop(estimators, images_dir):
    est = estimators["movenet/lightning"]
    frame = _read(images_dir, "golf.jpg")
    box = (250, 300, 650, 700)
    tensor, transform = crop_input(est.preprocessor, frame, box)
    crop, _ = cut_square_crop(frame, box, 192)
    assert tensor.shape == (192, 192, 3) and tensor.dtype == est.runtime.input_dtype
    np.testing.assert_array_equal(tensor, cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))   # RGB like the model wants
    # The crop's outer edges (pixel-centre coordinates -0.5 and 191.5) are the box's edges.
    edges = np.array([[-0.5, -0.5], [191.5, 191.5]], np.float32)
    np.testing.assert_allclose(transform.to_image(edges), [[249.5, 299.5], [649.5, 699.5]], atol=1e-4)


# ------------------------------------------------------------------------------------------ comparison script
def test_zoo_runtimes_rows_for_lightning(models_dir, images_dir, tmp_path):
    """The comparison script runs end to end: TF function, converted TFLite fp32 (equal to ~1e-6) and
    int8, with people counts and the plausibility check filled in."""
    zoo_runtimes = benchmark_module("zoo_runtimes")

    table = zoo_runtimes.run(["movenet/lightning"], images_dir, models_dir, tmp_path, repeat=1, threads=1)
    rows = [r.split("|")[1:-1] for r in table.splitlines()[2:]]
    assert [r[1].strip() for r in rows] == ["TF function (tfjs)", "TFLite fp32", "TFLite int8 (dynamic range)"]
    assert all(r[7].strip() == "3/3" for r in rows[:2])
    assert float(rows[1][8].split()[0]) < 1e-4
    assert rows[0][5].split()[-1] == "0"                              # nobody on the cat
